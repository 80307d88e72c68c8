//! The one SQS batch loop every channel worker runs: claim → resolve targets → send → record,
//! the records of a batch in parallel, and a partial batch response so only the messages that
//! must be retried are.
//!
//! SQS delivers at least once, so the claim (a conditional status change to `sending` with a
//! lease) comes before any provider call: of two deliveries of one message only one can claim,
//! and the other sends nothing. Each target (the address; each device of a user) keeps its own
//! delivery state in the record, so a retry sends only to the targets still pending.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lambda_events::{
    event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage},
    sqs::BatchItemFailure,
};
use futures::{StreamExt, future::join_all, stream};
use tracing::{Instrument, error, info, info_span, warn};

use crate::{
    breaker::CircuitBreaker,
    clock::Clock,
    config::DeliverySettings,
    domain::{Channel, Delivery, DeliveryStatus, Failure, Lease, Notification, Priority, Status},
    metrics::Metrics,
    provider::{ErrorKind, Provider, ProviderError},
    queue::{QueueMessage, Redelivery, backoff},
    store::{
        NotificationStore, ProviderRef, RETRIES_EXHAUSTED, StoreError, Transition,
        TransitionOutcome,
    },
};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every target is settled and at least one accepted it; the record says `sent`.
    Sent,
    /// No target accepted it (permanent rejections); the record says `failed`.
    Failed,
    /// The recipient opted out; the record says `suppressed`.
    Suppressed,
    /// Nothing to send: the notification is already settled (a duplicate delivery) or gone.
    Skipped(Option<Status>),
    /// Leave the message on the queue for another receive (or, in the end, the dead-letter
    /// queue), after `after` if set (else the backoff); the reason is for the logs.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The provider's circuit is open: put the message back as a new one, after `after`,
    /// without claiming the notification or using up the message's receives.
    Deferred { after: Duration },
}

impl Outcome {
    fn retry(reason: impl Into<String>) -> Self {
        Outcome::Retry {
            reason: reason.into(),
            after: None,
        }
    }
}

/// What one batch did, per priority, for the metrics: one EMF line per priority per batch.
#[derive(Debug, Default)]
pub struct Tally {
    by_priority: Mutex<BTreeMap<Priority, Counts>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub sent: usize,
    pub failed: usize,
    pub suppressed: usize,
    pub retried: usize,
    pub deferred: usize,
    /// Deliveries with nothing to do: duplicates of a settled or cancelled notification.
    pub skipped: usize,
    pub provider_latency_ms: Vec<f64>,
}

impl Tally {
    fn with(&self, priority: Priority, f: impl FnOnce(&mut Counts)) {
        // A poisoned lock only means a panic elsewhere; the counts are still usable.
        let mut map = self
            .by_priority
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(priority).or_default());
    }

    pub fn outcome(&self, priority: Priority, outcome: &Outcome) {
        self.with(priority, |c| match outcome {
            Outcome::Sent => c.sent += 1,
            Outcome::Failed => c.failed += 1,
            Outcome::Suppressed => c.suppressed += 1,
            Outcome::Skipped(_) => c.skipped += 1,
            Outcome::Retry { .. } => c.retried += 1,
            Outcome::Deferred { .. } => c.deferred += 1,
        });
    }

    pub fn latency(&self, priority: Priority, took: Duration) {
        self.with(priority, |c| {
            c.provider_latency_ms.push(took.as_secs_f64() * 1000.0)
        });
    }

    pub fn counts(&self, priority: Priority) -> Counts {
        self.by_priority
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&priority)
            .cloned()
            .unwrap_or_default()
    }

    /// The EMF lines, by `Channel` and by `Channel`+`Priority`.
    pub fn metrics(&self, channel: Channel) -> Vec<Metrics> {
        let map = self
            .by_priority
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .map(|(priority, c)| {
                Metrics::new()
                    .dimension("Channel", channel.as_str())
                    .dimension("Priority", priority.as_str())
                    .count("Sent", c.sent)
                    .count("Failed", c.failed)
                    .count("Suppressed", c.suppressed)
                    .count("Retried", c.retried)
                    .count("Deferred", c.deferred)
                    .count("Skipped", c.skipped)
                    .milliseconds_each("ProviderLatency", &c.provider_latency_ms)
            })
            .collect()
    }
}

/// The status a notification ends in once none of its targets is pending, and why; `None`
/// while some target still waits for a retry.
pub fn summarise(deliveries: &[Delivery]) -> Option<(Status, Option<Failure>)> {
    if deliveries
        .iter()
        .any(|d| d.status == DeliveryStatus::Pending)
    {
        return None;
    }
    if deliveries.iter().any(|d| d.status == DeliveryStatus::Sent) {
        return Some((Status::Sent, None));
    }
    let first_error = deliveries.iter().find_map(|d| d.error.clone());
    if !deliveries.is_empty()
        && deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Suppressed)
    {
        return Some((Status::Suppressed, first_error));
    }
    let failure = match (deliveries.len(), first_error) {
        (1, Some(f)) => f,
        (n, Some(f)) => Failure {
            code: f.code,
            message: format!(
                "none of the {n} targets accepted it; first error: {}",
                f.message
            ),
        },
        (_, None) => Failure {
            code: "NoTargets".into(),
            message: "nothing to deliver to (no registered devices)".into(),
        },
    };
    Some((Status::Failed, Some(failure)))
}

pub struct DeliveryWorker {
    store: Arc<dyn NotificationStore>,
    provider: Arc<dyn Provider>,
    redelivery: Arc<dyn Redelivery>,
    clock: Arc<dyn Clock>,
    breaker: CircuitBreaker,
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
            redelivery,
            clock,
            breaker: CircuitBreaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            settings,
        }
    }

    /// The production wiring around `provider`: records in `store`, retries scheduled through
    /// SQS, the system clock.
    pub fn on_aws(
        sdk: &aws_config::SdkConfig,
        store: Arc<dyn NotificationStore>,
        provider: Arc<dyn Provider>,
        settings: DeliverySettings,
    ) -> Self {
        let redelivery = crate::queue::SqsRedelivery::new(aws_sdk_sqs::Client::new(sdk));
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
        let tally = &tally;
        let failures: Vec<BatchItemFailure> = stream::iter(event.records)
            .map(|message| async move {
                let keep = match self.process_counted(&message, tally).await {
                    Outcome::Retry { after, .. } => {
                        self.schedule_retry(&message, after).await;
                        true
                    }
                    // Deleted only once its copy is safely back on the queue.
                    Outcome::Deferred { after } => !self.defer(&message, after).await,
                    _ => false,
                };
                keep.then(|| {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message.message_id.unwrap_or_default();
                    failure
                })
            })
            .buffer_unordered(self.settings.concurrency)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        for line in tally.metrics(self.provider.channel()) {
            line.emit();
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }

    /// Puts a copy of the message back on its queue for after the cool-down; true if done.
    async fn defer(&self, message: &SqsMessage, after: Duration) -> bool {
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
    async fn schedule_retry(&self, message: &SqsMessage, after: Option<Duration>) {
        let (Some(arn), Some(handle)) = (&message.event_source_arn, &message.receipt_handle) else {
            return;
        };
        let delay = after.unwrap_or_else(|| {
            backoff(
                receive_count(message),
                self.settings.retry_base,
                self.settings.retry_max,
            )
        });
        if let Err(e) = self.redelivery.redeliver_after(arn, handle, delay).await {
            warn!(error = %e, "could not set the retry delay; the queue's visibility timeout applies");
        }
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

    async fn deliver(&self, body: &str, receive_count: u32, tally: &Tally) -> Outcome {
        let msg = match QueueMessage::from_body(body) {
            Ok(m) => m,
            // Kept, not dropped: after the last receive SQS moves it to the dead-letter queue
            // where an operator can see it.
            Err(e) => {
                error!(error = %e, "unreadable message body");
                return Outcome::retry(format!("unreadable message: {e}"));
            }
        };
        let span = tracing::Span::current();
        span.record("notification_id", msg.id.as_str());
        span.record("tenant", msg.tenant.as_str());
        if msg.channel != self.provider.channel() {
            error!(channel = %msg.channel, "message routed to the wrong worker");
            return Outcome::retry(format!(
                "{} message on a {} worker",
                msg.channel,
                self.provider.channel()
            ));
        }

        let now = self.clock.now();
        if let Err(wait) = self.breaker.allow(now) {
            info!(
                wait_s = wait.as_secs(),
                "circuit open: deferring the message"
            );
            return Outcome::Deferred { after: wait };
        }
        let lease = Lease {
            token: uuid::Uuid::new_v4().to_string(),
            until_ms: now.plus(self.settings.lease).as_millis(),
        };
        let n = match self
            .store
            .transition(&msg.id, &Transition::claim(lease.clone(), now))
            .await
        {
            Ok(TransitionOutcome::Applied(n)) => n,
            Ok(TransitionOutcome::Refused(None)) => {
                warn!("notification not found (expired or deleted): nothing to send");
                return Outcome::Skipped(None);
            }
            Ok(TransitionOutcome::Refused(Some(current))) => return self.refused_claim(&current),
            Err(e) => return Outcome::retry(format!("claim failed: {e}")),
        };
        let attempt = Attempt {
            worker: self,
            n: &n,
            token: &lease.token,
            receive_count,
        };

        // Targets are resolved once, on the first attempt; later attempts keep their states.
        let mut deliveries = n.deliveries.clone();
        // A redriven notification: the targets its retries ran out on are tried again.
        for d in deliveries.iter_mut() {
            if d.status == DeliveryStatus::Failed
                && d.error
                    .as_ref()
                    .is_some_and(|e| e.code == RETRIES_EXHAUSTED)
            {
                d.status = DeliveryStatus::Pending;
            }
        }
        if deliveries.is_empty() {
            match self.provider.targets(&n).await {
                Ok(targets) => deliveries = targets.into_iter().map(Delivery::pending).collect(),
                Err(e) if e.is_transient() => return attempt.retry_or_give_up(e, deliveries).await,
                Err(e) => {
                    return attempt
                        .settle(Status::Failed, deliveries, Some(e.to_failure()))
                        .await;
                }
            }
        }

        let pending: Vec<usize> = (0..deliveries.len())
            .filter(|&i| deliveries[i].status == DeliveryStatus::Pending)
            .collect();
        let sends = pending.iter().map(|&i| {
            let (n, to) = (&n, &deliveries[i].to);
            async move {
                let started = Instant::now();
                let result = self.provider.send(n, to).await;
                tally.latency(msg.priority, started.elapsed());
                result
            }
        });
        let results = join_all(sends).await;
        let mut transient: Option<ProviderError> = None;
        for (&i, result) in pending.iter().zip(results) {
            let d = &mut deliveries[i];
            match &result {
                Err(e) if e.is_transient() => {
                    self.breaker.record_transient_failure(self.clock.now())
                }
                _ => self.breaker.record_answer(),
            }
            match result {
                Ok(receipt) => {
                    info!(to = %d.to.masked(), provider_message_id = %receipt.message_id, "provider accepted the message");
                    d.status = DeliveryStatus::Sent;
                    d.provider_message_id = Some(receipt.message_id);
                    d.error = None;
                }
                Err(e) => {
                    warn!(to = %d.to.masked(), code = %e.code, error = %e.message, kind = ?e.kind, "provider refused");
                    d.error = Some(e.to_failure());
                    match e.kind {
                        ErrorKind::Permanent => d.status = DeliveryStatus::Failed,
                        ErrorKind::OptedOut => d.status = DeliveryStatus::Suppressed,
                        ErrorKind::TargetGone => {
                            d.status = DeliveryStatus::Failed;
                            self.provider.forget(&n, &d.to).await;
                        }
                        ErrorKind::Transient { .. } => {
                            // Keep the error that asks for the longest wait.
                            if transient
                                .as_ref()
                                .is_none_or(|t| e.retry_after() > t.retry_after())
                            {
                                transient = Some(e);
                            }
                        }
                    }
                }
            }
        }
        if let Some(e) = transient {
            return attempt.retry_or_give_up(e, deliveries).await;
        }
        match summarise(&deliveries) {
            Some((status, failure)) => attempt.settle(status, deliveries, failure).await,
            None => Outcome::retry("targets still pending"),
        }
    }

    fn refused_claim(&self, current: &Notification) -> Outcome {
        if current.status.is_settled() {
            info!(status = %current.status, "already settled: duplicate delivery, nothing sent");
            return Outcome::Skipped(Some(current.status));
        }
        match (current.status, &current.lease) {
            // Another delivery of this message holds a live claim. Keep this copy until that
            // one finishes: if its worker crashed, this copy takes over once the lease runs out.
            (Status::Sending, Some(lease)) => {
                let now = self.clock.now().as_millis();
                let left = Duration::from_millis(u64::try_from(lease.until_ms - now).unwrap_or(0));
                Outcome::Retry {
                    reason: "another delivery is sending this notification".into(),
                    after: Some(left + Duration::from_secs(1)),
                }
            }
            (other, _) => {
                warn!(status = %other, "not in a sendable status: nothing sent");
                Outcome::Skipped(Some(other))
            }
        }
    }
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// One claimed attempt at a notification: how it is recorded.
struct Attempt<'a> {
    worker: &'a DeliveryWorker,
    n: &'a Notification,
    token: &'a str,
    receive_count: u32,
}

impl Attempt<'_> {
    fn provider(&self) -> ProviderRef {
        ProviderRef {
            name: self.worker.provider.name().to_owned(),
            message_id: None,
        }
    }

    async fn settle(
        &self,
        status: Status,
        deliveries: Vec<Delivery>,
        failure: Option<Failure>,
    ) -> Outcome {
        let mut provider = self.provider();
        // With exactly one target, its provider id is the notification's.
        if let [only] = deliveries.as_slice() {
            provider.message_id = only.provider_message_id.clone();
        }
        let change = Transition::settle(
            self.token,
            status,
            provider,
            deliveries,
            failure,
            self.worker.clock.now(),
        );
        self.record_after_send(&change).await;
        match status {
            Status::Sent => Outcome::Sent,
            Status::Suppressed => Outcome::Suppressed,
            _ => Outcome::Failed,
        }
    }

    /// A transient failure: back to the queue, or, on the last receive SQS allows, the end.
    async fn retry_or_give_up(&self, e: ProviderError, mut deliveries: Vec<Delivery>) -> Outcome {
        if self.receive_count >= self.worker.settings.max_receives {
            // Record the end before the message goes to the dead-letter queue, so the record
            // and the DLQ agree.
            let failure = Failure {
                code: RETRIES_EXHAUSTED.into(),
                message: format!(
                    "gave up after {} attempts; last error {}: {}",
                    self.receive_count, e.code, e.message
                ),
            };
            for d in deliveries
                .iter_mut()
                .filter(|d| d.status == DeliveryStatus::Pending)
            {
                d.status = DeliveryStatus::Failed;
                d.error = Some(failure.clone());
            }
            let (status, summary) = summarise(&deliveries).unwrap_or((Status::Failed, None));
            let failure = if status == Status::Sent {
                None
            } else {
                summary.or(Some(failure))
            };
            self.settle(status, deliveries, failure).await;
            return Outcome::retry(format!("retries exhausted, to the dead-letter queue: {e}"));
        }
        let change = Transition::requeued(
            self.token,
            e.to_failure(),
            deliveries,
            self.worker.clock.now(),
        );
        if let Err(store_error) = self.worker.store.transition(&self.n.id, &change).await {
            // The lease runs out on its own; the next receive takes the record over.
            warn!(error = %store_error, "could not release the claim after a transient failure");
        }
        Outcome::Retry {
            reason: format!("transient provider error: {e}"),
            after: e.retry_after(),
        }
    }

    /// Records the result of provider calls. The provider has already acted, so the message
    /// must not be retried whatever happens here (a retry would send twice): a failed write is
    /// retried a few times, then logged loudly with everything needed to repair the record.
    async fn record_after_send(&self, change: &Transition) {
        const ATTEMPTS: u32 = 4;
        for attempt in 1..=ATTEMPTS {
            match self.worker.store.transition(&self.n.id, change).await {
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
                    tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(attempt))).await;
                }
                Err(e) => {
                    error!(
                        error = %e,
                        wanted = %change.to,
                        deliveries = ?change.deliveries,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::ManualClock,
        domain::{Address, Channel, DeviceToken, Platform, time::Timestamp},
        provider::{Receipt, ScriptedProvider},
        queue::{MemoryRedelivery, QueueMessage},
        store::{MemoryStore, tests::queued_email},
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

    fn raw_message(body: &str, message_id: &str, receive_count: u32) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(message_id.into());
        m.receipt_handle = Some(format!("rh-{message_id}"));
        m.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:notify-email-normal".into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        m
    }

    fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = messages;
        e
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

    fn delivery(status: DeliveryStatus, code: Option<&str>) -> Delivery {
        let mut d = Delivery::pending(device("t"));
        d.status = status;
        d.error = code.map(|c| Failure {
            code: c.into(),
            message: "m".into(),
        });
        d
    }

    #[test]
    fn the_summary_of_targets() {
        use DeliveryStatus::*;
        assert_eq!(
            summarise(&[delivery(Sent, None), delivery(Pending, Some("X"))]),
            None
        );
        assert_eq!(
            summarise(&[delivery(Sent, None), delivery(Failed, Some("UNREGISTERED"))]),
            Some((Status::Sent, None))
        );
        let (status, failure) = summarise(&[delivery(Suppressed, Some("OptedOut"))]).unwrap();
        assert_eq!(
            (status, failure.unwrap().code.as_str()),
            (Status::Suppressed, "OptedOut")
        );
        let (status, failure) = summarise(&[
            delivery(Failed, Some("UNREGISTERED")),
            delivery(Failed, Some("INVALID")),
        ])
        .unwrap();
        let failure = failure.unwrap();
        assert_eq!(
            (status, failure.code.as_str()),
            (Status::Failed, "UNREGISTERED")
        );
        assert!(
            failure.message.contains("none of the 2 targets"),
            "{}",
            failure.message
        );
        assert_eq!(summarise(&[]).unwrap().1.unwrap().code, "NoTargets");
    }
}
