//! The AWS SDK configuration, loaded once per cold start.
//!
//! Region and credentials come from the standard chain; `AWS_ENDPOINT_URL` (set by `make dev`
//! and the tests) points every client at the local emulator instead of AWS.

use aws_config::SdkConfig;

pub async fn load() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A function's cold start, the same for every function: the JSON logs, its configuration
/// from the environment, the SDK configuration, then what `build` makes of them (its clients;
/// the push worker's key), each step timed ([`InitSteps`](crate::telemetry::InitSteps): one
/// log line when the handler is ready).
pub async fn init_function<C, T, E>(
    config: impl FnOnce(&crate::config::Env) -> Result<C, crate::config::ConfigError>,
    build: impl AsyncFnOnce(&SdkConfig, C) -> Result<T, E>,
) -> Result<T, lambda_runtime::Error>
where
    E: Into<lambda_runtime::Error>,
{
    let mut init = crate::telemetry::InitSteps::start();
    crate::telemetry::init();
    init.step("tracing");
    let config = config(&crate::config::Env::from_process())?;
    init.step("config");
    let sdk = load().await;
    init.step("sdk");
    let built = build(&sdk, config).await.map_err(Into::into)?;
    init.step("clients");
    init.done();
    Ok(built)
}
