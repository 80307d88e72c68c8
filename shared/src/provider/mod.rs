//! Providers: the services that actually deliver (SES for email). Each channel has one port;
//! the worker loop is the same for all of them and decides retry-or-fail from the error's
//! [`ErrorKind`] alone.

mod memory;
mod ses;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::ScriptedProvider;
pub use ses::SesEmailProvider;

use crate::domain::{Channel, Failure, Notification};

/// What the provider gave back for an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth trying again later: throttling, 5xx, timeouts, the network.
    Transient { retry_after: Option<Duration> },
    /// Trying again cannot help: invalid recipient, rejected content, bad configuration.
    Permanent,
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

#[async_trait]
pub trait Provider: Send + Sync {
    /// Recorded on the notification (`"ses"`).
    fn name(&self) -> &'static str;

    /// The channel this provider delivers.
    fn channel(&self) -> Channel;

    async fn send(&self, notification: &Notification) -> Result<Receipt, ProviderError>;
}
