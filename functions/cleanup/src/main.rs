use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_cleanup::{Cleanup, CleanupConfig, Input, stop_by};
use notify_shared::{
    aws,
    config::Env,
    telemetry::{self, InitSteps},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut init = InitSteps::start();
    telemetry::init();
    init.step("tracing");
    let config = CleanupConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let cleanup = std::sync::Arc::new(Cleanup::from_aws(&sdk, config));
    init.step("clients");
    init.done();
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
