//! The one SQS batch loop every channel worker runs: claim → send → record, records of a batch
//! in parallel, and a partial batch response so only the messages that must be retried are.
//!
//! SQS delivers at least once, so the claim (a conditional status change to `sending` with a
//! lease) comes before any provider call: of two deliveries of one message only one can claim,
//! and the other sends nothing.

use std::sync::Arc;

use aws_lambda_events::{
    event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage},
    sqs::BatchItemFailure,
};
use futures::{StreamExt, stream};
use tracing::{Instrument, error, info, info_span, warn};

use crate::{
    clock::Clock,
    config::DeliverySettings,
    domain::{Failure, Lease, Notification, Status},
    provider::{Provider, ProviderError},
    queue::QueueMessage,
    store::{NotificationStore, ProviderRef, StoreError, Transition, TransitionOutcome},
};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it; the record says `sent`.
    Sent,
    /// The provider refused it for good, or retries ran out; the record says `failed`.
    Failed,
    /// Nothing to send: the notification is already settled (a duplicate delivery) or gone.
    Skipped(Option<Status>),
    /// Leave the message on the queue for another receive (or, in the end, the dead-letter
    /// queue); the reason is for the logs.
    Retry(String),
}

impl Outcome {
    /// Whether the message stays on the queue.
    pub fn keeps_message(&self) -> bool {
        matches!(self, Outcome::Retry(_))
    }
}

pub struct DeliveryWorker {
    store: Arc<dyn NotificationStore>,
    provider: Arc<dyn Provider>,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        provider: Arc<dyn Provider>,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            store,
            provider,
            clock,
            settings,
        }
    }

    /// Handles one SQS batch and reports the messages to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes: Vec<(Option<String>, Outcome)> = stream::iter(event.records)
            .map(|message| async move {
                let outcome = self.process(&message).await;
                (message.message_id, outcome)
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        let mut response = SqsBatchResponse::default();
        for (message_id, outcome) in outcomes {
            if outcome.keeps_message() {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// Handles one message, inside a span naming it.
    pub async fn process(&self, message: &SqsMessage) -> Outcome {
        let receive_count: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let span = info_span!(
            "message",
            message_id = message.message_id.as_deref().unwrap_or("-"),
            receive_count,
            notification_id = tracing::field::Empty,
            tenant = tracing::field::Empty,
        );
        async {
            let outcome = self
                .deliver(message.body.as_deref().unwrap_or(""), receive_count)
                .await;
            match &outcome {
                Outcome::Retry(reason) => warn!(%reason, "message kept for retry"),
                other => info!(outcome = ?other, "message done"),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn deliver(&self, body: &str, receive_count: u32) -> Outcome {
        let msg = match QueueMessage::from_body(body) {
            Ok(m) => m,
            // Kept, not dropped: after the last receive SQS moves it to the dead-letter queue
            // where an operator can see it.
            Err(e) => {
                error!(error = %e, "unreadable message body");
                return Outcome::Retry(format!("unreadable message: {e}"));
            }
        };
        let span = tracing::Span::current();
        span.record("notification_id", msg.id.as_str());
        span.record("tenant", msg.tenant.as_str());
        if msg.channel != self.provider.channel() {
            error!(channel = %msg.channel, "message routed to the wrong worker");
            return Outcome::Retry(format!(
                "{} message on a {} worker",
                msg.channel,
                self.provider.channel()
            ));
        }

        let now = self.clock.now();
        let lease = Lease {
            token: uuid::Uuid::new_v4().to_string(),
            until_ms: now.plus(self.settings.lease).as_millis(),
        };
        let notification = match self
            .store
            .transition(&msg.id, &Transition::claim(lease.clone(), now))
            .await
        {
            Ok(TransitionOutcome::Applied(n)) => n,
            Ok(TransitionOutcome::Refused(None)) => {
                warn!("notification not found (expired or deleted): nothing to send");
                return Outcome::Skipped(None);
            }
            Ok(TransitionOutcome::Refused(Some(current))) => return refused_claim(&current),
            Err(e) => return Outcome::Retry(format!("claim failed: {e}")),
        };

        match self.provider.send(&notification).await {
            Ok(receipt) => {
                let provider = ProviderRef {
                    name: self.provider.name().to_owned(),
                    message_id: receipt.message_id,
                };
                info!(
                    recipient = %notification.recipient.masked(),
                    provider_message_id = %provider.message_id,
                    "provider accepted the message"
                );
                let change = Transition::sent(&lease.token, provider, self.clock.now());
                self.record_after_send(&notification, &change).await;
                Outcome::Sent
            }
            Err(e) if !e.is_transient() => {
                warn!(code = %e.code, error = %e.message, "provider rejected the message for good");
                let change = Transition::failed_while_sending(
                    &lease.token,
                    e.to_failure(),
                    self.clock.now(),
                );
                self.record_after_send(&notification, &change).await;
                Outcome::Failed
            }
            Err(e) if receive_count >= self.settings.max_receives => {
                // This was the last receive SQS allows: record the end before the message
                // goes to the dead-letter queue, so the record and the DLQ agree.
                let failure = retries_exhausted(&e, receive_count);
                let change =
                    Transition::failed_while_sending(&lease.token, failure, self.clock.now());
                self.record_after_send(&notification, &change).await;
                Outcome::Retry(format!("retries exhausted, to the dead-letter queue: {e}"))
            }
            Err(e) => {
                let change = Transition::requeued(&lease.token, e.to_failure(), self.clock.now());
                if let Err(store_error) = self.store.transition(&notification.id, &change).await {
                    // The lease runs out on its own; the next receive takes the record over.
                    warn!(error = %store_error, "could not release the claim after a transient failure");
                }
                Outcome::Retry(format!("transient provider error: {e}"))
            }
        }
    }

    /// Records the result of a provider call. The provider has already acted, so the message
    /// must not be retried whatever happens here (a retry would send twice): a failed write is
    /// retried a few times, then logged loudly with everything needed to repair the record.
    async fn record_after_send(&self, n: &Notification, change: &Transition) {
        const ATTEMPTS: u32 = 4;
        for attempt in 1..=ATTEMPTS {
            match self.store.transition(&n.id, change).await {
                Ok(TransitionOutcome::Applied(_)) => return,
                Ok(TransitionOutcome::Refused(current)) => {
                    error!(
                        wanted = %change.to,
                        found = ?current.map(|c| c.status),
                        "lost the claim while sending: the record was changed by someone else"
                    );
                    return;
                }
                Err(e @ StoreError::Unavailable(_)) if attempt < ATTEMPTS => {
                    warn!(error = %e, attempt, "recording the result failed, retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50 * 2u64.pow(attempt)))
                        .await;
                }
                Err(e) => {
                    error!(
                        error = %e,
                        wanted = %change.to,
                        provider_message_id = ?change.provider.as_ref().map(|p| &p.message_id),
                        "could not record the result of a send; the record stays `sending`"
                    );
                    return;
                }
            }
        }
    }
}

/// Runs `worker` as the Lambda function's handler for SQS events, until the runtime stops.
pub async fn serve(worker: DeliveryWorker) -> Result<(), lambda_runtime::Error> {
    let worker = Arc::new(worker);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let worker = worker.clone();
            async move { Ok::<_, lambda_runtime::Error>(worker.handle(event.payload).await) }
        },
    ))
    .await
}

fn refused_claim(current: &Notification) -> Outcome {
    if current.status.is_settled() {
        info!(status = %current.status, "already settled: duplicate delivery, nothing sent");
        return Outcome::Skipped(Some(current.status));
    }
    match current.status {
        // Another delivery of this message holds a live claim. Keep this copy until that one
        // finishes: if its worker crashed, this copy takes over once the lease runs out.
        Status::Sending => Outcome::Retry("another delivery is sending this notification".into()),
        other => {
            warn!(status = %other, "not in a sendable status: nothing sent");
            Outcome::Skipped(Some(other))
        }
    }
}

fn retries_exhausted(last: &ProviderError, receives: u32) -> Failure {
    Failure {
        code: "RetriesExhausted".into(),
        message: format!(
            "gave up after {receives} attempts; last error {}: {}",
            last.code, last.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        clock::ManualClock,
        domain::{Channel, time::Timestamp},
        provider::{Receipt, ScriptedProvider},
        queue::QueueMessage,
        store::{MemoryStore, tests::queued_email},
    };

    struct Rig {
        store: Arc<MemoryStore>,
        provider: Arc<ScriptedProvider>,
        clock: ManualClock,
        worker: DeliveryWorker,
    }

    fn rig(provider: ScriptedProvider) -> Rig {
        let store = Arc::new(MemoryStore::new());
        let provider = Arc::new(provider);
        let clock = ManualClock::at(Timestamp::from_millis(1_800_000_000_000).unwrap());
        let settings = DeliverySettings {
            max_receives: 3,
            concurrency: 4,
            lease: Duration::from_secs(60),
        };
        let worker = DeliveryWorker::new(
            store.clone(),
            provider.clone(),
            Arc::new(clock.clone()),
            settings,
        );
        Rig {
            store,
            provider,
            clock,
            worker,
        }
    }

    fn stored(rig: &Rig) -> Notification {
        let n = queued_email();
        futures::executor::block_on(rig.store.insert(&n)).unwrap();
        n
    }

    fn sqs_message(n: &Notification, message_id: &str, receive_count: u32) -> SqsMessage {
        let body =
            QueueMessage::new(n.id.clone(), n.tenant.clone(), n.channel, n.priority).to_body();
        raw_message(&body, message_id, receive_count)
    }

    fn raw_message(body: &str, message_id: &str, receive_count: u32) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(message_id.into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        m
    }

    fn throttled() -> ProviderError {
        ProviderError::transient("TooManyRequestsException", "slow down")
    }

    #[tokio::test]
    async fn sends_and_records_sent() {
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Ok(Receipt {
            message_id: "ses-1".into(),
        })));
        let n = stored(&rig);
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 1)).await,
            Outcome::Sent
        );
        let after = rig.store.record(&n.id).unwrap();
        assert_eq!(after.status, Status::Sent);
        assert_eq!(after.provider.as_deref(), Some("scripted"));
        assert_eq!(after.provider_message_id.as_deref(), Some("ses-1"));
        assert_eq!(after.attempts, 1);
        assert_eq!(after.lease, None);
    }

    #[tokio::test]
    async fn duplicate_delivery_sends_once() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let n = stored(&rig);
        let event = {
            let mut e = SqsEvent::default();
            e.records = vec![sqs_message(&n, "m1", 1), sqs_message(&n, "m1-dup", 1)];
            e
        };
        let response = rig.worker.handle(event).await;
        assert_eq!(rig.provider.calls().len(), 1, "exactly one send");
        // The loser either saw `sent` (skipped) or a live claim (kept, and then skipped).
        for f in &response.batch_item_failures {
            let again = rig
                .worker
                .process(&sqs_message(&n, &f.item_identifier, 2))
                .await;
            assert_eq!(again, Outcome::Skipped(Some(Status::Sent)));
        }
        assert_eq!(rig.provider.calls().len(), 1);
        assert_eq!(rig.store.record(&n.id).unwrap().status, Status::Sent);
    }

    #[tokio::test]
    async fn a_live_claim_is_respected_and_an_expired_one_taken_over() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let n = stored(&rig);
        // A worker claimed it, then crashed before sending.
        let crashed = Lease {
            token: "crashed".into(),
            until_ms: rig.clock.now().plus(Duration::from_secs(60)).as_millis(),
        };
        rig.store
            .transition(&n.id, &Transition::claim(crashed, rig.clock.now()))
            .await
            .unwrap();

        let early = rig.worker.process(&sqs_message(&n, "m1", 2)).await;
        assert!(matches!(early, Outcome::Retry(_)), "{early:?}");
        assert!(rig.provider.calls().is_empty());

        rig.clock.advance(Duration::from_secs(61));
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 3)).await,
            Outcome::Sent
        );
        assert_eq!(rig.provider.calls().len(), 1);
        assert_eq!(rig.store.record(&n.id).unwrap().attempts, 2);
    }

    #[tokio::test]
    async fn permanent_rejection_fails_without_retry() {
        let rejected =
            ProviderError::permanent("MessageRejected", "Email address is not verified.");
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(rejected)));
        let n = stored(&rig);
        let response = rig.worker.handle({
            let mut e = SqsEvent::default();
            e.records = vec![sqs_message(&n, "m1", 1)];
            e
        });
        assert!(
            response.await.batch_item_failures.is_empty(),
            "deleted, not retried"
        );
        let after = rig.store.record(&n.id).unwrap();
        assert_eq!(after.status, Status::Failed);
        assert_eq!(after.error.unwrap().code, "MessageRejected");
    }

    #[tokio::test]
    async fn transient_failure_requeues_then_sends() {
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(throttled())));
        let n = stored(&rig);
        let first = rig.worker.process(&sqs_message(&n, "m1", 1)).await;
        assert!(matches!(first, Outcome::Retry(_)), "{first:?}");
        let between = rig.store.record(&n.id).unwrap();
        assert_eq!(between.status, Status::Queued);
        assert_eq!(
            between.error.as_ref().unwrap().code,
            "TooManyRequestsException"
        );

        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 2)).await,
            Outcome::Sent
        );
        let after = rig.store.record(&n.id).unwrap();
        assert_eq!(
            (after.status, after.attempts, after.error),
            (Status::Sent, 2, None)
        );
        let statuses: Vec<Status> = after.history.iter().map(|h| h.status).collect();
        use Status::*;
        assert_eq!(statuses, vec![Queued, Sending, Queued, Sending, Sent]);
    }

    #[tokio::test]
    async fn last_receive_records_failure_before_the_dead_letter_queue() {
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(throttled())));
        let n = stored(&rig);
        let outcome = rig.worker.process(&sqs_message(&n, "m1", 3)).await;
        assert!(
            matches!(outcome, Outcome::Retry(_)),
            "the message must go on to the DLQ"
        );
        let after = rig.store.record(&n.id).unwrap();
        assert_eq!(after.status, Status::Failed);
        let error = after.error.unwrap();
        assert_eq!(error.code, "RetriesExhausted");
        assert!(
            error.message.contains("TooManyRequestsException"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn a_poison_message_does_not_block_its_batch() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let good = [stored(&rig), stored(&rig)];
        let mut event = SqsEvent::default();
        event.records = vec![
            sqs_message(&good[0], "ok-1", 1),
            raw_message("{not json", "poison", 1),
            sqs_message(&good[1], "ok-2", 1),
        ];
        let response = rig.worker.handle(event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["poison"]);
        for n in &good {
            assert_eq!(rig.store.record(&n.id).unwrap().status, Status::Sent);
        }
    }

    #[tokio::test]
    async fn a_missing_record_is_skipped() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let n = queued_email();
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 1)).await,
            Outcome::Skipped(None)
        );
        assert!(rig.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn store_outage_at_claim_keeps_the_message_and_sends_nothing() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let n = stored(&rig);
        rig.store.set_unavailable(true);
        let outcome = rig.worker.process(&sqs_message(&n, "m1", 1)).await;
        assert!(matches!(outcome, Outcome::Retry(_)), "{outcome:?}");
        assert!(rig.provider.calls().is_empty());
    }
}
