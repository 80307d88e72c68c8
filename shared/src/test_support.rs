//! What the unit tests of several adapters share.

/// The configuration of an SDK client (`$sdk`: `aws_sdk_sqs`, ...) that answers from mock
/// rules (aws-smithy-mocks) instead of the network, without retries. Built by hand rather
/// than with `mock_client!`, which needs the SDK's `test-util` feature: that would leak into
/// the release binaries through the workspace-hack.
macro_rules! mocked_config {
    ($sdk:ident, $mode:expr, $rules:expr) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode($mode);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("eu-west-1"))
            .credentials_provider($sdk::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build()
    }};
}

pub(crate) use mocked_config;
