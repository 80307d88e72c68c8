//! Redrive: moving the messages of a dead-letter queue back to the queue they came from,
//! once whatever made them fail is fixed. The workers retry a redriven notification whose
//! retries had run out (it is `failed` with `RetriesExhausted`), so a redrive by any tool
//! (this one, the SQS console, `aws sqs start-message-move-task`) sends it.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::{
    Client,
    error::DisplayErrorContext,
    types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry},
};
use serde::Serialize;
use tracing::{info, warn};

use super::{MessageBody, QueueError, QueueMessage};
use crate::{
    config::QueueUrls,
    domain::{Channel, Priority},
};

/// What one redrive did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    pub channel: Channel,
    pub priority: Priority,
    /// `StartMessageMoveTask` (SQS moves the messages itself, in the background) or `copy`
    /// (moved here, message by message, where the move task is not available).
    pub method: &'static str,
    /// Messages moved (copy only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<usize>,
    /// Whether messages were left for another call (copy only, at the deadline).
    pub complete: bool,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Moves the dead-letter queue of `channel`/`priority` back to its queue, stopping at
    /// `deadline`.
    async fn redrive(
        &self,
        channel: Channel,
        priority: Priority,
        deadline: Instant,
    ) -> Result<RedriveReport, QueueError>;

    /// Up to `max` messages of the dead-letter queue of `channel`/`priority`, left in the
    /// queue and visible again at once, so a redrive moves them as ever.
    async fn look(
        &self,
        channel: Channel,
        priority: Priority,
        max: usize,
    ) -> Result<Vec<QueueMessage>, QueueError>;
}

pub struct SqsDeadLetters {
    client: Client,
    queues: QueueUrls,
    dlqs: QueueUrls,
    /// Set once the service answered a move task with something else than its model (the
    /// local emulator has none): the warm function then copies without asking again.
    no_move_tasks: std::sync::atomic::AtomicBool,
}

fn sqs_error(e: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string())
}

impl SqsDeadLetters {
    pub fn new(client: Client, queues: QueueUrls, dlqs: QueueUrls) -> Self {
        Self {
            client,
            queues,
            dlqs,
            no_move_tasks: std::sync::atomic::AtomicBool::new(false),
        }
    }

    async fn arn(&self, url: &str) -> Result<String, QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error)?
            .attributes
            .unwrap_or_default();
        attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .ok_or_else(|| QueueError::Unavailable(format!("no ARN for {url}")))
    }

    /// Receives, re-sends and deletes, ten at a time. A crash between the send and the
    /// delete leaves a duplicate, which the workers' claim turns into one send.
    async fn copy(
        &self,
        dlq: &str,
        target: &str,
        deadline: Instant,
    ) -> Result<(usize, bool), QueueError> {
        let mut moved = 0;
        while Instant::now() < deadline {
            let messages = self
                .client
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .map_err(sqs_error)?
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return Ok((moved, true));
            }
            let entries: Vec<SendMessageBatchRequestEntry> = messages
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_message_body(m.body.clone())
                        .build()
                        .ok()
                })
                .collect();
            let sent = self
                .client
                .send_message_batch()
                .queue_url(target)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error)?;
            let done: Vec<DeleteMessageBatchRequestEntry> = sent
                .successful
                .iter()
                .filter_map(|s| {
                    let m = messages.get(s.id.parse::<usize>().ok()?)?;
                    DeleteMessageBatchRequestEntry::builder()
                        .id(s.id.clone())
                        .set_receipt_handle(m.receipt_handle.clone())
                        .build()
                        .ok()
                })
                .collect();
            moved += done.len();
            if !done.is_empty() {
                self.client
                    .delete_message_batch()
                    .queue_url(dlq)
                    .set_entries(Some(done))
                    .send()
                    .await
                    .map_err(sqs_error)?;
            }
        }
        Ok((moved, false))
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn redrive(
        &self,
        channel: Channel,
        priority: Priority,
        deadline: Instant,
    ) -> Result<RedriveReport, QueueError> {
        let not_configured = || QueueError::NotConfigured { channel, priority };
        let dlq = self
            .dlqs
            .get(channel, priority)
            .ok_or_else(not_configured)?;
        let target = self
            .queues
            .get(channel, priority)
            .ok_or_else(not_configured)?;
        use std::sync::atomic::Ordering;
        let task = if self.no_move_tasks.load(Ordering::Relaxed) {
            None
        } else {
            let (dlq_arn, target_arn) = (self.arn(dlq).await?, self.arn(target).await?);
            let task = self
                .client
                .start_message_move_task()
                .source_arn(&dlq_arn)
                .destination_arn(&target_arn)
                .send()
                .await;
            if let Err(e) = &task
                && e.as_service_error()
                    .is_some_and(|s| s.meta().code().is_none())
            {
                self.no_move_tasks.store(true, Ordering::Relaxed);
            }
            Some(task)
        };
        match task {
            Some(Ok(_)) => {
                info!(%channel, %priority, "started an SQS message move task");
                Ok(RedriveReport {
                    channel,
                    priority,
                    method: "StartMessageMoveTask",
                    moved: None,
                    complete: true,
                })
            }
            other => {
                // Not every SQS implementation has move tasks (the local emulator does not).
                if let Some(Err(e)) = other {
                    warn!(error = %DisplayErrorContext(&e), "no message move task; moving the messages one by one");
                }
                let (moved, complete) = self.copy(dlq, target, deadline).await?;
                Ok(RedriveReport {
                    channel,
                    priority,
                    method: "copy",
                    moved: Some(moved),
                    complete,
                })
            }
        }
    }

    async fn look(
        &self,
        channel: Channel,
        priority: Priority,
        max: usize,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let dlq = self
            .dlqs
            .get(channel, priority)
            .ok_or(QueueError::NotConfigured { channel, priority })?;
        self.receive_all(dlq, max).await
    }
}

impl SqsDeadLetters {
    /// Receives every message it can (up to `max`), hiding each for a moment so the next
    /// receive returns others, then makes them visible again.
    async fn receive_all(&self, dlq: &str, max: usize) -> Result<Vec<QueueMessage>, QueueError> {
        let mut found = Vec::new();
        let mut handles = Vec::new();
        while handles.len() < max {
            let batch = self
                .client
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await
                .map_err(sqs_error)?
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                // A body no worker could read either has no record to reconcile.
                if let Some(message) = m.body().and_then(|b| QueueMessage::from_body(b).ok()) {
                    found.push(message);
                }
                if let Some(h) = m.receipt_handle {
                    handles.push(h);
                }
            }
        }
        // Visible again now: a redrive (or the console) must not wait for our look.
        for chunk in handles.chunks(10) {
            let entries: Vec<aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(e) = self
                .client
                .change_message_visibility_batch()
                .queue_url(dlq)
                .set_entries(Some(entries))
                .send()
                .await
            {
                warn!(error = %DisplayErrorContext(&e), "dead-lettered messages stay hidden for 30 s");
            }
        }
        Ok(found)
    }
}

/// How long one redrive call may take, inside API Gateway's 30-second limit.
pub const REDRIVE_BUDGET: Duration = Duration::from_secs(20);

/// Records redrives, and holds dead-lettered messages, for unit tests.
#[derive(Default)]
pub struct MemoryDeadLetters {
    calls: std::sync::Mutex<Vec<(Channel, Priority)>>,
    dead: std::sync::Mutex<Vec<QueueMessage>>,
}

impl MemoryDeadLetters {
    pub fn new() -> Self {
        Self::default()
    }

    /// A message SQS moved to its dead-letter queue.
    pub fn put(&self, message: QueueMessage) {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }

    pub fn calls(&self) -> Vec<(Channel, Priority)> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn redrive(
        &self,
        channel: Channel,
        priority: Priority,
        _deadline: Instant,
    ) -> Result<RedriveReport, QueueError> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((channel, priority));
        Ok(RedriveReport {
            channel,
            priority,
            method: "memory",
            moved: Some(0),
            complete: true,
        })
    }

    async fn look(
        &self,
        channel: Channel,
        priority: Priority,
        max: usize,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        Ok(dead
            .iter()
            .filter(|m| m.channel == channel && m.priority == priority)
            .take(max)
            .cloned()
            .collect())
    }
}
