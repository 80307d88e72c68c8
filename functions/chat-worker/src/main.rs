use lambda_runtime::Error;
use notify_chat_worker::{ChatWorkerConfig, worker};
use notify_shared::delivery;

#[tokio::main]
async fn main() -> Result<(), Error> {
    delivery::start(ChatWorkerConfig::from_env, async |sdk, config| {
        worker(sdk, config)
    })
    .await
}
