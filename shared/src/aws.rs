//! The AWS SDK configuration, loaded once per cold start.
//!
//! Region and credentials come from the standard chain; `AWS_ENDPOINT_URL` (set by `make dev`
//! and the tests) points every client at the local emulator instead of AWS.

pub async fn load() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
