//! Step 1, the claim. SQS delivers at least once, so before any provider call the worker
//! moves the record to `sending` with a lease, a conditional write: of two deliveries of one
//! message only one can claim, and the other sends nothing. The lease lets a later delivery
//! take over from a worker that crashed.

use std::time::Duration;

use tracing::{info, warn};

use super::outcome::Outcome;
use crate::{
    clock::Clock,
    domain::{Lease, Notification, NotificationId, Status, time::Timestamp},
    store::{NotificationStore, Transition, TransitionOutcome},
};

/// A notification this delivery holds, until its lease runs out.
pub(super) struct Claimed {
    pub notification: Notification,
    /// What every later change must name, so a worker that lost its lease changes nothing.
    pub token: String,
}

/// Claims the notification for `lease` from `now`, or says what to do with the message.
pub(super) async fn claim(
    store: &dyn NotificationStore,
    clock: &dyn Clock,
    id: &NotificationId,
    now: Timestamp,
    lease: Duration,
) -> Result<Claimed, Outcome> {
    let lease = Lease {
        token: uuid::Uuid::new_v4().to_string(),
        until_ms: now.plus(lease).as_millis(),
    };
    match store
        .transition(id, &Transition::claim(lease.clone(), now))
        .await
    {
        Ok(TransitionOutcome::Applied(notification)) => Ok(Claimed {
            notification,
            token: lease.token,
        }),
        Ok(TransitionOutcome::Refused(None)) => {
            warn!("notification not found (expired or deleted): nothing to send");
            Err(Outcome::Skipped(None))
        }
        Ok(TransitionOutcome::Refused(Some(current))) => Err(refused(&current, clock)),
        Err(e) => Err(Outcome::retry(format!("claim failed: {e}"))),
    }
}

fn refused(current: &Notification, clock: &dyn Clock) -> Outcome {
    if current.status.is_settled() {
        info!(status = %current.status, "already settled: duplicate delivery, nothing sent");
        return Outcome::Skipped(Some(current.status));
    }
    match (current.status, &current.lease) {
        // Another delivery of this message holds a live claim. Keep this copy until that
        // one finishes: if its worker crashed, this copy takes over once the lease runs out.
        (Status::Sending, Some(lease)) => {
            let now = clock.now().as_millis();
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
