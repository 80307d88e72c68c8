//! The accept service's *record* and *enqueue* steps. The record is written first: once a
//! message is on a queue, its worker must find the record. Then the messages go out. One the
//! queue does not take is the cleanup sweep's to send after the grace period (the rule in the
//! module above): a single notification keeps its `enqueue` marker; a batch's are listed in
//! the request's outbox, written before its records and settled once its messages are out
//! (one write per request, not one per notification).

use std::collections::HashSet;

use notify_shared::{
    dispatch,
    domain::{
        Notification, NotificationId, Status, TenantId,
        schedule::{self, DueKind},
        time::Timestamp,
    },
    store::{Indexes, Outbox, StoreError},
};
use tracing::{error, warn};

use crate::{ApiError, App, idempotency::Planned};

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
    /// The request's outbox, when it wrote any notification due now.
    pub outbox: Option<Outbox>,
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

/// Writes a batch's records in bulk, after the request's outbox. `planned.resumed`: the
/// request is the retry of one that may have written some of them already.
pub async fn record_many(
    app: &App,
    tenant: &TenantId,
    planned: &Planned,
    fresh: Vec<Notification>,
    now: Timestamp,
) -> Result<Recorded, ApiError> {
    let already: HashSet<NotificationId> = if planned.resumed {
        let ids: Vec<NotificationId> = fresh.iter().map(|n| n.id.clone()).collect();
        app.store
            .existing(&ids)
            .await
            .map_err(|e| store_unavailable(&e, "could not read which records of the batch exist"))?
    } else {
        HashSet::new()
    };
    let (found, mut to_write): (Vec<Notification>, Vec<Notification>) =
        fresh.into_iter().partition(|n| already.contains(&n.id));
    // The outbox stands for each record's `enqueue` marker: they carry their expiry at once.
    for n in &mut to_write {
        if n.due.is_some_and(|d| d.kind == DueKind::Enqueue) {
            n.due = Some(schedule::expiry(
                now,
                n.scheduled_at,
                app.config.store.lifetime,
            ));
        }
    }
    let outbox = open_outbox(app, tenant, &planned.id, &to_write, now).await?;
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
        outbox,
    })
}

/// Writes the outbox of the notifications about to be written that are due now (a scheduled
/// one waits for the sweep anyway). Without it nothing is written.
async fn open_outbox(
    app: &App,
    tenant: &TenantId,
    first: &NotificationId,
    to_write: &[Notification],
    now: Timestamp,
) -> Result<Option<Outbox>, ApiError> {
    let pending: Indexes = to_write
        .iter()
        .filter(|n| n.status == Status::Queued)
        .filter_map(|n| n.id.index_in(first))
        .collect();
    if pending.is_empty() {
        return Ok(None);
    }
    let outbox = Outbox {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.clone(),
        first: first.clone(),
        pending,
        due_at: now.plus(schedule::ENQUEUE_GRACE),
        expires_at: to_write.iter().map(|n| n.expires_at).max().unwrap_or(now),
    };
    app.batches
        .open_outbox(&outbox)
        .await
        .map_err(|e| store_unavailable(&e, "could not write the batch's outbox"))?;
    Ok(Some(outbox))
}

/// Sends the messages of a batch's written notifications that are due now, then settles its
/// outbox with what the queue refused. Returns how many it refused: the sweep sends them.
pub async fn enqueue_batch(app: &App, recorded: &Recorded, now: Timestamp) -> usize {
    let Some(outbox) = &recorded.outbox else {
        return 0;
    };
    let due: Vec<&Notification> = recorded
        .written
        .iter()
        .filter(|n| n.status == Status::Queued)
        .collect();
    let failed = dispatch::send_all(app.queue.as_ref(), &due, now).await;
    if !failed.is_empty() {
        warn!(
            count = failed.len(),
            "messages not sent: the sweep will queue them after the grace period"
        );
    }
    let left: Indexes = failed
        .iter()
        .filter_map(|&i| due.get(i)?.id.index_in(&outbox.first))
        .collect();
    if let Err(e) = app.batches.settle_outbox(outbox, &left).await {
        warn!(error = %e, "messages sent, but the batch's outbox not settled: the sweep will queue them again");
    }
    failed.len()
}

/// Sends a single notification's queue message if it is due now (a scheduled one waits for the
/// sweep). One the queue does not take keeps its `enqueue` marker: the sweep sends it.
pub async fn enqueue_one(app: &App, n: &Notification, now: Timestamp) {
    if !n.due.is_some_and(|d| d.kind == DueKind::Enqueue) {
        return;
    }
    if let Err(e) = dispatch::enqueue(
        app.store.as_ref(),
        app.queue.as_ref(),
        n,
        now,
        app.config.store.lifetime,
    )
    .await
    {
        warn!(error = %e, notification_id = %n.id, "message not sent: the sweep will queue it after the grace period");
    }
}
