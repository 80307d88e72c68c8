//! Routed sends as clients see them: the parent at `GET /v1/notifications/{id}` (the route,
//! each step's status, why a step was skipped), its cancel, and the read acknowledgement
//! `POST /v1/notifications/{id}/read` that drops the escalations waiting on it.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        Notification, NotificationId, Status, TenantId, UserId,
        route::{Route, RouteStep},
        time::Timestamp,
    },
    store::{StoreError, Transition, TransitionOutcome},
};
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, accept, callers::Origin, response};

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the notification store is unavailable");
    ApiError::Unavailable("the notification store is unavailable; retry the request".into())
}

/// The tenant's route `id`, if there is one and it was sent with the same kind of key (live
/// or test), as its children.
pub async fn find(
    app: &App,
    tenant: &TenantId,
    id: &NotificationId,
    test: bool,
) -> Result<Option<Route>, ApiError> {
    Ok(app
        .routes
        .route(id, app.clock.now())
        .await
        .map_err(unavailable)?
        .filter(|r| &r.tenant == tenant && r.test == test))
}

/// The children of a route as they stand, by step (`None`: skipped, or not found).
async fn children(app: &App, route: &Route) -> Result<Vec<Option<Notification>>, ApiError> {
    let now = app.clock.now();
    let mut out = Vec::with_capacity(route.steps.len());
    for step in &route.steps {
        out.push(match &step.notification_id {
            Some(id) => app.store.get(id, now).await.map_err(unavailable)?,
            None => None,
        });
    }
    Ok(out)
}

/// The route's overall status: `sent` (or `delivered`) once a step got through, `pending`
/// while a step may still go, `cancelled`, else `failed`.
fn overall(route: &Route, children: &[Option<Notification>]) -> &'static str {
    let statuses: Vec<Status> = children.iter().flatten().map(|n| n.status).collect();
    if statuses.contains(&Status::Delivered) {
        "delivered"
    } else if statuses.contains(&Status::Sent) {
        "sent"
    } else if route.cancelled_at.is_some() {
        "cancelled"
    } else if statuses.iter().any(|s| !s.is_settled()) {
        "pending"
    } else {
        "failed"
    }
}

fn step_view(i: usize, step: &RouteStep, child: Option<&Notification>) -> Value {
    let mut v = json!({"step": i, "channel": step.channel});
    if let Some(s) = step.after_seconds {
        v["afterSeconds"] = json!(s);
    }
    if step.unless_read {
        v["unless"] = json!("read");
    }
    match (child, &step.skipped) {
        (_, Some(why)) => {
            v["status"] = json!("skipped");
            v["reason"] = json!(why);
        }
        (Some(n), None) => {
            v["status"] = json!(n.status);
            v["notificationId"] = json!(n.id);
            let reason = n
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message))
                .or_else(|| n.history.last().and_then(|h| h.reason.clone()));
            if let Some(r) = reason {
                v["reason"] = json!(r);
            }
            if let Some(at) = n.read_at {
                v["readAt"] = json!(at);
            }
        }
        (None, None) => {
            v["status"] = json!("unknown");
            v["notificationId"] = json!(step.notification_id);
        }
    }
    v
}

pub async fn view(app: &App, route: &Route) -> Result<Value, ApiError> {
    let children = children(app, route).await?;
    let steps: Vec<Value> = route
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step_view(i, s, children[i].as_ref()))
        .collect();
    let mut v = json!({
        "id": route.id,
        "userId": route.user_id.as_str(),
        "routing": {"method": route.method},
        "status": overall(route, &children),
        "steps": steps,
        "createdAt": route.created_at,
        "expiresAt": route.expires_at,
    });
    for (k, at) in [
        ("readAt", route.read_at),
        ("cancelledAt", route.cancelled_at),
    ] {
        if let Some(at) = at {
            v[k] = json!(at);
        }
    }
    if let Some(r) = &route.reference {
        v["reference"] = json!(r);
    }
    Ok(v)
}

/// `POST /v1/notifications` with `routing`: `202` with the route, and its `Location`.
pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    id: NotificationId,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Response<Body>, ApiError> {
    let route = accept::route::accept(app, tenant, body, id, base, origin).await?;
    let mut resp = response::json(StatusCode::ACCEPTED, &view(app, &route).await?);
    if let Ok(location) = format!("/v1/notifications/{}", route.id).parse() {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
}

/// Cancels what of a route has not gone yet.
pub async fn cancel(app: &App, route: &Route) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let cancelled = drop_steps(app, route, 0, false, now).await?;
    if cancelled == 0 {
        let children = children(app, route).await?;
        if children.iter().flatten().all(|n| n.status.is_settled()) {
            return Err(ApiError::Conflict {
                code: "not_cancellable",
                message: "every step of the route has gone or ended; nothing is left to cancel"
                    .into(),
            });
        }
    }
    app.routes
        .mark_route(&route.id, false, now)
        .await
        .map_err(unavailable)?;
    let route = app
        .routes
        .route(&route.id, now)
        .await
        .map_err(unavailable)?
        .unwrap_or_else(|| route.clone());
    info!(route_id = %route.id, cancelled, "route cancelled");
    Ok(response::json(StatusCode::OK, &view(app, &route).await?))
}

/// Cancels the steps from `from` on that have not gone yet (only the `unless: read` ones
/// when `read`); returns how many.
async fn drop_steps(
    app: &App,
    route: &Route,
    from: usize,
    read: bool,
    now: Timestamp,
) -> Result<usize, ApiError> {
    let mut n = 0;
    for step in route.steps.iter().skip(from) {
        let Some(id) = &step.notification_id else {
            continue;
        };
        if read && !step.unless_read {
            continue;
        }
        let change = if read {
            Transition::superseded_by_read(now)
        } else {
            Transition::cancelled(now)
        };
        if let TransitionOutcome::Applied(_) = app
            .store
            .transition(id, &change)
            .await
            .map_err(unavailable)?
        {
            n += 1;
        }
    }
    Ok(n)
}

/// `POST /v1/notifications/{id}/read`: the recipient read the notification (or the route):
/// recorded once, and the escalations that wait on it (`unless: read`) are dropped.
/// With a user token (`as_user`), only that user's notifications are found.
pub async fn read(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    as_user: Option<&UserId>,
) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no notification {raw_id}"));
    let id = NotificationId::parse(raw_id).ok_or_else(not_found)?;
    let read = notify_shared::routing::read(
        app.store.as_ref(),
        app.routes.as_ref(),
        tenant,
        &id,
        as_user,
        app.clock.now(),
    )
    .await
    .map_err(unavailable)?
    .ok_or_else(not_found)?;
    info!(notification_id = %id, escalations_dropped = read.dropped, "read");
    Ok(response::json(
        StatusCode::OK,
        &json!({"id": id, "readAt": read.read_at, "escalationsCancelled": read.dropped}),
    ))
}
