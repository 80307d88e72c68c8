//! What the local stand-ins (FCM, the webhook receiver) share: serving a router on loopback,
//! and JSON answers.

use std::net::SocketAddr;

use axum::{
    Router,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

/// Serves `app` on `addr` (port 0 picks a free one) until the task is dropped.
pub(crate) async fn serve(
    addr: SocketAddr,
    app: Router,
    what: &'static str,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "{what} stopped");
        }
    });
    Ok((bound, task))
}

/// A JSON answer, with `Retry-After` (seconds) when given.
pub(crate) fn json(status: StatusCode, body: Value, retry_after: Option<u64>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
