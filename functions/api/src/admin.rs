//! Operator routes, behind admin keys (`NOTIFY_ADMIN_KEYS`), not tenant keys.

use std::time::Instant;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{Channel, Priority},
    queue::{REDRIVE_BUDGET, RedriveReport},
    validate::Fields,
};
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, response};

/// `POST /v1/admin/redrive` `{"channel"?, "priority"?}`: moves the messages of the matching
/// dead-letter queues (all of them by default) back to their queues, for up to
/// [`REDRIVE_BUDGET`]: `complete` is false while some are left (call again). The workers retry the
/// notifications whose retries had run out.
pub async fn redrive(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let body = if req.body().is_empty() {
        Value::Object(Default::default())
    } else {
        response::json_body(req, app.config.max_body_bytes)?
    };
    let mut f = Fields::of(&body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.optional_enum::<Channel>("channel");
    let priority = f.optional_enum::<Priority>("priority");
    f.finish().map_err(ApiError::Validation)?;

    let deadline = Instant::now() + REDRIVE_BUDGET;
    let mut reports: Vec<RedriveReport> = Vec::new();
    // Queues not reached within the budget leave `complete` false: call again.
    let mut reached_all = true;
    for c in Channel::ALL
        .into_iter()
        .filter(|c| channel.is_none_or(|want| want == *c))
    {
        for p in Priority::ALL
            .into_iter()
            .filter(|p| priority.is_none_or(|want| want == *p))
        {
            if Instant::now() >= deadline {
                reached_all = false;
                continue;
            }
            let report = app
                .dead_letters
                .redrive(c, p, deadline)
                .await
                .map_err(|e| {
                    error!(error = %e, channel = %c, priority = %p, "redrive failed");
                    ApiError::Unavailable(format!(
                        "the {c}/{p} dead-letter queue could not be redriven: {e}"
                    ))
                })?;
            info!(channel = %c, priority = %p, method = report.method, moved = ?report.moved, "redriven");
            reports.push(report);
        }
    }
    let complete = reached_all && reports.iter().all(|r| r.complete);
    Ok(response::json(
        StatusCode::OK,
        &json!({ "redriven": reports, "complete": complete }),
    ))
}
