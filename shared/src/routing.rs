//! What a routed send's child does to its route once it settles (see
//! [`crate::domain::route`]): sent (or cancelled, or expired while held), its held
//! fallbacks are cancelled; failed, suppressed or expired, the next held step is released
//! (the sweep queues it within a minute, or when its quiet hours end). Both are
//! conditional writes on records that exist, so an event handled twice, or late, changes
//! nothing the second time.

use crate::{
    domain::{
        Status,
        route::RouteLink,
        schedule::{self, Due, DueKind},
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

/// Moves the route of a child that went from `from` to `to` on.
pub async fn advance(
    store: &dyn NotificationStore,
    link: &RouteLink,
    from: Option<Status>,
    to: Status,
    now: Timestamp,
) -> Result<Advanced, StoreError> {
    let mut done = Advanced::default();
    // Expired while it still waited: it was never needed, nor are its fallbacks.
    let unneeded = to == Status::Expired && from == Some(Status::Scheduled);
    match to {
        Status::Sent | Status::Delivered | Status::Cancelled => {
            done.cancelled += cancel_fallbacks(store, link, to, now).await?;
        }
        Status::Expired if unneeded => {
            done.cancelled += cancel_fallbacks(store, link, to, now).await?;
        }
        Status::Failed | Status::Suppressed | Status::Expired => {
            if let Some(next) = &link.on_failure
                && release(store, next, now).await?
            {
                done.released += 1;
            }
        }
        // Still on its way: nothing follows yet.
        Status::Draft | Status::Scheduled | Status::Queued | Status::Sending => {}
    }
    Ok(done)
}

async fn cancel_fallbacks(
    store: &dyn NotificationStore,
    link: &RouteLink,
    to: Status,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in &link.on_success {
        let change = Transition::superseded(
            format!("not needed: step {} of the route was {to}", link.step),
            now,
        );
        if let TransitionOutcome::Applied(_) = store.transition(id, &change).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Makes a held step due: now, or just before the time it waits for (quiet hours, the
/// request's `scheduledAt`). Anything not held (released already, cancelled) is left.
async fn release(
    store: &dyn NotificationStore,
    next: &crate::domain::NotificationId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(held) = store.get(next, now).await? else {
        return Ok(false);
    };
    if held.status != Status::Scheduled {
        return Ok(false);
    }
    let at = held
        .scheduled_at
        .and_then(|s| {
            Timestamp::from_millis(s.as_millis() - schedule::RELEASE_LEAD.as_millis() as i64)
        })
        .map_or(now, |s| s.max(now));
    let due = Due {
        kind: DueKind::Release,
        at,
    };
    store.replace_due(next, DueKind::Expire, due).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Notification, NotificationId},
        store::{
            MemoryStore,
            tests::{at, queued_email},
        },
    };

    /// A held step (scheduled, only its expiry due), optionally waiting for `until`.
    async fn held(store: &MemoryStore, until: Option<Timestamp>) -> Notification {
        let mut n = queued_email();
        n.status = Status::Scheduled;
        n.scheduled_at = until;
        n.due = Some(schedule::expiry(
            at(0),
            until,
            std::time::Duration::from_secs(3600),
        ));
        store.insert(&n).await.unwrap();
        n
    }

    fn link(next: &NotificationId) -> RouteLink {
        RouteLink {
            id: NotificationId::generate(),
            step: 0,
            on_failure: Some(next.clone()),
            on_success: vec![next.clone()],
        }
    }

    #[tokio::test]
    async fn a_failure_releases_a_held_step_at_once_or_just_before_its_own_time() {
        let store = MemoryStore::new();
        let now = at(1_000);
        let next = held(&store, None).await;
        let a = advance(
            &store,
            &link(&next.id),
            Some(Status::Sending),
            Status::Failed,
            now,
        )
        .await
        .unwrap();
        assert_eq!(a.released, 1);
        assert_eq!(
            store.record(&next.id).unwrap().due,
            Some(Due {
                kind: DueKind::Release,
                at: now
            })
        );

        let quiet_until = at(3_600_000);
        let waiting = held(&store, Some(quiet_until)).await;
        advance(
            &store,
            &link(&waiting.id),
            Some(Status::Sending),
            Status::Suppressed,
            now,
        )
        .await
        .unwrap();
        let due = store.record(&waiting.id).unwrap().due.unwrap();
        assert_eq!(
            (due.kind, due.at),
            (DueKind::Release, at(3_600_000 - 60_000))
        );
    }

    #[tokio::test]
    async fn a_queued_escalation_is_not_a_held_step_and_keeps_its_expiry() {
        let store = MemoryStore::new();
        let escalation = queued_email();
        store.insert(&escalation).await.unwrap();
        let before = store.record(&escalation.id).unwrap().due;
        let a = advance(
            &store,
            &link(&escalation.id),
            Some(Status::Sending),
            Status::Failed,
            at(5),
        )
        .await
        .unwrap();
        assert_eq!(a.released, 0);
        assert_eq!(store.record(&escalation.id).unwrap().due, before);
    }

    #[tokio::test]
    async fn a_step_cancelled_or_expired_while_held_takes_its_fallbacks_with_it() {
        let store = MemoryStore::new();
        for (from, to) in [
            (Some(Status::Queued), Status::Cancelled),
            (Some(Status::Scheduled), Status::Expired),
        ] {
            let next = held(&store, None).await;
            let a = advance(&store, &link(&next.id), from, to, at(5))
                .await
                .unwrap();
            assert_eq!((a.released, a.cancelled), (0, 1), "{to}");
            assert_eq!(store.record(&next.id).unwrap().status, Status::Cancelled);
        }
    }
}

/// What reading a notification (or a route) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    pub read_at: Timestamp,
    /// The `unless: read` escalations dropped.
    pub dropped: usize,
}

/// The recipient read notification or route `id` of `tenant` (only `as_user`'s, when given):
/// recorded once, and the escalations that wait on it (`unless: read`) are dropped. `None`
/// when there is no such notification for them.
pub async fn read(
    store: &dyn NotificationStore,
    routes: &dyn crate::store::RouteStore,
    tenant: &crate::domain::TenantId,
    id: &crate::domain::NotificationId,
    as_user: Option<&crate::domain::UserId>,
    now: Timestamp,
) -> Result<Option<ReadOutcome>, StoreError> {
    use crate::domain::UserId;
    let theirs = |owner: Option<&UserId>| as_user.is_none_or(|u| owner == Some(u));
    let route_of = async |route_id| {
        Ok::<_, StoreError>(
            routes
                .route(route_id, now)
                .await?
                .filter(|r| &r.tenant == tenant),
        )
    };
    let (route, from) = match store.get(id, now).await? {
        Some(n) if &n.tenant == tenant && theirs(n.user()) => {
            routes.mark_read(id, now).await?;
            match &n.route {
                Some(link) => (route_of(&link.id).await?, link.step as usize + 1),
                None => (None, 0),
            }
        }
        Some(_) => return Ok(None),
        None => match route_of(id).await?.filter(|r| theirs(Some(&r.user_id))) {
            Some(route) => (Some(route), 0),
            None => return Ok(None),
        },
    };
    let mut dropped = 0;
    if let Some(r) = &route {
        routes.mark_route(&r.id, true, now).await?;
        for step in r.steps.iter().skip(from).filter(|s| s.unless_read) {
            let Some(child) = &step.notification_id else {
                continue;
            };
            let change = Transition::superseded_by_read(now);
            if let TransitionOutcome::Applied(_) = store.transition(child, &change).await? {
                dropped += 1;
            }
        }
    }
    let read_at = match store.get(id, now).await? {
        Some(n) => n.read_at,
        None => routes.route(id, now).await?.and_then(|r| r.read_at),
    };
    Ok(Some(ReadOutcome {
        read_at: read_at.unwrap_or(now),
        dropped,
    }))
}
