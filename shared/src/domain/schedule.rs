//! When things about a notification fall due, and what the sweep does then.
//!
//! Every notification that is not settled carries one *due* marker, kept in a sparse index so
//! the scheduled sweep finds exactly the ones that need it:
//!
//! - `release` — a notification scheduled further ahead than SQS can delay a message waits as
//!   `scheduled`; shortly before its time the sweep queues it with the remaining delay;
//! - `enqueue` — set when the record is written, replaced once its queue message is sent. A
//!   marker still there after the grace period means the accept path died between the two
//!   writes: the sweep sends the message;
//! - `expire` — a notification still not delivered at the end of its lifetime is `expired`.
//!
//! Settling a notification (sent, failed, suppressed, cancelled, expired) removes its marker.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Status, time::Timestamp};

/// The longest `DelaySeconds` SQS allows
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html>).
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(15 * 60);
/// How far ahead the sweep releases a scheduled notification. The sweep runs every minute,
/// so each one is queued before its time with the exact remaining delay.
pub const RELEASE_LEAD: Duration = Duration::from_secs(60);
/// How long the accept path may take between writing the record and sending the message
/// before the sweep sends it instead.
pub const ENQUEUE_GRACE: Duration = Duration::from_secs(120);
/// How far ahead `scheduledAt` may be.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DueKind {
    Release,
    Enqueue,
    Expire,
}

impl DueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DueKind::Release => "release",
            DueKind::Enqueue => "enqueue",
            DueKind::Expire => "expire",
        }
    }
}

/// What falls due for a notification, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub kind: DueKind,
    pub at: Timestamp,
}

/// The status and marker of a notification accepted at `now`: `scheduled` when it must wait
/// longer than a queue message can, `queued` (its message possibly delayed) otherwise.
pub fn initial(now: Timestamp, scheduled_at: Option<Timestamp>) -> (Status, Due) {
    match scheduled_at {
        Some(at) if now.until(at) > MAX_QUEUE_DELAY => (
            Status::Scheduled,
            Due {
                kind: DueKind::Release,
                at: Timestamp::from_millis(at.as_millis() - RELEASE_LEAD.as_millis() as i64)
                    .unwrap_or(at),
            },
        ),
        _ => enqueue_pending(now),
    }
}

/// `queued`, with the marker that says its message is not confirmed sent yet.
pub fn enqueue_pending(now: Timestamp) -> (Status, Due) {
    (
        Status::Queued,
        Due {
            kind: DueKind::Enqueue,
            at: now.plus(ENQUEUE_GRACE),
        },
    )
}

/// The delay of a queue message sent at `now` for a notification wanted at `scheduled_at`.
pub fn queue_delay(now: Timestamp, scheduled_at: Option<Timestamp>) -> Duration {
    scheduled_at.map_or(Duration::ZERO, |at| now.until(at).min(MAX_QUEUE_DELAY))
}

/// The marker once the message is on its queue: the end of the notification's lifetime,
/// counted from when it was wanted.
pub fn expiry(now: Timestamp, scheduled_at: Option<Timestamp>, lifetime: Duration) -> Due {
    let start = scheduled_at.filter(|at| *at > now).unwrap_or(now);
    Due {
        kind: DueKind::Expire,
        at: start.plus(lifetime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + secs * 1000).unwrap()
    }

    #[test]
    fn within_the_sqs_delay_limit_the_message_waits_in_the_queue() {
        let (status, due) = initial(t(0), Some(t(10 * 60)));
        assert_eq!(
            (status, due.kind, due.at),
            (Status::Queued, DueKind::Enqueue, t(120))
        );
        assert_eq!(
            queue_delay(t(0), Some(t(10 * 60))),
            Duration::from_secs(600)
        );
        assert_eq!(initial(t(0), None).0, Status::Queued);
    }

    #[test]
    fn beyond_it_the_record_waits_and_is_released_a_minute_early() {
        let (status, due) = initial(t(0), Some(t(20 * 60)));
        assert_eq!(
            (status, due.kind, due.at),
            (Status::Scheduled, DueKind::Release, t(19 * 60))
        );
        // Released at its release time, the message carries the exact remainder.
        assert_eq!(
            queue_delay(t(19 * 60), Some(t(20 * 60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            queue_delay(t(20 * 60 + 5), Some(t(20 * 60))),
            Duration::ZERO,
            "late: at once"
        );
    }

    #[test]
    fn the_lifetime_counts_from_when_it_was_wanted() {
        let life = Duration::from_secs(3600);
        assert_eq!(expiry(t(0), None, life).at, t(3600));
        assert_eq!(expiry(t(0), Some(t(600)), life).at, t(4200));
        assert_eq!(
            expiry(t(900), Some(t(600)), life).at,
            t(4500),
            "a past schedule counts from now"
        );
    }
}
