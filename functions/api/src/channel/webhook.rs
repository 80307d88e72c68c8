//! Webhook: to a registered endpoint (`endpoint`, by name) or an inline `url`, a JSON
//! `payload` POSTed as it is, signed (Standard Webhooks).

use notify_shared::{
    domain::{Channel, Content, EndpointName, Recipient, WebhookContent},
    validate::{FieldError, Fields, OneOf},
    webhook::UrlPolicy,
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch, under};

/// A payload larger than this is refused: the record (400 KB in DynamoDB) must hold it, and
/// receivers rarely accept more.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

pub const INLINE_FIELDS: &[&str] = &["payload"];

/// `endpoint` (a registered one, by name) or `url`, not both. A URL the network guard refuses
/// whatever DNS says (not https, a private or metadata address, localhost) is refused here.
pub fn recipient(f: &mut Fields<'_>, policy: UrlPolicy) -> Option<Recipient> {
    let which = f.one_of(
        "endpoint",
        "url",
        "endpoint (a registered endpoint's name) or url is required",
    )?;
    match which {
        OneOf::First => {
            let raw = f.required_str("endpoint")?;
            match EndpointName::parse(raw) {
                Ok(name) => Some(Recipient::Endpoint(name)),
                Err(e) => {
                    f.error("endpoint", "pattern", e);
                    None
                }
            }
        }
        OneOf::Second => f.required_webhook_url("url", policy).map(Recipient::Url),
    }
}

/// The inline `payload`: a JSON object or array, at most [`MAX_PAYLOAD_BYTES`] as sent.
pub fn texts(f: &mut Fields<'_>) -> Option<Texts> {
    let Some(value) = f.optional_value("payload") else {
        f.error("payload", "required", "payload (a JSON object) is required");
        return None;
    };
    payload_text(value)
        .map_err(|(rule, message)| f.error("payload", rule, message))
        .ok()
}

fn payload_text(value: &Value) -> Result<Texts, (&'static str, String)> {
    if !(value.is_object() || value.is_array()) {
        return Err(("type", "must be a JSON object or array".into()));
    }
    let payload = value.to_string();
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err((
            "max_bytes",
            format!("must be at most {MAX_PAYLOAD_BYTES} bytes as JSON"),
        ));
    }
    Ok(Texts::Webhook { payload })
}

pub fn assemble(texts: Texts, prefix: &str) -> Result<Content, FieldError> {
    let Texts::Webhook { payload } = texts else {
        return Err(mismatch(Channel::Webhook, prefix));
    };
    Ok(Content::Webhook(WebhookContent { payload }))
}

/// A rendered payload must be JSON: a part that rendered to anything else is reported on
/// the rendered part (`rendered.payload`, rule `json`), naming where it broke.
pub fn as_inline(payload: String, prefix: &str) -> Result<Value, FieldError> {
    let value: Value = serde_json::from_str(&payload).map_err(|e| {
        FieldError::new(
            under(prefix, "payload"),
            "json",
            format!("the rendered webhook payload is not valid JSON: {e}"),
        )
    })?;
    Ok(json!({ "payload": value }))
}

/// A batch's inline payload as a template part: its JSON text, whose string values may use
/// `{{variables}}` (rendered JSON-escaped, so the result stays JSON).
pub fn template_part(payload: &Value) -> Value {
    json!({ "payload": payload.to_string() })
}

pub fn preview(payload: String) -> Value {
    let parsed: Value = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    json!({ "payload": parsed })
}

pub fn summary(_: &WebhookContent) -> Summary<'static> {
    Summary::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_an_object_or_array_within_its_size() {
        assert!(payload_text(&json!({"a": 1})).is_ok());
        assert!(payload_text(&json!([1, 2])).is_ok());
        assert_eq!(payload_text(&json!("text")).unwrap_err().0, "type");
        let big = json!({"a": "x".repeat(MAX_PAYLOAD_BYTES)});
        assert_eq!(payload_text(&big).unwrap_err().0, "max_bytes");
    }

    #[test]
    fn a_rendering_that_is_not_json_names_the_part() {
        let e = as_inline("{\"a\": }".into(), "rendered").unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("rendered.payload", "json"));
        assert_eq!(
            as_inline("{\"a\":1}".into(), "rendered").unwrap(),
            json!({"payload": {"a": 1}})
        );
    }
}
