//! What a routed send's child does to its route once it settles (see
//! [`crate::domain::route`]): sent, its held fallbacks are cancelled; failed, suppressed or
//! expired, the next step is released (the sweep queues it within a minute). Both are
//! conditional writes on records that exist, so an event handled twice, or late, changes
//! nothing the second time.

use crate::{
    domain::{
        Status,
        route::RouteLink,
        schedule::{Due, DueKind},
        time::Timestamp,
    },
    store::{NotificationStore, StoreError, Transition, TransitionOutcome},
};

/// What advancing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advanced {
    pub released: usize,
    pub cancelled: usize,
}

/// Moves the route of a child that entered `status` on.
pub async fn advance(
    store: &dyn NotificationStore,
    link: &RouteLink,
    status: Status,
    now: Timestamp,
) -> Result<Advanced, StoreError> {
    let mut done = Advanced::default();
    match status {
        Status::Sent | Status::Delivered => {
            for id in &link.on_success {
                let change = Transition::superseded(
                    format!("not needed: step {} of the route was sent", link.step),
                    now,
                );
                if let TransitionOutcome::Applied(_) = store.transition(id, &change).await? {
                    done.cancelled += 1;
                }
            }
        }
        Status::Failed | Status::Suppressed | Status::Expired => {
            if let Some(next) = &link.on_failure {
                // A held step waits with only its expiry due: due now, the sweep releases it.
                // Anything else (already released, cancelled, an escalation with its own time)
                // is left as it is.
                let release = Due {
                    kind: DueKind::Release,
                    at: now,
                };
                if store.replace_due(next, DueKind::Expire, release).await? {
                    done.released += 1;
                }
            }
        }
        _ => {}
    }
    Ok(done)
}
