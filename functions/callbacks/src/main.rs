use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_callbacks::{Callbacks, CallbacksConfig};
use notify_shared::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let callbacks = aws::init_function(CallbacksConfig::from_env, async |sdk, config| {
        Callbacks::on_aws(sdk, config).map(std::sync::Arc::new)
    })
    .await?;
    // Each message is one POST and at most one write of its own: batches may run at once.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let callbacks = callbacks.clone();
        async move { Ok::<_, Error>(callbacks.handle(event.payload).await) }
    }))
    .await
}
