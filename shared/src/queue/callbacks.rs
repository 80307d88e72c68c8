//! The callbacks queue and its dead-letter queue: bodies of [`CallbackMessage`]s, put there by
//! the changes function (one per event and URL) and, once given up, by the callbacks function.
//!
//! [`CallbackMessage`]: crate::domain::callback::CallbackMessage

use std::{sync::Mutex, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use super::{QueueError, sqs::send_all};

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
