use lambda_runtime::Error;
use notify_shared::delivery;
use notify_webhook_worker::{WebhookWorkerConfig, worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    delivery::start(WebhookWorkerConfig::from_env, async |sdk, config| {
        worker(sdk, config)
    })
    .await
}
