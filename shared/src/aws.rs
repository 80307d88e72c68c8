//! The AWS SDK configuration, loaded once per cold start.
//!
//! Lambda hands a function its role's credentials and its region in environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`:
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>),
//! and that is all the SDK is given. The rest of the default chain (profile files, web identity
//! through STS, SSO, the ECS and EC2 metadata endpoints) never answers in Lambda; leaving it out
//! leaves its code out of every binary. `AWS_ENDPOINT_URL` (set by `make dev` and the tests)
//! points every client at the local emulator instead of AWS.

use aws_config::{
    BehaviorVersion, Region, SdkConfig, environment::EnvironmentVariableCredentialsProvider,
};
use aws_credential_types::provider::SharedCredentialsProvider;

pub async fn load() -> SdkConfig {
    from_env(|var| std::env::var(var).ok())
}

/// The configuration `var` describes (a stand-in for the process environment in tests).
fn from_env(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ));
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        config = config.region(Region::new(region));
    }
    if let Some(url) = var("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        config = config.endpoint_url(url);
    }
    config.build()
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_env(|k| vars.get(k).cloned())
    }

    #[test]
    fn the_region_endpoint_and_credentials_come_from_lambdas_variables() {
        let c = config(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]);
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(c.credentials_provider().is_some());
        assert_eq!(c.behavior_version(), Some(BehaviorVersion::latest()));

        let deployed = config(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(deployed.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(deployed.endpoint_url(), None, "AWS's own endpoints");
    }
}
