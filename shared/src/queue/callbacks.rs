//! The callbacks queue and its dead-letter queue: [`CallbackMessage`]s, put there by the
//! changes function (one per event and URL) and, once given up, by the callbacks function.

use std::{sync::Mutex, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use super::{MessageBody, QueueError, sqs::send_all};
use crate::domain::{NotificationId, TenantId, WebhookUrl, callback::CallbackEvent};

/// A callbacks queue message: one event for one URL. The body is fixed when it is queued, so
/// every attempt sends (and signs) the very same bytes; the secret is read at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackMessage {
    /// Format version, so the function can refuse (and dead-letter) a body it does not know.
    pub v: u32,
    pub tenant: TenantId,
    pub notification_id: NotificationId,
    pub event: CallbackEvent,
    pub url: WebhookUrl,
    /// `webhook-id`: the same on every attempt, so a receiver can drop repeats.
    pub webhook_id: String,
    pub body: String,
    /// Set on the copy put on the dead-letter queue: the callback has a `failed` record,
    /// which its first attempt after a redrive must update.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recorded: bool,
}

impl MessageBody for CallbackMessage {
    const VERSION: u32 = 1;

    fn version(&self) -> u32 {
        self.v
    }
}

#[async_trait]
pub trait MessageSink: Send + Sync {
    /// Puts every body on the queue; an error if any could not be.
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError>;
}

/// One SQS queue, by URL.
pub struct SqsSink {
    client: Client,
    url: String,
}

impl SqsSink {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl MessageSink for SqsSink {
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        let bodies: Vec<(String, Duration)> =
            bodies.iter().map(|b| (b.clone(), Duration::ZERO)).collect();
        let failed = send_all(&self.client, &self.url, &bodies).await;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Unavailable(format!(
                "{} of {} messages could not be put on {}",
                failed.len(),
                bodies.len(),
                self.url
            )))
        }
    }
}

/// A queue in memory, for unit tests; it can be told to refuse.
#[derive(Default)]
pub struct MemorySink {
    bodies: Mutex<Vec<String>>,
    refuse: std::sync::atomic::AtomicBool,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn refuse(&self, refuse: bool) {
        self.refuse
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl MessageSink for MemorySink {
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError::Unavailable("refused (test)".into()));
        }
        self.bodies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bodies);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips_and_another_version_is_refused() {
        let m = CallbackMessage {
            v: CallbackMessage::VERSION,
            tenant: TenantId::new("acme"),
            notification_id: NotificationId::generate(),
            event: CallbackEvent::Sent,
            url: WebhookUrl::parse("https://a.example/cb").unwrap(),
            webhook_id: "x".into(),
            body: "{}".into(),
            recorded: false,
        };
        assert_eq!(CallbackMessage::from_body(&m.to_body()), Ok(m.clone()));
        let other = m.to_body().replace("\"v\":1", "\"v\":2");
        assert!(CallbackMessage::from_body(&other).is_err());
    }
}
