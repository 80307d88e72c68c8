//! JSON in and out.

use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::ApiError;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    // Serialising our own response types cannot fail; an empty object is the safe fallback.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub fn with_request_id(mut response: Response<Body>, request_id: &str) -> Response<Body> {
    if let Ok(v) = request_id.parse() {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The request body as JSON: bounded in size, declared as JSON, and well-formed.
pub fn json_body(req: &Request, max_bytes: usize) -> Result<Value, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > max_bytes {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// The public origin the request came in on (`https://<API Gateway or custom domain>`), for
/// links the service puts in messages (one-click unsubscribe). `x-forwarded-proto` when a
/// proxy says; otherwise https, but http on loopback (`make dev`); and the path a proxy
/// serves the API under (`x-forwarded-prefix`).
pub fn public_base(req: &Request) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header("host")?.trim();
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return None;
    }
    let loopback = ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| host.starts_with(p));
    let scheme = match header("x-forwarded-proto") {
        Some("http") => "http",
        Some(_) => "https",
        None if loopback => "http",
        None => "https",
    };
    // A proxy serving the API under a path (`make dev`'s function URL stand-in) says which.
    let prefix = header("x-forwarded-prefix")
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| {
            p.starts_with('/')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
        })
        .unwrap_or("");
    Some(format!("{scheme}://{host}{prefix}"))
}
