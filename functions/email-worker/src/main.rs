use lambda_runtime::Error;
use notify_email_worker::{EmailWorkerConfig, worker};
use notify_shared::delivery;

#[tokio::main]
async fn main() -> Result<(), Error> {
    delivery::start(EmailWorkerConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(worker(sdk, config))
    })
    .await
}
