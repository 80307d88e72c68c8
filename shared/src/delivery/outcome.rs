//! What became of one message, and the counts of a batch's outcomes for the metrics.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use crate::{
    domain::{Channel, Priority, Status},
    metrics::Metrics,
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
    pub(super) fn retry(reason: impl Into<String>) -> Self {
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
