//! The scheduled function. EventBridge invokes it every minute with `{"task": "sweep"}` and
//! every hour with `{"task": "purge"}`:
//!
//! - **sweep** acts on every notification whose *due* marker fell due (see
//!   `notify_shared::domain::schedule`): it queues scheduled ones shortly before their time,
//!   sends the queue message of ones the API recorded but never confirmed queued (it died
//!   between the two writes), and marks ones not delivered within their lifetime `expired`;
//!   then it looks into every dead-letter queue and marks the notification of each message
//!   that arrived there `failed` (`dead_lettered`) while its record still waited (`queued`,
//!   `sending`): every invocation for it crashed or timed out, so no worker could say so. The
//!   message stays in the queue: a redrive sends it;
//! - **purge** deletes what outlived its time and DynamoDB TTL has not removed yet
//!   (notifications past retention, idempotency keys, devices not seen for their idle limit).
//!
//! Both stop cleanly before the function's deadline (the purge resumes where it stopped), and
//! are safe to run twice at once: every change is conditional, and a message queued twice is
//! sent once (the workers' claim).

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use notify_shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, DLQ_VARS, Env, QueueUrls, StoreSettings},
    dispatch,
    domain::{
        Channel, Notification, NotificationId, Priority, Status,
        schedule::{self, DueKind},
    },
    metrics::Metrics,
    queue::{DeadLetters, NotificationQueue, SqsDeadLetters, SqsQueue},
    store::{
        BatchStore, DynamoStore, NotificationStore, Purge, PurgeReport, StoreError, Transition,
        TransitionOutcome,
    },
};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// Work stops this long before the function's deadline.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);
const PAGE: usize = 100;
const CONCURRENCY: usize = 10;
/// Dead-lettered messages looked at per queue and sweep (each costs a read of its record):
/// at most 100 × 12 queues a minute, whatever a dead-letter queue holds.
const DEAD_PER_QUEUE: usize = 100;
/// Unsettled batch outboxes looked at per sweep (each holds up to 10,000 notifications).
const OUTBOXES_PER_SWEEP: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    #[default]
    Sweep,
    Purge,
}

/// The invocation's input: EventBridge's constant input, or any event (a plain scheduled
/// event sweeps).
#[derive(Debug, Default, Deserialize)]
pub struct Input {
    #[serde(default)]
    pub task: Task,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub released: usize,
    pub requeued: usize,
    pub expired: usize,
    /// Notifications found dead-lettered while their record still waited: now `failed`.
    pub dead_lettered: usize,
    /// Due entries left for a later run (a live lease, an index not caught up, a failure).
    pub skipped: usize,
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Released,
    Requeued,
    Expired,
    Skipped,
}

#[derive(Debug, Clone)]
pub struct CleanupConfig {
    pub store: StoreSettings,
    pub queues: QueueUrls,
    /// Their dead-letter queues, which the sweep reconciles with the records.
    pub dlqs: QueueUrls,
}

impl CleanupConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            queues: QueueUrls::from_env(env, &Channel::ALL)?,
            dlqs: QueueUrls::from_env_prefixed(env, DLQ_VARS, &Channel::ALL)?,
        })
    }
}

pub struct Cleanup {
    store: Arc<dyn NotificationStore>,
    batches: Arc<dyn BatchStore>,
    purger: Arc<dyn Purge>,
    queue: Arc<dyn NotificationQueue>,
    dead_letters: Arc<dyn DeadLetters>,
    clock: Arc<dyn Clock>,
    lifetime: Duration,
}

impl Cleanup {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        batches: Arc<dyn BatchStore>,
        purger: Arc<dyn Purge>,
        queue: Arc<dyn NotificationQueue>,
        dead_letters: Arc<dyn DeadLetters>,
        clock: Arc<dyn Clock>,
        lifetime: Duration,
    ) -> Self {
        Self {
            store,
            batches,
            purger,
            queue,
            dead_letters,
            clock,
            lifetime,
        }
    }

    /// The production wiring: DynamoDB and SQS.
    pub fn from_aws(sdk: &aws_config::SdkConfig, config: CleanupConfig) -> Self {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dead_letters = SqsDeadLetters::new(sqs.clone(), config.queues.clone(), config.dlqs);
        let queue = SqsQueue::new(sqs, config.queues);
        Self::new(
            store.clone(),
            store.clone(),
            store,
            Arc::new(queue),
            Arc::new(dead_letters),
            Arc::new(SystemClock),
            config.store.lifetime,
        )
    }

    /// Runs `input`'s task until done or `deadline`, and reports it as metrics and a log line.
    pub async fn run(
        &self,
        input: Input,
        deadline: Instant,
    ) -> Result<serde_json::Value, StoreError> {
        let started = Instant::now();
        match input.task {
            Task::Sweep => {
                let r = self.sweep(deadline).await?;
                Metrics::new()
                    .dimension("Task", "sweep")
                    .count("Released", r.released)
                    .count("Requeued", r.requeued)
                    .count("Expired", r.expired)
                    .count("DeadLettered", r.dead_lettered)
                    .count("Skipped", r.skipped)
                    .milliseconds("Duration", started.elapsed().as_secs_f64() * 1000.0)
                    .emit();
                info!(report = ?r, "sweep done");
                Ok(serde_json::to_value(r).unwrap_or_default())
            }
            Task::Purge => {
                let r: PurgeReport = self.purger.purge(self.clock.now(), deadline).await?;
                Metrics::new()
                    .dimension("Task", "purge")
                    .count("PurgedNotifications", r.notifications)
                    .count("PurgedIdempotencyKeys", r.idempotency_keys)
                    .count("PurgedDevices", r.devices)
                    .milliseconds("Duration", started.elapsed().as_secs_f64() * 1000.0)
                    .emit();
                info!(report = ?r, "purge done");
                Ok(serde_json::json!({
                    "notifications": r.notifications,
                    "idempotencyKeys": r.idempotency_keys,
                    "devices": r.devices,
                    "complete": r.complete,
                }))
            }
        }
    }

    /// Acts on everything due now, page by page, until nothing new is due or `deadline`.
    pub async fn sweep(&self, deadline: Instant) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut seen: HashSet<NotificationId> = HashSet::new();
        loop {
            if Instant::now() >= deadline {
                warn!("sweep stopped at its deadline; the next run continues");
                return Ok(report);
            }
            let now = self.clock.now();
            // Entries left due (skipped) come back in every page: only new ones count.
            let fresh: Vec<NotificationId> = self
                .store
                .due(now, seen.len() + PAGE)
                .await?
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
            if fresh.is_empty() {
                let (sent, left) = self.sweep_outboxes(now, deadline).await;
                report.requeued += sent;
                report.skipped += left;
                report.dead_lettered = self.reconcile_dead_letters(deadline).await;
                report.complete = Instant::now() < deadline;
                return Ok(report);
            }
            let actions: Vec<Action> = stream::iter(fresh)
                .map(|id| async move { self.act(&id, now).await })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for a in actions {
                match a {
                    Action::Released => report.released += 1,
                    Action::Requeued => report.requeued += 1,
                    Action::Expired => report.expired += 1,
                    Action::Skipped => report.skipped += 1,
                }
            }
        }
    }

    /// Sends the messages of the notifications still `queued` in each outbox its batch request
    /// never settled (it died after writing its records, or the queue refused some), then
    /// settles it with what is still not sent. A message the request did send before dying
    /// goes out twice and is sent once (the workers' claim). Returns how many messages went
    /// out, and how many are left for the next sweep.
    async fn sweep_outboxes(
        &self,
        now: notify_shared::domain::time::Timestamp,
        deadline: Instant,
    ) -> (usize, usize) {
        let due = match self.batches.due_outboxes(now, OUTBOXES_PER_SWEEP).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "could not read the outboxes due; the next sweep tries again");
                return (0, 0);
            }
        };
        let (mut sent, mut left_over) = (0, 0);
        for outbox in due {
            if Instant::now() >= deadline {
                break;
            }
            let pending: Vec<(u32, NotificationId)> = outbox.pending_ids().collect();
            let ids: Vec<NotificationId> = pending.iter().map(|(_, id)| id.clone()).collect();
            let records: Vec<Result<Option<Notification>, StoreError>> = stream::iter(ids)
                .map(|id| async move { self.store.get(&id, now).await })
                .buffered(CONCURRENCY)
                .collect()
                .await;
            let mut left: Vec<u32> = Vec::new();
            let mut queued: Vec<Notification> = Vec::new();
            for ((index, _), record) in pending.iter().zip(records) {
                match record {
                    // Written for this tenant's request, and still waiting for its message.
                    Ok(Some(n)) if n.status == Status::Queued && n.tenant == outbox.tenant => {
                        queued.push(n)
                    }
                    // Claimed, settled, or never written (the request failed to): done.
                    Ok(_) => {}
                    Err(_) => left.push(*index),
                }
            }
            let refs: Vec<&Notification> = queued.iter().collect();
            let failed = dispatch::send_all(self.queue.as_ref(), &refs, now).await;
            left.extend(
                failed
                    .iter()
                    .filter_map(|&i| queued.get(i)?.id.index_in(&outbox.first)),
            );
            sent += queued.len() - failed.len();
            left_over += left.len();
            if !queued.is_empty() {
                warn!(
                    count = queued.len() - failed.len(),
                    "queued notifications of a batch its request had not confirmed queued"
                );
            }
            if let Err(e) = self
                .batches
                .settle_outbox(&outbox, &left.into_iter().collect())
                .await
            {
                warn!(error = %e, "could not settle an outbox; the next sweep sends its messages again");
            }
        }
        (sent, left_over)
    }

    /// Marks `failed` (`dead_lettered`) the notifications whose messages arrived in a
    /// dead-letter queue while their records still waited; returns how many. A queue that
    /// cannot be read is left for the next sweep.
    async fn reconcile_dead_letters(&self, deadline: Instant) -> usize {
        let mut marked = 0;
        for channel in Channel::ALL {
            for priority in Priority::ALL {
                if Instant::now() >= deadline {
                    return marked;
                }
                let dead = match self
                    .dead_letters
                    .look(channel, priority, DEAD_PER_QUEUE)
                    .await
                {
                    Ok(dead) => dead,
                    Err(e) => {
                        warn!(error = %e, %channel, %priority, "could not look into the dead-letter queue");
                        continue;
                    }
                };
                for m in dead {
                    // A read (half the price of a refused conditional write) spares the
                    // settled ones, which stay in the queue until a redrive or their expiry.
                    let now = self.clock.now();
                    match self.store.get(&m.id, now).await {
                        Ok(Some(n)) if matches!(n.status, Status::Queued | Status::Sending) => {}
                        Ok(_) => continue,
                        Err(e) => {
                            warn!(error = %e, notification_id = %m.id, "could not read a dead-lettered notification");
                            continue;
                        }
                    }
                    match self
                        .store
                        .transition(&m.id, &Transition::dead_lettered(self.clock.now()))
                        .await
                    {
                        Ok(TransitionOutcome::Applied(_)) => {
                            warn!(notification_id = %m.id, %channel, %priority, "dead-lettered without an answer: marked failed");
                            marked += 1;
                        }
                        // Settled already (the worker said so), or gone.
                        Ok(TransitionOutcome::Refused(_)) => {}
                        Err(e) => {
                            warn!(error = %e, notification_id = %m.id, "could not mark a dead-lettered notification")
                        }
                    }
                }
            }
        }
        marked
    }

    async fn act(
        &self,
        id: &NotificationId,
        now: notify_shared::domain::time::Timestamp,
    ) -> Action {
        match self.try_act(id, now).await {
            Ok(action) => action,
            Err(e) => {
                error!(notification_id = %id, error = %e, "sweep could not act; the next run retries");
                Action::Skipped
            }
        }
    }

    async fn try_act(
        &self,
        id: &NotificationId,
        now: notify_shared::domain::time::Timestamp,
    ) -> Result<Action, Box<dyn std::error::Error + Send + Sync>> {
        let Some(n) = self.store.get(id, now).await? else {
            return Ok(Action::Skipped);
        };
        let Some(due) = n.due else {
            return Ok(Action::Skipped);
        };
        if due.at > now {
            // An entry left at the grace period when the message was confirmed sent
            // (`confirm_enqueued`), for a notification still not settled: moved to its
            // marker, so later sweeps do not read the record again.
            self.store.replace_due(id, due.kind, due).await?;
            return Ok(Action::Skipped);
        }
        match (due.kind, n.status) {
            (DueKind::Release, Status::Scheduled) => {
                let (_, pending) = schedule::enqueue_pending(now);
                match self
                    .store
                    .transition(id, &Transition::released(pending, now))
                    .await?
                {
                    TransitionOutcome::Applied(queued) => {
                        self.enqueue(&queued, now).await?;
                        info!(notification_id = %id, "released a scheduled notification");
                        Ok(Action::Released)
                    }
                    TransitionOutcome::Refused(_) => Ok(Action::Skipped),
                }
            }
            (DueKind::Enqueue, Status::Queued) => {
                // Recorded, but the API never confirmed its message: it died between the two.
                self.enqueue(&n, now).await?;
                warn!(notification_id = %id, "queued a notification the API had recorded but not queued");
                Ok(Action::Requeued)
            }
            (DueKind::Enqueue, Status::Sending) => {
                // Its message went out (a worker holds it) though the API never said so: what
                // is left due is the end of its lifetime.
                let expiry = schedule::expiry(n.created_at, n.scheduled_at, self.lifetime);
                self.store.replace_due(id, DueKind::Enqueue, expiry).await?;
                Ok(Action::Skipped)
            }
            (DueKind::Expire, Status::Draft) => {
                match self
                    .store
                    .transition(id, &Transition::draft_expired(now))
                    .await?
                {
                    TransitionOutcome::Applied(_) => {
                        info!(notification_id = %id, "expired a draft nobody approved");
                        Ok(Action::Expired)
                    }
                    // Approved or rejected meanwhile.
                    TransitionOutcome::Refused(_) => Ok(Action::Skipped),
                }
            }
            (DueKind::Expire, Status::Scheduled | Status::Queued | Status::Sending) => {
                let reason = format!(
                    "not delivered within {} hours",
                    self.lifetime.as_secs() / 3600
                );
                match self
                    .store
                    .transition(id, &Transition::expired(reason, now))
                    .await?
                {
                    TransitionOutcome::Applied(_) => {
                        warn!(notification_id = %id, "expired a notification never delivered");
                        Ok(Action::Expired)
                    }
                    // A worker still holds it under a live lease: later.
                    TransitionOutcome::Refused(_) => Ok(Action::Skipped),
                }
            }
            _ => Ok(Action::Skipped),
        }
    }

    async fn enqueue(
        &self,
        n: &Notification,
        now: notify_shared::domain::time::Timestamp,
    ) -> Result<(), notify_shared::queue::QueueError> {
        dispatch::enqueue(
            self.store.as_ref(),
            self.queue.as_ref(),
            n,
            now,
            self.lifetime,
        )
        .await
    }
}

/// The budget when the context carries no real deadline.
pub const LOCAL_BUDGET: Duration = Duration::from_secs(60);

/// The instant to stop by, from the Lambda context's deadline (epoch milliseconds).
///
/// `cargo lambda watch` sends a constant (600000, early 1970) rather than a time; a deadline
/// already past can only be such a stand-in, so it gets [`LOCAL_BUDGET`] instead of no time at all.
pub fn stop_by(deadline_epoch_ms: u64) -> Instant {
    let now_ms = u64::try_from(SystemClock.now().as_millis()).unwrap_or(0);
    let left = match deadline_epoch_ms.checked_sub(now_ms) {
        Some(left) if left > 0 => Duration::from_millis(left),
        _ => LOCAL_BUDGET,
    };
    Instant::now() + left.saturating_sub(SAFETY_MARGIN)
}

#[cfg(test)]
mod tests {
    use notify_shared::{
        clock::ManualClock,
        domain::{
            Channel, Content, Draft, EmailAddress, EmailContent, Priority, Recipient, TenantId,
            time::Timestamp,
        },
        queue::{MemoryDeadLetters, MemoryQueue, QueueMessage},
        store::{MemoryStore, Outbox},
    };

    use super::*;

    struct Rig {
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        dead_letters: Arc<MemoryDeadLetters>,
        clock: ManualClock,
        cleanup: Cleanup,
    }

    fn rig() -> Rig {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        let clock = ManualClock::at(Timestamp::from_millis(1_800_000_000_000).unwrap());
        let cleanup = Cleanup::new(
            store.clone(),
            store.clone(),
            store.clone(),
            queue.clone(),
            dead_letters.clone(),
            Arc::new(clock.clone()),
            Duration::from_secs(3600),
        );
        Rig {
            store,
            queue,
            dead_letters,
            clock,
            cleanup,
        }
    }

    fn draft(scheduled_at: Option<Timestamp>) -> Draft {
        Draft {
            channel: Channel::Email,
            priority: Priority::Normal,
            recipient: Recipient::Email(EmailAddress::parse("ann@example.com").unwrap()),
            content: Content::Email(EmailContent {
                subject: "s".into(),
                text: Some("t".into()),
                html: None,
                reply_to: None,
                from_name: None,
                unsubscribe_url: None,
            }),
            category: None,
            metadata: Default::default(),
            scheduled_at,
            batch_id: None,
            template: None,
            reference: None,
            callback_url: None,
            user_id: None,
        }
    }

    async fn accepted(rig: &Rig, scheduled_at: Option<Timestamp>) -> Notification {
        let n = Notification::accept(
            NotificationId::generate(),
            draft(scheduled_at),
            TenantId::new("acme"),
            rig.clock.now(),
            Duration::from_secs(86_400),
        );
        rig.store.insert(&n).await.unwrap();
        n
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_scheduled_notification_is_released_a_minute_before_its_time() {
        let rig = rig();
        let at = rig.clock.now().plus(Duration::from_secs(20 * 60));
        let n = accepted(&rig, Some(at)).await;
        assert_eq!(n.status, Status::Scheduled);

        rig.clock.advance(Duration::from_secs(18 * 60));
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().released, 0);
        assert!(rig.queue.messages().is_empty());

        rig.clock.advance(Duration::from_secs(60));
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!((report.released, report.complete), (1, true));
        let (message, delay) = &rig.queue.messages()[0];
        assert_eq!(
            (&message.id, *delay),
            (&n.id, Duration::from_secs(60)),
            "the exact remainder"
        );
        let record = rig.store.record(&n.id).unwrap();
        assert_eq!(record.status, Status::Queued);
        assert_eq!(
            record.due.unwrap().kind,
            DueKind::Expire,
            "confirmed queued"
        );
    }

    #[tokio::test]
    async fn a_notification_recorded_but_never_queued_is_queued_after_the_grace_period() {
        let rig = rig();
        // The API wrote the record and died before sending the message.
        let n = accepted(&rig, None).await;
        assert_eq!(
            rig.cleanup.sweep(later()).await.unwrap().requeued,
            0,
            "within the grace period"
        );
        rig.clock.advance(schedule::ENQUEUE_GRACE);
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().requeued, 1);
        assert_eq!(rig.queue.messages()[0].0.id, n.id);
        // Done once: the marker now says when it expires.
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().requeued, 0);
        assert_eq!(rig.queue.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_notification_still_queued_after_the_grace_period_is_not_queued_again() {
        let rig = rig();
        let n = accepted(&rig, None).await;
        let lifetime = Duration::from_secs(3600);
        dispatch::enqueue(
            rig.store.as_ref(),
            rig.queue.as_ref(),
            &n,
            rig.clock.now(),
            lifetime,
        )
        .await
        .unwrap();
        rig.clock.advance(schedule::ENQUEUE_GRACE);
        // Confirming the message left the index entry at the grace period (no index write).
        assert_eq!(
            rig.store.due(rig.clock.now(), 10).await.unwrap(),
            vec![n.id]
        );
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!((report.requeued, report.expired), (0, 0));
        assert_eq!(rig.queue.messages().len(), 1, "only the API's message");
        // The entry now waits for the end of the lifetime, where the marker is.
        assert!(rig.store.due(rig.clock.now(), 10).await.unwrap().is_empty());
        rig.clock.advance(lifetime);
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().expired, 1);
    }

    #[tokio::test]
    async fn a_batch_whose_request_died_before_its_messages_is_queued_after_the_grace_period() {
        let rig = rig();
        let (first, now, day) = (
            NotificationId::generate(),
            rig.clock.now(),
            Duration::from_secs(86_400),
        );
        // A batch request wrote its outbox and three records (with their expiry, as it does),
        // then died before sending anything; a fourth record it never wrote.
        let records: Vec<Notification> = (0..3)
            .map(|i| {
                let mut n = Notification::accept(
                    first.nth(i),
                    draft(None),
                    TenantId::new("acme"),
                    now,
                    day,
                );
                n.due = Some(schedule::expiry(now, None, Duration::from_secs(3600)));
                n
            })
            .collect();
        rig.store
            .open_outbox(&Outbox {
                id: "request-1".into(),
                tenant: TenantId::new("acme"),
                first: first.clone(),
                pending: (0..4).collect(),
                due_at: now.plus(schedule::ENQUEUE_GRACE),
                expires_at: now.plus(day),
            })
            .await
            .unwrap();
        assert!(rig.store.insert_many(&records).await.is_empty());
        // One was claimed meanwhile (a redelivery, or a message sent after all).
        let lease = notify_shared::domain::Lease {
            token: "w".into(),
            until_ms: now.plus(Duration::from_secs(60)).as_millis(),
        };
        rig.store
            .transition(&first.nth(1), &Transition::claim(lease, now))
            .await
            .unwrap();
        assert_eq!(
            rig.cleanup.sweep(later()).await.unwrap().requeued,
            0,
            "within the grace period"
        );

        rig.clock.advance(schedule::ENQUEUE_GRACE);
        rig.queue.refuse_sends(1);
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!((report.requeued, report.skipped), (1, 1));
        let left = rig.store.outboxes();
        assert_eq!(left.len(), 1, "what the queue refused stays pending");
        assert_eq!(left[0].pending, [0].into_iter().collect());

        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().requeued, 1);
        assert!(rig.store.outboxes().is_empty());
        let sent = rig.queue.sent_ids();
        assert_eq!(
            sent,
            [first.nth(2), first.nth(0)],
            "each queued one once; not the claimed one"
        );
    }

    #[tokio::test]
    async fn a_notification_claimed_though_never_confirmed_queued_waits_for_its_expiry() {
        let rig = rig();
        // The API sent the message and died before confirming it; a worker claimed it.
        let n = accepted(&rig, None).await;
        let lease = notify_shared::domain::Lease {
            token: "w".into(),
            until_ms: rig.clock.now().plus(Duration::from_secs(600)).as_millis(),
        };
        rig.store
            .transition(&n.id, &Transition::claim(lease, rig.clock.now()))
            .await
            .unwrap();
        rig.clock.advance(schedule::ENQUEUE_GRACE);
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!((report.requeued, report.expired), (0, 0));
        assert!(rig.queue.messages().is_empty(), "nothing queued again");
        let due = rig.store.record(&n.id).unwrap().due.unwrap();
        assert_eq!(
            (due.kind, due.at),
            (
                DueKind::Expire,
                n.created_at.plus(Duration::from_secs(3600))
            )
        );
        assert!(rig.store.due(rig.clock.now(), 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_notification_not_delivered_within_its_lifetime_expires() {
        let rig = rig();
        let n = accepted(&rig, None).await;
        dispatch::enqueue(
            rig.store.as_ref(),
            rig.queue.as_ref(),
            &n,
            rig.clock.now(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        rig.clock.advance(Duration::from_secs(3599));
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().expired, 0);
        rig.clock.advance(Duration::from_secs(2));
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().expired, 1);
        let record = rig.store.record(&n.id).unwrap();
        assert_eq!((record.status, record.due), (Status::Expired, None));
    }

    /// A draft nobody approved (issue "Tenants and API keys"): expired at its marker, never
    /// queued.
    #[tokio::test]
    async fn a_draft_not_approved_in_time_expires() {
        let rig = rig();
        let mut n = Notification::accept(
            NotificationId::generate(),
            draft(None),
            TenantId::new("acme"),
            rig.clock.now(),
            Duration::from_secs(86_400),
        );
        n.status = Status::Draft;
        n.due = Some(notify_shared::domain::schedule::Due {
            kind: DueKind::Expire,
            at: rig.clock.now().plus(Duration::from_secs(3600)),
        });
        rig.store.insert(&n).await.unwrap();
        rig.clock.advance(Duration::from_secs(3599));
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().expired, 0);
        rig.clock.advance(Duration::from_secs(2));
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().expired, 1);
        let record = rig.store.record(&n.id).unwrap();
        assert_eq!((record.status, record.due), (Status::Expired, None));
        assert!(rig.queue.messages().is_empty(), "never queued");
    }

    #[tokio::test]
    async fn a_live_claim_is_not_expired_and_the_sweep_still_ends() {
        let rig = rig();
        let n = accepted(&rig, None).await;
        dispatch::enqueue(
            rig.store.as_ref(),
            rig.queue.as_ref(),
            &n,
            rig.clock.now(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        rig.clock.advance(Duration::from_secs(61));
        let lease = notify_shared::domain::Lease {
            token: "w".into(),
            until_ms: rig.clock.now().plus(Duration::from_secs(120)).as_millis(),
        };
        rig.store
            .transition(&n.id, &Transition::claim(lease, rig.clock.now()))
            .await
            .unwrap();
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!(
            (report.expired, report.skipped, report.complete),
            (0, 1, true)
        );
    }

    #[tokio::test]
    async fn a_cancelled_notification_is_never_released() {
        let rig = rig();
        let n = accepted(&rig, Some(rig.clock.now().plus(Duration::from_secs(3600)))).await;
        rig.store
            .transition(&n.id, &Transition::cancelled(rig.clock.now()))
            .await
            .unwrap();
        rig.clock.advance(Duration::from_secs(3600));
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                complete: true,
                ..Default::default()
            }
        );
        assert!(rig.queue.messages().is_empty());
    }

    #[test]
    fn a_past_deadline_is_a_local_stand_in_and_gets_the_local_budget() {
        let budget = stop_by(600_000).saturating_duration_since(Instant::now());
        assert!(budget > LOCAL_BUDGET - SAFETY_MARGIN - Duration::from_secs(1));
        let soon = SystemClock.now().as_millis() as u64 + 20_000;
        let budget = stop_by(soon).saturating_duration_since(Instant::now());
        assert!(budget <= Duration::from_secs(15) && budget > Duration::from_secs(10));
    }

    #[tokio::test]
    async fn the_sweep_stops_at_its_deadline() {
        let rig = rig();
        accepted(&rig, None).await;
        rig.clock.advance(schedule::ENQUEUE_GRACE);
        let report = rig.cleanup.sweep(Instant::now()).await.unwrap();
        assert!(!report.complete);
        assert!(rig.queue.messages().is_empty());
    }

    #[test]
    fn a_plain_scheduled_event_sweeps() {
        let plain: Input =
            serde_json::from_value(serde_json::json!({"source": "aws.events"})).unwrap();
        assert_eq!(plain.task, Task::Sweep);
        let purge: Input = serde_json::from_value(serde_json::json!({"task": "purge"})).unwrap();
        assert_eq!(purge.task, Task::Purge);
    }

    #[tokio::test]
    async fn a_notification_whose_message_was_dead_lettered_without_an_answer_is_failed_once() {
        let rig = rig();
        let waiting = accepted(&rig, None).await;
        let sent = accepted(&rig, None).await;
        rig.store
            .transition(
                &sent.id,
                &Transition::failed_before_sending(
                    notify_shared::domain::Failure {
                        code: "MessageRejected".into(),
                        message: "settled by its worker".into(),
                    },
                    rig.clock.now(),
                ),
            )
            .await
            .unwrap();
        for n in [&waiting, &sent] {
            rig.dead_letters.put(QueueMessage::new(
                n.id.clone(),
                n.tenant.clone(),
                n.channel,
                n.priority,
            ));
        }
        let report = rig.cleanup.sweep(later()).await.unwrap();
        assert_eq!(report.dead_lettered, 1, "{report:?}");
        let after = rig.store.record(&waiting.id).unwrap();
        assert_eq!(after.status, Status::Failed);
        assert_eq!(
            after.error.unwrap().code,
            notify_shared::store::DEAD_LETTERED
        );
        assert_eq!(
            rig.store.record(&sent.id).unwrap().error.unwrap().code,
            "MessageRejected",
            "a settled record keeps what its worker said"
        );
        assert_eq!(rig.cleanup.sweep(later()).await.unwrap().dead_lettered, 0);
    }

    #[tokio::test]
    async fn a_dead_lettered_notification_is_claimed_again_when_redriven() {
        let rig = rig();
        let n = accepted(&rig, None).await;
        rig.dead_letters.put(QueueMessage::new(
            n.id.clone(),
            n.tenant.clone(),
            n.channel,
            n.priority,
        ));
        rig.cleanup.sweep(later()).await.unwrap();
        let claim = Transition::claim(
            notify_shared::domain::Lease {
                token: "t".into(),
                until_ms: rig.clock.now().as_millis() + 60_000,
            },
            rig.clock.now(),
        );
        assert!(matches!(
            rig.store.transition(&n.id, &claim).await.unwrap(),
            TransitionOutcome::Applied(_)
        ));
    }
}
