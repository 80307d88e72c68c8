use lambda_runtime::Error;
use notify_shared::delivery;
use notify_sms_worker::{SmsWorkerConfig, worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    delivery::start(SmsWorkerConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(worker(sdk, config))
    })
    .await
}
