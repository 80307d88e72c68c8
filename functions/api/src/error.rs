//! Every way a request can fail, each mapped in one place to an HTTP status and a stable code.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{TenantId, tenant::Scope},
    validate::FieldError,
};
use serde_json::json;

use crate::response;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("a valid API key is required (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// Carries the value of the `Allow` header.
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(String),
    /// A dependency is down; the request may be retried. The message says what was kept.
    #[error("{0}")]
    Unavailable(String),
    /// The request conflicts with the resource's state (or an earlier request's key).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// The key is valid but lacks the scope the route needs.
    #[error("this key lacks the `{0}` scope")]
    MissingScope(Scope),
    #[error("tenant {0} is suspended")]
    TenantSuspended(TenantId),
    /// A limit was reached: `429` with `Retry-After`; `code` is `rate_limited` or
    /// `quota_exceeded`.
    #[error("{message}")]
    TooMany {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Forbidden(_) | ApiError::MissingScope(_) | ApiError::TenantSuspended(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Stable and machine-readable: clients branch on this, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Conflict { code, .. } => code,
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => "forbidden",
            ApiError::TenantSuspended(_) => "tenant_suspended",
            ApiError::TooMany { code, .. } => code,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        if let ApiError::Validation(details) = &self {
            body["message"] = json!(format!(
                "{} invalid field{}: {}",
                details.len(),
                if details.len() == 1 { "" } else { "s" },
                details
                    .iter()
                    .map(|d| d.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            body["details"] = json!(details);
        }
        if let ApiError::MissingScope(scope) = &self {
            body["missingScope"] = json!(scope.as_str());
        }
        let mut response = response::json(self.status(), &body);
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed(allow) => {
                if let Ok(v) = allow.parse() {
                    headers.insert(http::header::ALLOW, v);
                }
            }
            ApiError::Unauthorized => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::Unavailable(_) => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("1"),
                );
            }
            ApiError::TooMany {
                retry_after_secs, ..
            } => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(*retry_after_secs),
                );
            }
            _ => {}
        }
        response
    }
}
