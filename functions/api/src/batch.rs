//! `POST /v1/notifications/batch`: one content (a template, or inline text rendered as one)
//! to up to 10,000 recipients, each with its own data; and `GET /v1/batches/{batchId}`.
//! The accepting is the accept service's ([`crate::accept::batch`]): invalid recipients are
//! reported by index and the valid ones accepted.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{BatchId, Channel, NotificationId, Priority, Status, TemplateRef, TenantId},
    store::StoreError,
    validate::FieldError,
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::error;

use crate::{
    ApiError, App,
    accept::{self, BatchAccepted},
    callers::Origin,
    idempotency::Planned,
    response,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    batch_id: &'a BatchId,
    channel: Channel,
    priority: Priority,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a TemplateRef>,
    accepted: usize,
    rejected: usize,
    /// One per recipient, in order: the notification's id, or null when it was refused.
    ids: &'a [Option<NotificationId>],
    errors: &'a [FieldError],
    /// True when there were more errors than the answer lists.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    errors_truncated: bool,
}

impl<'a> Answer<'a> {
    fn of(b: &'a BatchAccepted) -> Self {
        Self {
            batch_id: &b.batch_id,
            channel: b.channel,
            priority: b.priority,
            status: b.status,
            template: b.template.as_ref(),
            accepted: b.accepted,
            rejected: b.rejected,
            ids: &b.ids,
            errors: &b.errors,
            errors_truncated: b.errors_truncated,
        }
    }
}

/// `POST /v1/notifications/batch`: `202` with what was accepted and refused, by index.
pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    planned: Planned,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Response<Body>, ApiError> {
    let accepted = accept::batch(app, tenant, body, planned, base, origin).await?;
    let mut resp = response::json(StatusCode::ACCEPTED, &Answer::of(&accepted));
    if let Ok(location) = format!("/v1/batches/{}", accepted.batch_id).parse() {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
}

/// `GET /v1/batches/{batchId}`: how many notifications of the batch are in each status.
pub async fn get(app: &App, tenant: &TenantId, raw: &str) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no batch {raw}"));
    let batch = BatchId::parse(raw).map_err(|_| not_found())?;
    let summary = app
        .batches
        .batch(tenant, &batch, app.clock.now())
        .await
        .map_err(|e: StoreError| {
            error!(error = %e, "the batch summary could not be read");
            ApiError::Unavailable("the notification store is unavailable; retry the request".into())
        })?
        .ok_or_else(not_found)?;
    let pending: u64 = summary
        .statuses
        .iter()
        .filter(|(s, _)| !s.is_settled())
        .map(|(_, n)| n)
        .sum();
    let mut body = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
    body["pending"] = json!(pending);
    body["complete"] = json!(pending == 0);
    Ok(response::json(StatusCode::OK, &body))
}
