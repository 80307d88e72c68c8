use lambda_runtime::Error;
use notify_push_worker::{PushWorkerConfig, worker};
use notify_shared::{aws, config::Env, delivery, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = PushWorkerConfig::from_env(&Env::from_process())?;
    delivery::serve(worker(&aws::load().await, config).await?).await
}
