//! The delivery queues: one per channel and priority. A message carries only the notification's
//! id and routing; the worker reads everything else from the record, so the record is the one
//! source of truth and a message can be re-sent (redrive, re-enqueue) without going stale.

mod callbacks;
// Crate-visible for its test fixtures (SQS messages and events), which the delivery tests use.
pub(crate) mod consumer;
mod dead_letters;
mod memory;
mod redelivery;
mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use callbacks::{CallbackMessage, MemorySink, MessageSink, SqsSink};
pub use consumer::{MessageHandler, SqsConsumer, Verdict, receive_count};
pub use dead_letters::{
    DeadLetters, MemoryDeadLetters, REDRIVE_BUDGET, RedriveReport, SqsDeadLetters,
};
pub use memory::MemoryQueue;
pub use redelivery::{MemoryRedelivery, Redelivery, SqsRedelivery, backoff};
pub use sqs::SqsQueue;

use crate::domain::{Channel, NotificationId, Priority, TenantId};

/// The body of a queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// Format version, so a worker can refuse (and dead-letter) a body it does not understand.
    pub v: u32,
    pub id: NotificationId,
    pub tenant: TenantId,
    pub channel: Channel,
    pub priority: Priority,
}

/// A queue message's body: JSON with a format version `v`, so a reader can refuse (and
/// dead-letter) a body it does not understand.
pub trait MessageBody: Serialize + serde::de::DeserializeOwned {
    const VERSION: u32;

    fn version(&self) -> u32;

    fn to_body(&self) -> String {
        // Serialising a message cannot fail: every field is a string or a number.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn from_body(body: &str) -> Result<Self, String> {
        let msg: Self = serde_json::from_str(body).map_err(|e| e.to_string())?;
        if msg.version() != Self::VERSION {
            return Err(format!("unsupported message version {}", msg.version()));
        }
        Ok(msg)
    }
}

impl MessageBody for QueueMessage {
    const VERSION: u32 = 1;

    fn version(&self) -> u32 {
        self.v
    }
}

impl QueueMessage {
    pub fn new(id: NotificationId, tenant: TenantId, channel: Channel, priority: Priority) -> Self {
        Self {
            v: Self::VERSION,
            id,
            tenant,
            channel,
            priority,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue is configured for {channel}/{priority}")]
    NotConfigured {
        channel: Channel,
        priority: Priority,
    },
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait NotificationQueue: Send + Sync {
    /// Puts the message on the queue of its channel and priority, visible after `delay`
    /// (at most 15 minutes, the SQS limit).
    async fn enqueue(&self, message: &QueueMessage, delay: Duration) -> Result<(), QueueError>;

    /// Puts many messages on their queues (SQS: `SendMessageBatch`, 10 a call, several calls
    /// in flight, failed entries retried). Returns the indexes of the messages that could not
    /// be sent.
    async fn enqueue_many(&self, messages: &[(QueueMessage, Duration)]) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, (message, delay)) in messages.iter().enumerate() {
            if self.enqueue(message, *delay).await.is_err() {
                failed.push(i);
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_and_rejects_other_versions() {
        let m = QueueMessage::new(
            NotificationId::generate(),
            TenantId::new("t"),
            Channel::Email,
            Priority::High,
        );
        assert_eq!(QueueMessage::from_body(&m.to_body()).unwrap(), m);
        let v2 = m.to_body().replace("\"v\":1", "\"v\":2");
        assert!(
            QueueMessage::from_body(&v2)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(QueueMessage::from_body("not json").is_err());
    }
}
