use lambda_runtime::Error;
use notify_shared::{aws, config::Env, delivery, telemetry};
use notify_sms_worker::{SmsWorkerConfig, worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = SmsWorkerConfig::from_env(&Env::from_process())?;
    delivery::serve(worker(&aws::load().await, config)).await
}
