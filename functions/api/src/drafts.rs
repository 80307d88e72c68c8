//! Draft → approve (issue "Tenants and API keys"): a send or a batch made with `"draft": true`
//! (or a batch above the tenant's `approvalAbove`) is recorded as `draft` and nothing is
//! queued; `POST /v1/notifications/{id}/approve` queues it (or schedules it), `…/reject` ends
//! it `cancelled`; the batch routes decide a whole batch. With the tenant's `fourEyes`, a
//! different key than the creator's must decide. A draft nobody decides expires after the
//! tenant's `draftExpiryHours` (the sweep's `expire` marker).

use std::time::{Duration, Instant};

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{BatchId, Notification, Status, schedule, tenant::TenantSettings, time::Timestamp},
    store::{ListFilter, StoreError, Transition, TransitionOutcome},
};
use serde_json::json;
use tracing::{error, info};

use crate::{
    ApiError, App,
    accept::{draft::settings, record},
    callers::{Caller, Origin},
    limits,
    notifications::{self, View},
    response,
};

/// How long one call on a batch works before answering `complete: false` (call again).
pub const BATCH_BUDGET: Duration = Duration::from_secs(20);
/// Drafts decided at once.
const CONCURRENCY: usize = 16;
const PAGE: usize = 100;

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the notification store is unavailable");
    ApiError::Unavailable("the notification store is unavailable; retry the request".into())
}

/// Four eyes: the key deciding must not be the one that made the draft.
fn may_decide(n: &Notification, by: &Origin, settings: &TenantSettings) -> Result<(), ApiError> {
    if settings.four_eyes && n.created_by.as_deref() == Some(by.key.as_str()) {
        return Err(ApiError::Forbidden(
            "this tenant requires four eyes: a different key than the one that made the draft must approve or reject it".into(),
        ));
    }
    Ok(())
}

fn not_a_draft(status: Status) -> ApiError {
    ApiError::Conflict {
        code: "not_a_draft",
        message: format!("the notification is {status}; only a draft is approved or rejected"),
    }
}

/// Approves or rejects one draft: the notification as it became, or why not.
async fn decide(
    app: &App,
    n: &Notification,
    by: &Origin,
    approve: bool,
    now: Timestamp,
) -> Result<Notification, ApiError> {
    let change = if approve {
        let (status, due) = schedule::initial(now, n.scheduled_at);
        Transition::approved(status, due, &by.key, now)
    } else {
        Transition::rejected(now)
    };
    match app
        .store
        .transition(&n.id, &change)
        .await
        .map_err(unavailable)?
    {
        TransitionOutcome::Applied(after) => {
            record::enqueue_one(app, &after, now).await;
            info!(notification_id = %after.id, status = %after.status, by = %by.key, "draft decided");
            Ok(after)
        }
        TransitionOutcome::Refused(current) => {
            Err(not_a_draft(current.map_or(n.status, |c| c.status)))
        }
    }
}

/// `POST /v1/notifications/{id}/approve` and `…/reject`.
pub async fn one(
    app: &App,
    caller: &Caller,
    raw_id: &str,
    approve: bool,
) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let by = caller.origin();
    let n = notifications::find(app, &caller.tenant, raw_id, by.test).await?;
    if n.status != Status::Draft {
        return Err(not_a_draft(n.status));
    }
    may_decide(&n, &by, &settings(app, &caller.tenant, now).await?)?;
    if approve && !by.test {
        limits::take_quota(app, &caller.tenant, n.channel, 1, now).await?;
    }
    let after = decide(app, &n, &by, approve, now).await?;
    Ok(response::json(StatusCode::OK, &View::of(&after)))
}

/// `POST /v1/batches/{batchId}/approve` and `…/reject`: every draft of the batch, for up to
/// [`BATCH_BUDGET`]; `complete` is false while some are left (call again: what was decided
/// is not a draft any more). Past the daily quota, approval stops with `quotaExceeded`.
pub async fn batch(
    app: &App,
    caller: &Caller,
    raw: &str,
    approve: bool,
) -> Result<Response<Body>, ApiError> {
    let batch_id =
        BatchId::parse(raw).map_err(|_| ApiError::NotFound(format!("no batch {raw}")))?;
    let by = caller.origin();
    let tenant = &caller.tenant;
    let settings = settings(app, tenant, app.clock.now()).await?;
    let filter = ListFilter {
        batch: Some(batch_id.clone()),
        status: Some(Status::Draft),
        test: by.test,
        ..ListFilter::default()
    };
    let deadline = Instant::now() + BATCH_BUDGET;
    let (mut decided, mut seen, mut complete, mut quota_exceeded) = (0usize, 0usize, true, false);
    let mut before = None;
    loop {
        if Instant::now() >= deadline {
            complete = false;
            break;
        }
        let now = app.clock.now();
        let page = app
            .search
            .list(tenant, &filter, before.as_ref(), PAGE, now)
            .await
            .map_err(unavailable)?;
        let mut drafts: Vec<&Notification> = page
            .items
            .iter()
            .filter(|n| n.status == Status::Draft)
            .collect();
        seen += drafts.len();
        if let Some(first) = drafts.first() {
            may_decide(first, &by, &settings)?;
        }
        if approve && !by.test && !drafts.is_empty() {
            let channel = drafts[0].channel;
            let fits =
                match limits::take_quota(app, tenant, channel, drafts.len() as u32, now).await {
                    Ok(fits) => fits as usize,
                    Err(ApiError::TooMany { .. }) => 0,
                    Err(e) => return Err(e),
                };
            if fits < drafts.len() {
                drafts.truncate(fits);
                quota_exceeded = true;
            }
        }
        let mut results = Vec::with_capacity(drafts.len());
        for chunk in drafts.chunks(CONCURRENCY) {
            let mut decisions = Vec::with_capacity(chunk.len());
            for n in chunk {
                decisions.push(decide(app, n, &by, approve, now));
            }
            results.extend(futures::future::join_all(decisions).await);
        }
        for r in results {
            match r {
                Ok(_) | Err(ApiError::Conflict { .. }) => decided += usize::from(r.is_ok()),
                Err(e) => return Err(e),
            }
        }
        if quota_exceeded {
            complete = false;
            break;
        }
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    if seen == 0 && decided == 0 && complete {
        return Err(ApiError::NotFound(format!("batch {raw} has no draft")));
    }
    let verb = if approve { "approved" } else { "rejected" };
    let mut answer = json!({ "batchId": batch_id, verb: decided, "complete": complete });
    if quota_exceeded {
        answer["quotaExceeded"] = json!(true);
    }
    Ok(response::json(StatusCode::OK, &answer))
}
