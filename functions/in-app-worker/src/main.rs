use lambda_runtime::Error;
use notify_in_app_worker::{InAppWorkerConfig, worker};
use notify_shared::delivery;

#[tokio::main]
async fn main() -> Result<(), Error> {
    delivery::start(InAppWorkerConfig::from_env, async |sdk, config| {
        worker(sdk, config)
    })
    .await
}
