//! A local SQS event source mapping: what Lambda does between a queue and a worker.
//!
//! Like the real one it receives batches of up to 10, hands them to the function, deletes the
//! messages the function did not report in `batchItemFailures`, and leaves the rest to
//! reappear after the visibility timeout (and, past `maxReceiveCount`, to be moved to the
//! dead-letter queue by SQS). A function error or an unusable response keeps the whole batch.
//! Unlike AWS, where each priority has its own mapping, one loop serves a channel's queues in
//! priority order, so high priority is never behind a low-priority backlog.

use std::{collections::HashSet, sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
};
use notify_shared::{delivery::DeliveryWorker, domain::Priority};
use tracing::{info, warn};

/// The largest batch an SQS event source mapping delivers from a standard queue without a
/// batching window, and the most one ReceiveMessage call returns.
pub const MAX_BATCH: i32 = 10;

/// Something that handles SQS events as a Lambda function would.
#[async_trait]
pub trait Invoke: Send + Sync {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String>;
}

/// The worker itself, in-process: what the integration tests drive.
#[async_trait]
impl Invoke for DeliveryWorker {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        Ok(self.handle(event).await)
    }
}

/// One queue a mapping reads.
#[derive(Debug, Clone)]
pub struct Source {
    pub priority: Priority,
    pub url: String,
    pub arn: String,
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub priority: Priority,
    pub received: usize,
    pub deleted: usize,
    pub kept: usize,
}

pub struct EventSourceMapping {
    sqs: aws_sdk_sqs::Client,
    /// Highest priority first.
    sources: Vec<Source>,
    function: Arc<dyn Invoke>,
}

impl EventSourceMapping {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        mut sources: Vec<Source>,
        function: Arc<dyn Invoke>,
    ) -> Self {
        sources.sort_by_key(|s| s.priority);
        Self {
            sqs,
            sources,
            function,
        }
    }

    /// Delivers one batch from the highest-priority queue that has messages; `None` when all
    /// are empty.
    pub async fn poll_once(&self) -> Result<Option<BatchReport>, String> {
        for source in &self.sources {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&source.url)
                .max_number_of_messages(MAX_BATCH)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "receive from {}: {}",
                        source.url,
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?
                .messages
                .unwrap_or_default();
            if received.is_empty() {
                continue;
            }
            let event = to_event(&received, &source.arn);
            let batch_ids: HashSet<String> = received
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect();
            let keep: HashSet<String> = match self.function.invoke(event).await {
                Ok(response) => {
                    let failed: HashSet<String> = response
                        .batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect();
                    // Lambda treats an empty or unknown identifier as a failure of the batch.
                    if failed.iter().all(|id| batch_ids.contains(id)) {
                        failed
                    } else {
                        warn!("batchItemFailures names unknown messages: keeping the whole batch");
                        batch_ids.clone()
                    }
                }
                Err(e) => {
                    warn!(error = %e, "invocation failed: keeping the whole batch");
                    batch_ids.clone()
                }
            };
            let done: Vec<DeleteMessageBatchRequestEntry> = received
                .iter()
                .enumerate()
                .filter(|(_, m)| m.message_id.as_ref().is_some_and(|id| !keep.contains(id)))
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle.clone())
                        .build()
                        .ok()
                })
                .collect();
            let deleted = done.len();
            if !done.is_empty() {
                let out = self
                    .sqs
                    .delete_message_batch()
                    .queue_url(&source.url)
                    .set_entries(Some(done))
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "delete from {}: {}",
                            source.url,
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        )
                    })?;
                if !out.failed.is_empty() {
                    warn!(
                        failed = out.failed.len(),
                        "some deletes failed: those messages will be delivered again"
                    );
                }
            }
            return Ok(Some(BatchReport {
                priority: source.priority,
                received: received.len(),
                deleted,
                kept: received.len() - deleted,
            }));
        }
        Ok(None)
    }

    /// Polls forever, pausing `idle` whenever every queue is empty.
    pub async fn run(&self, idle: Duration) {
        loop {
            match self.poll_once().await {
                Ok(Some(report)) => info!(?report, "batch delivered"),
                Ok(None) => tokio::time::sleep(idle).await,
                Err(e) => {
                    warn!(error = %e, "poll failed");
                    tokio::time::sleep(idle * 4).await;
                }
            }
        }
    }
}

/// The event Lambda builds from received messages.
pub fn to_event(messages: &[aws_sdk_sqs::types::Message], arn: &str) -> SqsEvent {
    let records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.message_attributes = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(arn.to_owned());
            record.aws_region = Some(crate::REGION.into());
            record
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn attribute(v: &MessageAttributeValue) -> SqsMessageAttribute {
    let mut a = SqsMessageAttribute::default();
    a.string_value = v.string_value.clone();
    a.data_type = Some(v.data_type.clone());
    a.string_list_values = v.string_list_values.clone().unwrap_or_default();
    a
}
