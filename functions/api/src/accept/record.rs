//! The accept service's *record* and *enqueue* steps. The record is written first: once a
//! message is on a queue, its worker must find the record. Then the message of every record
//! marked `enqueue` goes out; one the queue does not take keeps its marker, and the cleanup
//! sweep sends it after the grace period (the rule in the module above).

use std::collections::HashSet;

use notify_shared::{
    dispatch,
    domain::{Notification, NotificationId, TenantId, schedule::DueKind, time::Timestamp},
    store::StoreError,
};
use tracing::error;

use crate::{ApiError, App};

fn store_unavailable(e: &StoreError, what: &str) -> ApiError {
    error!(error = %e, "{what}");
    ApiError::Unavailable(
        "the notification store is unavailable; nothing was accepted; retry the request".into(),
    )
}

/// Writes one notification's record. A retry (same `Idempotency-Key`) of a request that died
/// after writing it carries on with what it wrote.
pub async fn record_one(
    app: &App,
    tenant: &TenantId,
    fresh: Notification,
    now: Timestamp,
) -> Result<Notification, ApiError> {
    match app.store.insert(&fresh).await {
        Ok(()) => Ok(fresh),
        Err(StoreError::AlreadyExists(id)) => app
            .store
            .get(&id, now)
            .await
            .ok()
            .flatten()
            .filter(|n| &n.tenant == tenant)
            .ok_or_else(|| {
                ApiError::Unavailable(
                    "the notification could not be recorded; retry the request".into(),
                )
            }),
        Err(e) => Err(store_unavailable(&e, "could not record the notification")),
    }
}

/// What [`record_many`] wrote.
pub struct Recorded {
    /// Written by this request.
    pub written: Vec<Notification>,
    /// Written by an earlier try of the same request (resumed): left as they are, since a
    /// worker may be sending them; their messages are the sweep's to send.
    pub found: Vec<Notification>,
    /// Not written (the store refused them after its retries): not accepted.
    pub unwritten: HashSet<NotificationId>,
}

impl Recorded {
    pub fn accepted(&self) -> usize {
        self.written.len() + self.found.len()
    }

    /// One of the accepted notifications, for what they all share.
    pub fn sample(&self) -> Option<&Notification> {
        self.written.first().or(self.found.first())
    }
}

/// Writes many records in bulk. `resumed`: the request is the retry of one that may have
/// written some of them already.
pub async fn record_many(
    app: &App,
    fresh: Vec<Notification>,
    resumed: bool,
) -> Result<Recorded, ApiError> {
    let already: HashSet<NotificationId> = if resumed {
        let ids: Vec<NotificationId> = fresh.iter().map(|n| n.id.clone()).collect();
        app.store
            .existing(&ids)
            .await
            .map_err(|e| store_unavailable(&e, "could not read which records of the batch exist"))?
    } else {
        HashSet::new()
    };
    let (found, to_write): (Vec<Notification>, Vec<Notification>) =
        fresh.into_iter().partition(|n| already.contains(&n.id));
    let unwritten: HashSet<NotificationId> =
        app.store.insert_many(&to_write).await.into_iter().collect();
    let written: Vec<Notification> = to_write
        .into_iter()
        .filter(|n| !unwritten.contains(&n.id))
        .collect();
    if written.is_empty() && found.is_empty() {
        error!(
            count = unwritten.len(),
            "no record of the batch could be written"
        );
        return Err(ApiError::Unavailable(
            "the notification store is unavailable; nothing was accepted; retry the request".into(),
        ));
    }
    Ok(Recorded {
        written,
        found,
        unwritten,
    })
}

/// Sends the queue message of each notification still marked `enqueue` (a scheduled one
/// waits for the sweep). Returns how many the queue did not take: their markers stay, and
/// the sweep sends them.
pub async fn enqueue(app: &App, recorded: &[Notification], now: Timestamp) -> usize {
    let due: Vec<&Notification> = recorded
        .iter()
        .filter(|n| n.due.is_some_and(|d| d.kind == DueKind::Enqueue))
        .collect();
    if due.is_empty() {
        return 0;
    }
    dispatch::enqueue_many(
        app.store.as_ref(),
        app.queue.as_ref(),
        &due,
        now,
        app.config.store.lifetime,
    )
    .await
}
