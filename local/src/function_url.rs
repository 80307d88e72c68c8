//! A Lambda function URL on loopback, in front of a function the local Lambda runs
//! ([`crate::lambda`]): each HTTP request becomes the payload a function URL sends (format
//! 2.0), and the function's answer becomes the HTTP response.
//!
//! As a function URL does, it hands the function a body that is not UTF-8 base64-encoded
//! (`isBase64Encoded`), joins repeated headers with commas, and answers 502 when the function
//! fails or answers something unusable.

use std::{collections::BTreeMap, net::SocketAddr, time::SystemTime};

use axum::{
    Router,
    body::{Body, Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde_json::{Value, json};

use crate::lambda::LocalFunction;

/// Function URLs take bodies up to 6 MB.
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

#[derive(Clone)]
struct Front {
    function: LocalFunction,
    /// The path prefix the function is served under (`/lambda-url/api`).
    prefix: String,
}

/// Serves `function` at `http://{addr}{prefix}/...` until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    prefix: &str,
    function: LocalFunction,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new().fallback(handle).with_state(Front {
        function,
        prefix: prefix.trim_end_matches('/').to_owned(),
    });
    crate::http::serve(addr, app, "function URL").await
}

async fn handle(State(front): State<Front>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(path) = parts.uri.path().strip_prefix(&front.prefix) else {
        return (StatusCode::NOT_FOUND, "no function here").into_response();
    };
    let path = if path.is_empty() { "/" } else { path };
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    // As a reverse proxy says where it serves the function, so links the function makes
    // (one-click unsubscribe) come back here.
    let mut headers = parts.headers.clone();
    if let Ok(prefix) = HeaderValue::from_str(&front.prefix) {
        headers.insert("x-forwarded-prefix", prefix);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    let event = event(
        parts.method.as_str(),
        path,
        parts.uri.query().unwrap_or(""),
        &headers,
        &body,
    );
    match front.function.invoke_json(&event).await {
        Ok(answer) => response(&answer).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the function's answer is not a function URL response");
            (StatusCode::BAD_GATEWAY, "unusable function response").into_response()
        }),
        Err(e) => {
            tracing::warn!(error = %e, "the invocation failed");
            (StatusCode::BAD_GATEWAY, "function error").into_response()
        }
    }
}

/// The function URL payload (format 2.0) for one request.
pub fn event(method: &str, path: &str, query: &str, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        // A value past ASCII reaches the function as text, as a function URL passes it.
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(str::to_owned));
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .fold(BTreeMap::new(), |mut all, (k, v)| {
            all.entry(k)
                .and_modify(|e: &mut String| {
                    e.push(',');
                    e.push_str(&v);
                })
                .or_insert(v);
            all
        });
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": joined.get("host").cloned().unwrap_or_default(),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": u64::try_from(now.as_millis()).unwrap_or(0),
        },
        "isBase64Encoded": encoded,
    });
    if !params.is_empty() {
        event["queryStringParameters"] = json!(params);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !body.is_empty() || encoded {
        event["body"] = json!(body);
    }
    event
}

/// The HTTP response for the function's answer (`statusCode`, `headers`, `body`,
/// `isBase64Encoded`, `cookies`).
fn response(answer: &Value) -> Result<Response, String> {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("no statusCode")?;
    let body = match answer.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(b)) if answer["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("body is not base64: {e}"))?
        }
        Some(Value::String(b)) => b.clone().into_bytes(),
        Some(_) => return Err("body is not a string".into()),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(given)) = answer.get("headers") {
        for (name, value) in given {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = answer.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(cookie) {
                headers.append(axum::http::header::SET_COOKIE, v);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_a_function_url_payload() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-many", HeaderValue::from_static("a"));
        headers.append("x-many", HeaderValue::from_static("b"));
        headers.insert(
            "idempotency-key",
            HeaderValue::from_bytes(b"cl\xe9").unwrap(),
        );
        let e = event(
            "POST",
            "/v1/notifications",
            "version=2&a=x",
            &headers,
            &Bytes::from_static(b"{}"),
        );
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["rawPath"], "/v1/notifications");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["headers"]["x-many"], "a,b");
        assert_eq!(e["headers"]["idempotency-key"], "cl\u{fffd}");
        assert_eq!(e["queryStringParameters"]["version"], "2");
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("{}"), Some(false))
        );

        let binary = event(
            "POST",
            "/",
            "",
            &HeaderMap::new(),
            &Bytes::from_static(&[0xff, 0xfe]),
        );
        assert_eq!(
            (binary["body"].as_str(), binary["isBase64Encoded"].as_bool()),
            (Some("//4="), Some(true))
        );
    }

    #[test]
    fn the_functions_answer_becomes_the_response() {
        let r = response(&json!({
            "statusCode": 405,
            "headers": {"allow": "POST", "content-type": "application/json"},
            "body": "{\"code\":\"method_not_allowed\"}",
            "isBase64Encoded": false,
        }))
        .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()["allow"], "POST");
        assert!(response(&json!({"body": "x"})).is_err());
        let gz =
            response(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true})).unwrap();
        assert_eq!(gz.status(), StatusCode::OK);
    }
}
