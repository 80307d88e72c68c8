use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_realtime::{Realtime, RealtimeConfig};
use notify_shared::aws;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let realtime = aws::init_function(RealtimeConfig::from_env, async |sdk, config| {
        Ok::<_, Error>(std::sync::Arc::new(Realtime::on_aws(sdk, config)))
    })
    .await?;
    // Each event is one connection's: they may run at once.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Value>| {
        let realtime = realtime.clone();
        async move { Ok::<_, Error>(realtime.handle(&event.payload).await) }
    }))
    .await
}
