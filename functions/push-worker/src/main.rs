use lambda_runtime::Error;
use notify_push_worker::{PushWorkerConfig, worker};
use notify_shared::delivery;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Its clients, and the service-account key, read from Secrets Manager and parsed.
    delivery::start(PushWorkerConfig::from_env, async |sdk, config| {
        worker(sdk, config).await
    })
    .await
}
