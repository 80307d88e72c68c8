use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_changes::{Changes, ChangesConfig};
use notify_shared::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let changes = aws::init_function(ChangesConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(std::sync::Arc::new(Changes::on_aws(sdk, config)))
    })
    .await?;
    // One batch per stream shard at a time is what Lambda hands; nothing here needs more.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let changes = changes.clone();
        async move {
            changes.handle(&event.payload).await?;
            Ok::<_, Error>(())
        }
    }))
    .await
}
