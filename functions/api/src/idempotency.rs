//! `Idempotency-Key` on POST requests: the same key with the same request answers what the
//! first one answered (same ids) for 24 hours; with a different request, 409.

use std::{future::Future, time::Duration};

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{NotificationId, TenantId},
    store::{Begin, StoredResponse},
    validate::FieldError,
};
use tracing::{error, info};

use crate::{ApiError, App};

pub const HEADER: &str = "idempotency-key";
/// How long a request holds its key before a retry may resume it (longer than the API's
/// timeout, so only a request that died can be resumed).
const LOCK: Duration = Duration::from_secs(60);
/// How long an answer is replayed.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
const MAX_KEY_CHARS: usize = 255;

fn key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "header",
            format!("must be 1 to {MAX_KEY_CHARS} printable ASCII characters"),
        )]));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same": method, path and body.
fn fingerprint(req: &Request) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(req.method().as_str().as_bytes());
    ctx.update(b" ");
    ctx.update(req.uri().path().as_bytes());
    ctx.update(b"\n");
    ctx.update(req.body().as_ref());
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id a request's first new notification takes (a batch's are derived from it with
/// [`NotificationId::nth`]), and whether an earlier request with the same key may have
/// written some of its work already.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: NotificationId,
    pub resumed: bool,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    error!(error = %e, "idempotency store unavailable");
    ApiError::Unavailable("idempotency keys cannot be checked right now; retry the request".into())
}

/// Runs `handler` once per key. It gets the id a new notification must take: with a key, the
/// same id on a retry of a request that died half-way, so nothing is created twice.
pub async fn run<F, Fut>(
    app: &App,
    tenant: &TenantId,
    req: &Request,
    handler: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(Planned) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let Some(key) = key(req)? else {
        return handler(Planned {
            id: NotificationId::generate(),
            resumed: false,
        })
        .await;
    };
    let now = app.clock.now();
    let begin = app
        .idempotency
        .begin(
            tenant,
            &key,
            &fingerprint(req),
            &NotificationId::generate(),
            now,
            LOCK,
            KEEP,
        )
        .await
        .map_err(unavailable)?;
    let planned = match begin {
        Begin::Replay(stored) => return Ok(replay(stored)),
        Begin::Mismatch => {
            return Err(ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with a different request".into(),
            });
        }
        Begin::InProgress => {
            return Err(ApiError::Conflict {
                code: "idempotency_request_in_progress",
                message:
                    "a request with this Idempotency-Key is still being processed; retry shortly"
                        .into(),
            });
        }
        Begin::Started { planned } => Planned {
            id: planned,
            resumed: false,
        },
        Begin::Resumed { planned } => {
            info!(notification_id = %planned, "resuming a request with this Idempotency-Key that did not finish");
            Planned {
                id: planned,
                resumed: true,
            }
        }
    };
    let response = handler(planned)
        .await
        .unwrap_or_else(ApiError::into_response);
    // A server-side failure may succeed on a retry: forget the key. Anything else is final.
    let kept = if response.status().is_server_error() {
        app.idempotency.release(tenant, &key).await
    } else {
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        let stored = StoredResponse {
            status: response.status().as_u16(),
            body,
        };
        app.idempotency.complete(tenant, &key, &stored).await
    };
    if let Err(e) = kept {
        error!(error = %e, "could not record the answer for this Idempotency-Key");
    }
    Ok(response)
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut response = Response::new(Body::Text(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
