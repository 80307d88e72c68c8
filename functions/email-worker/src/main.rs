use lambda_runtime::Error;
use notify_email_worker::{EmailWorkerConfig, worker};
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
    let config = EmailWorkerConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let worker = worker(&sdk, config);
    init.step("clients");
    init.done();
    delivery::serve(worker).await
}
