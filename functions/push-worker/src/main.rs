use lambda_runtime::Error;
use notify_push_worker::{PushWorkerConfig, worker};
use notify_shared::{
    aws,
    config::Env,
    delivery,
    telemetry::{self, InitSteps},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut init = InitSteps::start();
    telemetry::init();
    init.step("tracing");
    let config = PushWorkerConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    // The service-account key from Secrets Manager, parsed, and the clients.
    let worker = worker(&sdk, config).await?;
    init.step("key and clients");
    init.done();
    delivery::serve(worker).await
}
