use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_cleanup::{Cleanup, CleanupConfig, Input, stop_by};
use notify_shared::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cleanup = aws::init_function(CleanupConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(std::sync::Arc::new(Cleanup::from_aws(sdk, config)))
    })
    .await?;
    // Sweeps and purges are safe to run at once (every change is conditional).
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let cleanup = cleanup.clone();
        async move {
            // A plain scheduled event sweeps; a task name this function does not know is an error.
            let input: Input = serde_json::from_value(event.payload)?;
            Ok::<_, Error>(cleanup.run(input, stop_by(event.context.deadline)).await?)
        }
    }))
    .await
}
