//! Consuming an SQS batch in a Lambda function, for any handler of one message: the batch's
//! messages are handled several at once, and the answer is a partial batch response
//! (`ReportBatchItemFailures`), so only the messages the handler wants again come back. A
//! message no one can read (a "poison" message) is answered [`Verdict::Retry`] like any other:
//! it fails alone, without holding up its batch, and after the queue's last receive SQS moves
//! it to the dead-letter queue.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::{
    event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage},
    sqs::BatchItemFailure,
};
use futures::{StreamExt, stream};
use tracing::warn;

use super::redelivery::{Redelivery, backoff};

/// What to do with a handled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done with it: SQS deletes it.
    Done,
    /// Keep it for another receive, visible again after `after`, else after the backoff for
    /// its receive count.
    Retry { after: Option<Duration> },
    /// Put a copy back on its queue as a new message visible after `after`, and delete this
    /// one: a wait that does not use up the message's receives. Kept if the copy fails.
    Requeue { after: Duration },
}

/// Handles one message of a batch.
#[async_trait]
pub trait MessageHandler: Sync {
    async fn handle(&self, message: &SqsMessage) -> Verdict;
}

/// Runs a batch through a [`MessageHandler`] and carries out its verdicts.
pub struct SqsConsumer {
    redelivery: Arc<dyn Redelivery>,
    /// Messages handled at once.
    concurrency: usize,
    retry_base: Duration,
    retry_max: Duration,
}

impl SqsConsumer {
    /// Retries back off from `retry_base`, doubling up to `retry_max` (see [`backoff`]).
    pub fn new(
        redelivery: Arc<dyn Redelivery>,
        concurrency: usize,
        retry_base: Duration,
        retry_max: Duration,
    ) -> Self {
        Self {
            redelivery,
            concurrency,
            retry_base,
            retry_max,
        }
    }

    /// Handles every message of `event` and reports the ones to keep.
    pub async fn consume(
        &self,
        event: SqsEvent,
        handler: &(impl MessageHandler + ?Sized),
    ) -> SqsBatchResponse {
        let failures: Vec<BatchItemFailure> = stream::iter(event.records)
            .map(|message| async move {
                let keep = match handler.handle(&message).await {
                    Verdict::Done => false,
                    Verdict::Retry { after } => {
                        self.redeliver_after(&message, after).await;
                        true
                    }
                    // Deleted only once its copy is safely back on the queue.
                    Verdict::Requeue { after } => !self.requeue(&message, after).await,
                };
                keep.then(|| {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message.message_id.unwrap_or_default();
                    failure
                })
            })
            .buffer_unordered(self.concurrency)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }

    /// Puts a copy of the message back on its queue for after `after`; true if done.
    async fn requeue(&self, message: &SqsMessage, after: Duration) -> bool {
        let (Some(arn), Some(body)) = (&message.event_source_arn, &message.body) else {
            return false;
        };
        match self.redelivery.requeue(arn, body, after).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, "could not defer the message; it stays on the queue");
                false
            }
        }
    }

    /// Sets when a kept message comes back. Best effort: if it fails, the queue's visibility
    /// timeout applies, which only makes the retry later.
    async fn redeliver_after(&self, message: &SqsMessage, after: Option<Duration>) {
        let (Some(arn), Some(handle)) = (&message.event_source_arn, &message.receipt_handle) else {
            return;
        };
        let delay = after
            .unwrap_or_else(|| backoff(receive_count(message), self.retry_base, self.retry_max));
        if let Err(e) = self.redelivery.redeliver_after(arn, handle, delay).await {
            warn!(error = %e, "could not set the retry delay; the queue's visibility timeout applies");
        }
    }
}

/// How many times SQS has handed this message out, this time included.
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::queue::MemoryRedelivery;

    /// A message as an SQS event source hands it to the function.
    pub fn message(body: &str, message_id: &str, receive_count: u32) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(message_id.into());
        m.receipt_handle = Some(format!("rh-{message_id}"));
        m.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:notify-email-normal".into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        m
    }

    pub fn event(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = messages;
        e
    }

    /// Answers with the verdict its body names.
    struct ByBody;

    #[async_trait]
    impl MessageHandler for ByBody {
        async fn handle(&self, message: &SqsMessage) -> Verdict {
            match message.body.as_deref() {
                Some("retry") => Verdict::Retry { after: None },
                Some("later") => Verdict::Retry {
                    after: Some(Duration::from_secs(42)),
                },
                Some("requeue") => Verdict::Requeue {
                    after: Duration::from_secs(30),
                },
                _ => Verdict::Done,
            }
        }
    }

    fn consumer(redelivery: Arc<MemoryRedelivery>) -> SqsConsumer {
        SqsConsumer::new(
            redelivery,
            4,
            Duration::from_secs(10),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn only_the_messages_to_retry_are_reported_and_each_gets_its_delay() {
        let redelivery = Arc::new(MemoryRedelivery::new());
        let response = consumer(redelivery.clone())
            .consume(
                event(vec![
                    message("done", "m1", 1),
                    message("retry", "m2", 2),
                    message("later", "m3", 1),
                ]),
                &ByBody,
            )
            .await;
        let mut kept: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        kept.sort();
        assert_eq!(kept, ["m2", "m3"]);
        let mut delays = redelivery.delays();
        delays.sort();
        // Second receive: base 10 s doubled, with jitter: 10 to 20 s.
        assert_eq!(delays[0].0, "rh-m2");
        assert!(
            delays[0].1 >= Duration::from_secs(10) && delays[0].1 <= Duration::from_secs(20),
            "{delays:?}"
        );
        assert_eq!(delays[1], ("rh-m3".to_owned(), Duration::from_secs(42)));
    }

    #[tokio::test]
    async fn a_requeued_message_is_deleted_once_its_copy_is_back_and_kept_otherwise() {
        let redelivery = Arc::new(MemoryRedelivery::new());
        let mut orphan = message("requeue", "m2", 1);
        orphan.event_source_arn = None;
        let response = consumer(redelivery.clone())
            .consume(event(vec![message("requeue", "m1", 1), orphan]), &ByBody)
            .await;
        assert_eq!(
            redelivery.requeued(),
            [("requeue".to_owned(), Duration::from_secs(30))]
        );
        let kept: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(kept, ["m2"], "no queue to put its copy on: kept");
    }
}
