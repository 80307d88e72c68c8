use lambda_runtime::Error;
use notify_shared::{aws, config::Env, delivery, telemetry};
use notify_webhook_worker::{WebhookWorkerConfig, worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = WebhookWorkerConfig::from_env(&Env::from_process())?;
    delivery::serve(worker(&aws::load().await, config)?).await
}
