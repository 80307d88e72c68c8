use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_events::{EventsConfig, Receipts};
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
    let config = EventsConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let receipts = std::sync::Arc::new(Receipts::on_aws(&sdk, config));
    init.step("clients");
    init.done();
    // Every change a receipt makes is conditional: batches may run at once.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let receipts = receipts.clone();
        async move { Ok::<_, Error>(receipts.handle(event.payload).await) }
    }))
    .await
}
