use lambda_runtime::Error;
use notify_shared::{
    aws,
    config::Env,
    delivery,
    telemetry::{self, InitSteps},
};
use notify_sms_worker::{SmsWorkerConfig, worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut init = InitSteps::start();
    telemetry::init();
    init.step("tracing");
    let config = SmsWorkerConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let worker = worker(&sdk, config);
    init.step("clients");
    init.done();
    delivery::serve(worker).await
}
