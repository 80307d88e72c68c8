//! A tenant's webhook endpoint: where deliveries to its name go, how they are signed, the
//! headers added to them, and whether it still takes deliveries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secret::SigningSecrets;
use crate::domain::{EndpointName, TenantId, WebhookUrl, time::Timestamp};

/// Custom headers an endpoint may add.
pub const MAX_HEADERS: usize = 20;
const MAX_HEADER_VALUE_CHARS: usize = 1024;

/// The headers a delivery's own meaning depends on: an endpoint's custom headers may not
/// replace them (or the connection's framing).
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "user-agent",
    "proxy-authorization",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub tenant: TenantId,
    pub name: EndpointName,
    pub url: WebhookUrl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Added to every delivery. Values may be credentials: never shown back, never logged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub secrets: SigningSecrets,
    /// Set when the receiver answered `410 Gone`: deliveries to it fail
    /// (`endpoint_disabled`) until a `PUT` with `"enabled": true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disabled {
    pub at: Timestamp,
    pub reason: String,
}

/// A custom header's name and value, or why it may not be sent. Names are compared
/// lower-case (HTTP header names are case-insensitive).
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > 128 || !name.chars().all(token) {
        return Err("must be an HTTP header name (letters, digits, - and a few symbols)".into());
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
        return Err(format!(
            "{name} is set by the service on every delivery and cannot be replaced"
        ));
    }
    if value.chars().count() > MAX_HEADER_VALUE_CHARS
        || value.chars().any(|c| c.is_control() && c != '\t')
    {
        return Err(format!(
            "the value must be at most {MAX_HEADER_VALUE_CHARS} characters without line breaks or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_headers_cannot_replace_the_signature_or_framing() {
        assert!(check_header("Authorization", "Bearer abc").is_ok());
        assert!(check_header("X-Tenant", "acme").is_ok());
        for name in [
            "webhook-signature",
            "Webhook-Id",
            "Content-Type",
            "Host",
            "webhook-x",
        ] {
            assert!(check_header(name, "x").is_err(), "{name}");
        }
        assert!(check_header("X Bad", "x").is_err());
        assert!(check_header("X-Inject", "a\r\nX-Other: b").is_err());
    }
}
