use lambda_runtime::Error;
use notify_email_worker::{EmailWorkerConfig, worker};
use notify_shared::{aws, config::Env, delivery, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = EmailWorkerConfig::from_env(&Env::from_process())?;
    delivery::serve(worker(&aws::load().await, config)).await
}
