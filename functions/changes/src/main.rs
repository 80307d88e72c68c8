use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_changes::{Changes, ChangesConfig};
use notify_shared::{
    aws,
    config::Env,
    telemetry::{self, InitSteps},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut init = InitSteps::start();
    telemetry::init();
    init.step("tracing");
    let config = ChangesConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let changes = std::sync::Arc::new(Changes::on_aws(&sdk, config));
    init.step("clients");
    init.done();
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
