//! Providers: the services that actually deliver (SES for email, SNS for SMS, FCM for push).
//! Each channel has one port; the worker loop is the same for all of them and decides what to
//! record and whether to retry from the error's [`ErrorKind`] alone.

mod chat;
mod fcm;
mod in_app;
mod memory;
mod paced;
mod ses;
mod simulator;
mod sns;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;

pub use chat::{
    ChatProvider, ChatSettings, MAX_SLOT_WAIT, SLACK_INTERVAL, classify_slack_api,
    classify_slack_webhook, classify_teams, slack_payload, teams_payload,
};
pub use fcm::{
    CredentialsSource, FcmConfig, FcmPushProvider, FcmSettings, MAX_PAYLOAD_BYTES, ServiceAccount,
    fcm_message, is_reserved_data_key, payload_size,
};
pub use in_app::{ApiGatewayPoster, ConnectionPoster, InAppProvider, MemoryPoster, item_message};
pub use memory::ScriptedProvider;
pub use paced::PacedProvider;
pub use ses::SesEmailProvider;
pub use simulator::{Simulated, Simulator};
pub use sns::{SmsSettings, SmsType, SnsSmsProvider};
pub use webhook::{
    MAX_RESPONSE_EXCERPT_BYTES, PlainAnswer, WebhookProvider, WebhookSender, WebhookSettings,
    classify_status, excerpt, url_policy,
};

use crate::domain::{Address, Channel, Delivery, Failure, Notification};

/// What the provider gave back for an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    /// What the receiver answered, for providers that are an HTTP receiver (webhooks).
    pub response: Option<crate::domain::HttpResponse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth trying again later: throttling, 5xx, timeouts, the network.
    Transient { retry_after: Option<Duration> },
    /// Trying again cannot help: invalid recipient, rejected content, bad configuration.
    Permanent,
    /// The target no longer exists (an unregistered push token): it fails, and is forgotten.
    TargetGone,
    /// The recipient opted out of the channel (an SMS STOP): suppressed, which is not a failure.
    OptedOut,
    /// Not now, by the service's own pacing (a chat target's one message a second): the
    /// message is put back for `after`, without using up its receives.
    Paced { after: Duration },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The provider's own error code where it has one.
    pub code: String,
    pub message: String,
}

impl ProviderError {
    pub fn transient(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient { retry_after: None },
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            ErrorKind::Transient { retry_after } => retry_after,
            ErrorKind::Paced { after } => Some(after),
            _ => None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient { .. })
    }

    pub fn to_failure(&self) -> Failure {
        Failure {
            code: self.code.clone(),
            message: self.message.clone(),
        }
    }
}

/// Classifies an AWS SDK error: `modelled` names the operation's documented errors and says
/// whether each is worth a retry; outside that model, AWS's generic throttling and
/// server-side codes are transient and any other client error is permanent. No answer at
/// all (timeout, network) is transient.
pub(crate) fn aws_error<E, R>(
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    modelled: impl Fn(&E) -> Option<(&'static str, bool)>,
) -> ProviderError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_sqs::error::DisplayErrorContext;
    use aws_smithy_runtime_api::client::result::SdkError;

    let service = match err {
        SdkError::ServiceError(ctx) => ctx.into_err(),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return ProviderError::transient("NetworkError", DisplayErrorContext(err).to_string());
        }
        other => {
            return ProviderError::permanent(
                "RequestError",
                DisplayErrorContext(other).to_string(),
            );
        }
    };
    let message = service
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| service.to_string());
    // A modelled error is named by its variant (one built in a test carries no code).
    let (code, transient) = match modelled(&service) {
        Some((code, transient)) => (code.to_owned(), transient),
        None => {
            let code = service.code().unwrap_or("Unknown").to_owned();
            let transient = matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "TooManyRequestsException"
                    | "ServiceUnavailable"
                    | "InternalFailure"
                    | "InternalError"
                    | "RequestTimeout"
                    | "Unknown"
            );
            (code, transient)
        }
    };
    ProviderError {
        kind: if transient {
            ErrorKind::Transient { retry_after: None }
        } else {
            ErrorKind::Permanent
        },
        code,
        message,
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP-date
/// (<https://www.rfc-editor.org/rfc/rfc9110#field.retry-after>).
pub fn parse_retry_after(value: &str, now: crate::domain::time::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let at = crate::domain::time::Timestamp::from_jiff(at);
    Some(now.until(at))
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// Recorded on the notification (`"ses"`): its channel's provider.
    fn name(&self) -> &'static str {
        self.channel().provider()
    }

    /// The channel this provider delivers.
    fn channel(&self) -> Channel;

    /// Where the notification goes. By default its recipient's one address; push resolves a
    /// user to their registered devices.
    async fn targets(&self, notification: &Notification) -> Result<Vec<Address>, ProviderError> {
        notification
            .recipient
            .address()
            .map(|a| vec![a])
            .ok_or_else(|| {
                ProviderError::permanent(
                    "UnsupportedRecipient",
                    format!(
                        "{} cannot deliver to {}",
                        self.name(),
                        notification.recipient.masked()
                    ),
                )
            })
    }

    /// Sends the notification to one of its targets.
    async fn send(
        &self,
        notification: &Notification,
        to: &Address,
    ) -> Result<Receipt, ProviderError>;

    /// Whether the provider's receipts name a message by its id alone (SNS's SMS delivery
    /// status logs), so the record must be found by it.
    fn reports_by_message_id(&self) -> bool {
        false
    }

    /// Whether the deliveries of a notification that went show it reached the recipient
    /// already (an in-app item pushed to a live connection): it is then `delivered` at once.
    fn delivered(&self, _deliveries: &[Delivery]) -> bool {
        false
    }

    /// Called after the provider answered [`ErrorKind::TargetGone`] for `to`.
    async fn forget(&self, _notification: &Notification, _to: &Address) {}
}
