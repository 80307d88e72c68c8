//! The one delivery loop every channel worker runs. For each message of an SQS batch:
//!
//! 1. read the message (a body no worker can read is kept, and ends in the dead-letter queue);
//! 2. `claim` the notification: a conditional change to `sending` with a lease, before any
//!    provider call, so of two deliveries of one message only one sends;
//! 3. resolve its `targets` (the address; the number; each device of the user);
//! 4. `send` to each pending target, behind the provider's circuit breaker;
//! 5. `settle`: record every target's outcome and the summary status, or keep the message
//!    for a retry after the backoff.
//!
//! The messages of a batch run several at once, and the answer is a partial batch response,
//! so only the messages that must be retried are (see [`crate::queue::SqsConsumer`]).

mod claim;
mod outcome;
mod send;
mod settle;
mod suppressing;
mod targets;

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{Instrument, error, info, info_span, warn};

pub use outcome::{Counts, Outcome, Tally};
pub use settle::summarise;
pub use suppressing::Suppressing;

use crate::{
    breaker::CircuitBreaker,
    clock::Clock,
    config::DeliverySettings,
    domain::Status,
    provider::{Provider, Simulator},
    queue::{
        MessageBody, MessageHandler, QueueMessage, Redelivery, SqsConsumer, SqsRedelivery, Verdict,
        receive_count,
    },
    store::{NotificationStore, Transition},
};

pub struct DeliveryWorker {
    store: Arc<dyn NotificationStore>,
    provider: Arc<dyn Provider>,
    clock: Arc<dyn Clock>,
    breaker: CircuitBreaker,
    test_breaker: CircuitBreaker,
    consumer: SqsConsumer,
    settings: DeliverySettings,
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        provider: Arc<dyn Provider>,
        redelivery: Arc<dyn Redelivery>,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            store,
            provider,
            clock,
            breaker: CircuitBreaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            test_breaker: CircuitBreaker::new(
                settings.breaker_threshold,
                settings.breaker_cooldown,
            ),
            consumer: SqsConsumer::new(
                redelivery,
                settings.concurrency,
                settings.retry_base,
                settings.retry_max,
            ),
            settings,
        }
    }

    /// The production wiring around `provider`: records in `store`, retries scheduled through
    /// SQS, the system clock.
    pub fn on_aws(
        sdk: &aws_config::SdkConfig,
        store: Arc<crate::store::DynamoStore>,
        provider: Arc<dyn Provider>,
        settings: DeliverySettings,
    ) -> Self {
        let redelivery = SqsRedelivery::new(aws_sdk_sqs::Client::new(sdk));
        let provider = paced(provider, store.clone(), &settings);
        Self::new(
            store,
            provider,
            Arc::new(redelivery),
            Arc::new(crate::clock::SystemClock),
            settings,
        )
    }

    /// Handles one SQS batch and reports the messages to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let tally = Tally::default();
        let batch = Batch {
            worker: self,
            tally: &tally,
        };
        let response = self.consumer.consume(event, &batch).await;
        for line in tally.metrics(self.provider.channel()) {
            line.emit();
        }
        response
    }

    /// Handles one message, inside a span naming it.
    pub async fn process(&self, message: &SqsMessage) -> Outcome {
        self.process_counted(message, &Tally::default()).await
    }

    /// Handles one message and counts what became of it in `tally`.
    pub async fn process_counted(&self, message: &SqsMessage, tally: &Tally) -> Outcome {
        let receive_count = receive_count(message);
        let span = info_span!(
            "message",
            message_id = message.message_id.as_deref().unwrap_or("-"),
            receive_count,
            notification_id = tracing::field::Empty,
            tenant = tracing::field::Empty,
        );
        async {
            let body = message.body.as_deref().unwrap_or("");
            let outcome = self.deliver(body, receive_count, tally).await;
            // An unreadable body still counts, under the default priority.
            let priority = QueueMessage::from_body(body)
                .map(|m| m.priority)
                .unwrap_or_default();
            tally.outcome(priority, &outcome);
            match &outcome {
                Outcome::Retry { reason, .. } => warn!(%reason, "message kept for retry"),
                other => info!(outcome = ?other, "message done"),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    /// The steps, in order; each ends the message's handling early when it must.
    async fn deliver(&self, body: &str, receive_count: u32, tally: &Tally) -> Outcome {
        let msg = match self.read(body) {
            Ok(msg) => msg,
            Err(outcome) => return outcome,
        };
        let now = self.clock.now();
        if let Some(deferred) = send::circuit_open(&self.breaker, now) {
            return deferred;
        }
        let claimed = match claim::claim(
            self.store.as_ref(),
            self.clock.as_ref(),
            &msg.id,
            now,
            self.settings.lease,
        )
        .await
        {
            Ok(claimed) => claimed,
            Err(outcome) => return outcome,
        };
        let n = &claimed.notification;
        // A test key's notification meets the simulator, with a breaker of its own: its
        // simulated failures say nothing of the provider's health.
        let simulator = Simulator {
            real: self.provider.as_ref(),
        };
        let (provider, breaker): (&dyn Provider, _) = if n.test {
            (&simulator, &self.test_breaker)
        } else {
            (self.provider.as_ref(), &self.breaker)
        };
        let attempt = settle::Attempt {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            provider: provider.name(),
            reported_by_message_id: provider.reports_by_message_id(),
            id: &n.id,
            token: &claimed.token,
            receive_count,
            max_receives: self.settings.max_receives,
        };
        let mut deliveries = match targets::resolve(provider, n).await {
            Ok(deliveries) => deliveries,
            Err(e) => return attempt.unresolved(e).await,
        };
        let transient = send::send_pending(
            provider,
            breaker,
            self.clock.as_ref(),
            n,
            &mut deliveries,
            |took| tally.latency(msg.priority, took),
        )
        .await;
        let delivered = provider.delivered(&deliveries);
        let outcome = attempt.conclude(transient, deliveries).await;
        if delivered && matches!(outcome, Outcome::Sent) {
            // Already in the recipient's hands (an in-app item pushed to a live connection).
            let change = Transition::reported(Status::Delivered, None, self.clock.now());
            if let Err(e) = self.store.transition(&n.id, &change).await {
                warn!(error = %e, "could not record the delivery; the record stays `sent`");
            }
        }
        outcome
    }

    /// The message, if this worker can act on it. A body it cannot read is kept, not dropped:
    /// after the last receive SQS moves it to the dead-letter queue, where an operator sees it.
    fn read(&self, body: &str) -> Result<QueueMessage, Outcome> {
        let msg = QueueMessage::from_body(body).map_err(|e| {
            error!(error = %e, "unreadable message body");
            Outcome::retry(format!("unreadable message: {e}"))
        })?;
        let span = tracing::Span::current();
        span.record("notification_id", msg.id.as_str());
        span.record("tenant", msg.tenant.as_str());
        if msg.channel != self.provider.channel() {
            error!(channel = %msg.channel, "message routed to the wrong worker");
            return Err(Outcome::retry(format!(
                "{} message on a {} worker",
                msg.channel,
                self.provider.channel()
            )));
        }
        Ok(msg)
    }
}

/// `provider` held to the settings' send rate, when they set one.
pub fn paced(
    provider: Arc<dyn Provider>,
    counters: Arc<dyn crate::store::LimitCounters>,
    settings: &DeliverySettings,
) -> Arc<dyn Provider> {
    match settings.send_rate {
        Some(per_second) => Arc::new(crate::provider::PacedProvider {
            inner: provider,
            counters,
            clock: Arc::new(crate::clock::SystemClock),
            per_second,
        }),
        None => provider,
    }
}

/// One batch's messages: each delivered by the worker and counted in the batch's tally.
struct Batch<'a> {
    worker: &'a DeliveryWorker,
    tally: &'a Tally,
}

#[async_trait]
impl MessageHandler for Batch<'_> {
    async fn handle(&self, message: &SqsMessage) -> Verdict {
        match self.worker.process_counted(message, self.tally).await {
            Outcome::Sent | Outcome::Failed | Outcome::Suppressed | Outcome::Skipped(_) => {
                Verdict::Done
            }
            Outcome::Retry { after, .. } => Verdict::Retry { after },
            // The provider's circuit is open: wait without using up the message's receives.
            Outcome::Deferred { after } => Verdict::Requeue { after },
        }
    }
}

/// A worker function's `main`: its cold start ([`crate::aws::init_function`]: its
/// configuration, the SDK, the worker `build` makes), then [`serve`]s it.
pub async fn start<C, E>(
    config: impl FnOnce(&crate::config::Env) -> Result<C, crate::config::ConfigError>,
    build: impl AsyncFnOnce(&aws_config::SdkConfig, C) -> Result<DeliveryWorker, E>,
) -> Result<(), lambda_runtime::Error>
where
    E: Into<lambda_runtime::Error>,
{
    serve(crate::aws::init_function(config, build).await?).await
}

/// Runs `worker` as the Lambda function's handler for SQS events, until the runtime stops.
pub async fn serve(worker: DeliveryWorker) -> Result<(), lambda_runtime::Error> {
    let worker = Arc::new(worker);
    // Batches may be delivered at once where the environment allows: the claim keeps one
    // notification to one worker, and the breaker and caches are shared safely.
    lambda_runtime::run_concurrent(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let worker = worker.clone();
            async move { Ok::<_, lambda_runtime::Error>(worker.handle(event.payload).await) }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        clock::ManualClock,
        domain::{
            Address, Channel, DeliveryStatus, DeviceToken, Lease, Notification, Platform, Status,
            time::Timestamp,
        },
        provider::{ErrorKind, ProviderError, Receipt, ScriptedProvider},
        queue::{
            MemoryRedelivery,
            consumer::tests::{event as batch, message as raw_message},
        },
        store::{MemoryStore, RETRIES_EXHAUSTED, Transition, tests::queued_email},
    };

    struct Rig {
        store: Arc<MemoryStore>,
        provider: Arc<ScriptedProvider>,
        redelivery: Arc<MemoryRedelivery>,
        clock: ManualClock,
        worker: DeliveryWorker,
    }

    fn rig(provider: ScriptedProvider) -> Rig {
        let store = Arc::new(MemoryStore::new());
        let provider = Arc::new(provider);
        let redelivery = Arc::new(MemoryRedelivery::new());
        let clock = ManualClock::at(Timestamp::from_millis(1_800_000_000_000).unwrap());
        let settings = DeliverySettings {
            max_receives: 3,
            concurrency: 4,
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(60),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            send_rate: None,
        };
        let worker = DeliveryWorker::new(
            store.clone(),
            provider.clone(),
            redelivery.clone(),
            Arc::new(clock.clone()),
            settings,
        );
        Rig {
            store,
            provider,
            redelivery,
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

    fn throttled() -> ProviderError {
        ProviderError::transient("TooManyRequestsException", "slow down")
    }

    fn is_retry(o: &Outcome) -> bool {
        matches!(o, Outcome::Retry { .. })
    }

    fn device(token: &str) -> Address {
        Address::Device {
            token: DeviceToken::parse(token).unwrap(),
            platform: Some(Platform::Android),
        }
    }

    #[tokio::test]
    async fn sends_and_records_sent() {
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Ok(Receipt {
            message_id: "ses-1".into(),
            response: None,
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
        assert_eq!(after.deliveries.len(), 1);
        assert_eq!(after.deliveries[0].status, DeliveryStatus::Sent);
    }

    #[tokio::test]
    async fn the_tally_counts_each_outcome_and_each_provider_call() {
        let rig = rig(ScriptedProvider::new(Channel::Email)
            .then(Ok(Receipt {
                message_id: "ses-1".into(),
                response: None,
            }))
            .then(Err(throttled())));
        let (first, second) = (stored(&rig), stored(&rig));
        let tally = Tally::default();
        let w = &rig.worker;
        w.process_counted(&sqs_message(&first, "m1", 1), &tally)
            .await;
        w.process_counted(&sqs_message(&first, "m1-dup", 1), &tally)
            .await;
        w.process_counted(&sqs_message(&second, "m2", 1), &tally)
            .await;
        let counts = tally.counts(first.priority);
        assert_eq!(
            (counts.sent, counts.skipped, counts.retried, counts.failed),
            (1, 1, 1, 0)
        );
        assert_eq!(counts.provider_latency_ms.len(), 2, "two provider calls");
        let lines = tally.metrics(Channel::Email);
        assert_eq!(lines.len(), 1);
        let doc = lines[0].document(0);
        assert_eq!(
            (doc["Channel"].as_str(), doc["Sent"].as_f64()),
            (Some("email"), Some(1.0))
        );
    }

    #[tokio::test]
    async fn duplicate_delivery_sends_once() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let n = stored(&rig);
        let response = rig
            .worker
            .handle(batch(vec![
                sqs_message(&n, "m1", 1),
                sqs_message(&n, "m1-dup", 1),
            ]))
            .await;
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
    async fn a_live_claim_is_respected_until_its_lease_ends_then_taken_over() {
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
        match early {
            Outcome::Retry {
                after: Some(after), ..
            } => {
                assert!(
                    after >= Duration::from_secs(60) && after <= Duration::from_secs(62),
                    "{after:?}"
                )
            }
            other => panic!("must wait for the lease: {other:?}"),
        }
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
        let response = rig
            .worker
            .handle(batch(vec![sqs_message(&n, "m1", 1)]))
            .await;
        assert!(
            response.batch_item_failures.is_empty(),
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
        assert!(is_retry(&first), "{first:?}");
        let between = rig.store.record(&n.id).unwrap();
        assert_eq!(between.status, Status::Queued);
        assert_eq!(
            between.error.as_ref().unwrap().code,
            "TooManyRequestsException"
        );
        assert_eq!(between.deliveries[0].status, DeliveryStatus::Pending);

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
    async fn a_paced_send_goes_back_to_the_queue_without_using_up_its_receives() {
        let paced =
            ProviderError::transient("paced", "next slot later").with_kind(ErrorKind::Paced {
                after: Duration::from_secs(40),
            });
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(paced)));
        let n = stored(&rig);
        // Even on the last receive: put back as a new message, never failed.
        let last = rig.worker.settings.max_receives;
        let outcome = rig.worker.process(&sqs_message(&n, "m1", last)).await;
        assert_eq!(
            outcome,
            Outcome::Deferred {
                after: Duration::from_secs(40)
            }
        );
        let between = rig.store.record(&n.id).unwrap();
        assert_eq!(between.status, Status::Queued);
        assert_eq!(between.deliveries[0].status, DeliveryStatus::Pending);
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m2", 1)).await,
            Outcome::Sent
        );
    }

    #[tokio::test]
    async fn retry_after_sets_the_delay_and_otherwise_the_backoff_does() {
        let slow =
            ProviderError::transient("QUOTA_EXCEEDED", "later").with_kind(ErrorKind::Transient {
                retry_after: Some(Duration::from_secs(42)),
            });
        let rig = rig(ScriptedProvider::new(Channel::Email)
            .then(Err(slow))
            .then(Err(throttled())));
        let n = stored(&rig);
        let response = rig
            .worker
            .handle(batch(vec![sqs_message(&n, "m1", 1)]))
            .await;
        assert_eq!(response.batch_item_failures.len(), 1);
        rig.worker
            .handle(batch(vec![sqs_message(&n, "m2", 2)]))
            .await;
        let delays = rig.redelivery.delays();
        assert_eq!(delays[0], ("rh-m1".to_owned(), Duration::from_secs(42)));
        // Second receive: base 10 s doubled, with jitter: 10 to 20 s.
        assert_eq!(delays[1].0, "rh-m2");
        assert!(
            delays[1].1 >= Duration::from_secs(10) && delays[1].1 <= Duration::from_secs(20),
            "{delays:?}"
        );
    }

    #[tokio::test]
    async fn last_receive_records_failure_before_the_dead_letter_queue() {
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(throttled())));
        let n = stored(&rig);
        let outcome = rig.worker.process(&sqs_message(&n, "m1", 3)).await;
        assert!(is_retry(&outcome), "the message must go on to the DLQ");
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
    async fn each_device_keeps_its_own_state_and_only_pending_ones_are_retried() {
        let provider = ScriptedProvider::new(Channel::Email)
            .with_targets(vec![device("ok"), device("gone"), device("busy")])
            .then_for(
                "gone",
                Err(ProviderError::permanent("UNREGISTERED", "gone")
                    .with_kind(ErrorKind::TargetGone)),
            )
            .then_for(
                "busy",
                Err(ProviderError::transient("UNAVAILABLE", "try later")),
            );
        let rig = rig(provider);
        let n = stored(&rig);

        assert!(is_retry(
            &rig.worker.process(&sqs_message(&n, "m1", 1)).await
        ));
        assert_eq!(rig.provider.forgotten(), vec!["gone".to_owned()]);
        let between = rig.store.record(&n.id).unwrap();
        let states: Vec<DeliveryStatus> = between.deliveries.iter().map(|d| d.status).collect();
        use DeliveryStatus::*;
        assert_eq!(states, vec![Sent, Failed, Pending]);

        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 2)).await,
            Outcome::Sent
        );
        let sent_to: Vec<String> = rig.provider.calls().into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            sent_to.iter().filter(|t| *t == "ok").count(),
            1,
            "never twice to a device: {sent_to:?}"
        );
        assert_eq!(sent_to.iter().filter(|t| *t == "busy").count(), 2);
        let after = rig.store.record(&n.id).unwrap();
        let states: Vec<DeliveryStatus> = after.deliveries.iter().map(|d| d.status).collect();
        assert_eq!(states, vec![Sent, Failed, Sent]);
        assert_eq!(after.status, Status::Sent);
        assert_eq!(
            after.provider_message_id, None,
            "several targets: ids are per delivery"
        );
    }

    #[tokio::test]
    async fn an_opted_out_recipient_is_suppressed_not_failed() {
        let opted_out = ProviderError::permanent("OptedOut", "the number opted out")
            .with_kind(ErrorKind::OptedOut);
        let rig = rig(ScriptedProvider::new(Channel::Email).then(Err(opted_out)));
        let n = stored(&rig);
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 1)).await,
            Outcome::Suppressed
        );
        let after = rig.store.record(&n.id).unwrap();
        assert_eq!(after.status, Status::Suppressed);
        assert_eq!(after.error.unwrap().code, "OptedOut");
    }

    #[tokio::test]
    async fn nothing_to_deliver_to_fails() {
        let rig = rig(ScriptedProvider::new(Channel::Email).with_targets(vec![]));
        let n = stored(&rig);
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "m1", 1)).await,
            Outcome::Failed
        );
        assert_eq!(
            rig.store.record(&n.id).unwrap().error.unwrap().code,
            "NoTargets"
        );
        assert!(rig.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn a_poison_message_does_not_block_its_batch() {
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let good = [stored(&rig), stored(&rig)];
        let response = rig
            .worker
            .handle(batch(vec![
                sqs_message(&good[0], "ok-1", 1),
                raw_message("{not json", "poison", 1),
                sqs_message(&good[1], "ok-2", 1),
            ]))
            .await;
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
        assert!(is_retry(&outcome), "{outcome:?}");
        assert!(rig.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn an_open_circuit_defers_messages_without_claiming_them() {
        let provider = ScriptedProvider::new(Channel::Email)
            .then(Err(throttled()))
            .then(Err(throttled()))
            .then(Err(throttled()));
        let rig = rig(provider);
        for i in 0..3 {
            let n = stored(&rig);
            assert!(is_retry(
                &rig.worker
                    .process(&sqs_message(&n, &format!("m{i}"), 1))
                    .await
            ));
        }
        // Three transient failures in a row (the rig's threshold): the circuit is open.
        let n = stored(&rig);
        let response = rig
            .worker
            .handle(batch(vec![sqs_message(&n, "late", 1)]))
            .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "its copy is back on the queue: delete it"
        );
        let (body, delay) = &rig.redelivery.requeued()[0];
        assert!(body.contains(n.id.as_str()));
        assert_eq!(*delay, Duration::from_secs(30));
        let record = rig.store.record(&n.id).unwrap();
        assert_eq!(
            (record.status, record.attempts),
            (Status::Queued, 0),
            "never claimed"
        );
        assert_eq!(rig.provider.calls().len(), 3);

        // After the cool-down one probe goes through and, succeeding, closes the circuit.
        rig.clock.advance(Duration::from_secs(30));
        assert_eq!(
            rig.worker.process(&sqs_message(&n, "late-2", 1)).await,
            Outcome::Sent
        );
        let other = stored(&rig);
        assert_eq!(
            rig.worker.process(&sqs_message(&other, "next", 1)).await,
            Outcome::Sent
        );
    }

    #[tokio::test]
    async fn a_redriven_notification_is_retried_on_the_targets_its_retries_ran_out_on() {
        let provider = ScriptedProvider::new(Channel::Email)
            .with_targets(vec![device("ok"), device("flaky")])
            .then_for("flaky", Err(throttled()));
        let two = rig(provider);
        let n = stored(&two);
        // On the last receive `flaky` is given up on; `ok` got it, so the record says sent.
        assert!(is_retry(
            &two.worker.process(&sqs_message(&n, "m1", 3)).await
        ));
        let given_up = two.store.record(&n.id).unwrap();
        assert_eq!(given_up.status, Status::Sent);
        assert_eq!(
            given_up.deliveries[1].error.as_ref().unwrap().code,
            RETRIES_EXHAUSTED
        );

        // A one-target notification whose retries ran out is `failed`; redriven, it is sent.
        let single = rig(ScriptedProvider::new(Channel::Email).then(Err(throttled())));
        let m = stored(&single);
        single.worker.process(&sqs_message(&m, "m1", 3)).await;
        assert_eq!(single.store.record(&m.id).unwrap().status, Status::Failed);
        assert_eq!(
            single.worker.process(&sqs_message(&m, "redriven", 1)).await,
            Outcome::Sent
        );
        let after = single.store.record(&m.id).unwrap();
        assert_eq!(
            (after.status, after.deliveries[0].status),
            (Status::Sent, DeliveryStatus::Sent)
        );
        assert_eq!(single.provider.calls().len(), 2);
    }

    /// A test key's notification (issue "Tenants and API keys"): the simulator stands in for
    /// the provider, chosen by the address, and the provider is never called.
    #[tokio::test]
    async fn a_test_keys_notification_meets_the_simulator_and_never_the_provider() {
        use crate::domain::{EmailAddress, Recipient};
        let rig = rig(ScriptedProvider::new(Channel::Email));
        let test_email = |to: &str| {
            let mut n = queued_email();
            n.test = true;
            n.recipient = Recipient::Email(EmailAddress::parse(to).unwrap());
            futures::executor::block_on(rig.store.insert(&n)).unwrap();
            n
        };
        let delivered = test_email("jane@example.com");
        let bounced = test_email("bounce@simulator.notify");
        let later = test_email("temp-fail@simulator.notify");
        let w = &rig.worker;
        assert_eq!(
            w.process(&sqs_message(&delivered, "m1", 1)).await,
            Outcome::Sent
        );
        let after = rig.store.record(&delivered.id).unwrap();
        assert_eq!(after.status, Status::Delivered);
        assert_eq!(after.provider.as_deref(), Some("simulator"));
        assert_eq!(
            w.process(&sqs_message(&bounced, "m2", 1)).await,
            Outcome::Failed
        );
        let after = rig.store.record(&bounced.id).unwrap();
        assert_eq!(after.status, Status::Failed);
        assert_eq!(after.error.unwrap().code, "Bounced");
        assert!(is_retry(&w.process(&sqs_message(&later, "m3", 1)).await));
        rig.clock.advance(Duration::from_secs(60));
        assert_eq!(
            w.process(&sqs_message(&later, "m3", 2)).await,
            Outcome::Sent,
            "a temporary failure passes"
        );
        let after = rig.store.record(&later.id).unwrap();
        assert_eq!((after.status, after.attempts), (Status::Delivered, 2));
        assert!(rig.provider.calls().is_empty(), "no provider call");
    }

    /// A provider's send rate across two concurrent workers (issue "Tenants and API keys"):
    /// no second holds more sends than the rate; the rest come back later without using a
    /// receive, low priority later than normal.
    #[tokio::test]
    async fn two_workers_never_pass_the_providers_rate_and_delay_the_rest() {
        use crate::{domain::Priority, provider::PacedProvider, store::MemoryCounters};
        let store = Arc::new(MemoryStore::new());
        let provider = Arc::new(ScriptedProvider::new(Channel::Email));
        let counters = Arc::new(MemoryCounters::new());
        // The middle of a second: the next one is 500 ms away.
        let clock = ManualClock::at(Timestamp::from_millis(1_800_000_000_500).unwrap());
        let worker = || {
            let paced = PacedProvider {
                inner: provider.clone(),
                counters: counters.clone(),
                clock: Arc::new(clock.clone()),
                per_second: 3,
            };
            let settings = DeliverySettings {
                max_receives: 3,
                concurrency: 4,
                lease: Duration::from_secs(60),
                retry_base: Duration::from_secs(10),
                retry_max: Duration::from_secs(60),
                breaker_threshold: 3,
                breaker_cooldown: Duration::from_secs(30),
                send_rate: Some(3),
            };
            DeliveryWorker::new(
                store.clone(),
                Arc::new(paced),
                Arc::new(MemoryRedelivery::new()),
                Arc::new(clock.clone()),
                settings,
            )
        };
        let (a, b) = (worker(), worker());
        let mut notifications = Vec::new();
        for i in 0..10 {
            let mut n = queued_email();
            n.priority = if i == 9 {
                Priority::Low
            } else {
                Priority::Normal
            };
            store.insert(&n).await.unwrap();
            notifications.push(n);
        }
        let round = |notifications: Vec<Notification>| {
            let (a, b) = (&a, &b);
            async move {
                let runs = notifications.iter().enumerate().map(|(i, n)| {
                    let w = if i % 2 == 0 { a } else { b };
                    let m = sqs_message(n, &format!("m{i}"), 1);
                    async move { (n.clone(), w.process(&m).await) }
                });
                futures::future::join_all(runs).await
            }
        };
        let first = round(notifications).await;
        let sent = first.iter().filter(|(_, o)| *o == Outcome::Sent).count();
        assert_eq!(sent, 3, "the rate: {first:?}");
        assert_eq!(provider.calls().len(), 3);
        let mut later = Vec::new();
        for (n, outcome) in first {
            match outcome {
                Outcome::Sent => {}
                Outcome::Deferred { after } => {
                    let want = if n.priority == Priority::Low {
                        3_500
                    } else {
                        1_500
                    };
                    assert_eq!(after, Duration::from_millis(want), "{:?}", n.priority);
                    assert_eq!(
                        store.record(&n.id).unwrap().status,
                        Status::Queued,
                        "claim released"
                    );
                    later.push(n);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(later.len(), 7);
        clock.advance(Duration::from_secs(1));
        let second = round(later).await;
        assert_eq!(
            second.iter().filter(|(_, o)| *o == Outcome::Sent).count(),
            3
        );
        assert_eq!(provider.calls().len(), 6);
    }
}
