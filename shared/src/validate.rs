//! Field-by-field validation of API input. Every rule that fails is reported, each naming its
//! field and a stable rule name, so a client can fix a request in one round trip.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    domain::{EmailAddress, PhoneNumber, WebhookUrl},
    webhook::{UrlPolicy, check_static},
};

/// RFC 5322 §2.1.1: a header line is at most 998 characters.
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Body limits keep a notification record well inside DynamoDB's 400 KB item limit
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
pub const MAX_TEXT_BYTES: usize = 100 * 1024;
pub const MAX_HTML_BYTES: usize = 200 * 1024;
pub const MAX_CATEGORY_CHARS: usize = 64;

/// Bounds of an object of string values.
#[derive(Debug, Clone, Copy)]
pub struct MapLimits {
    pub max_entries: usize,
    pub max_key_chars: usize,
    pub max_value_chars: usize,
}

/// `metadata`: the client's own labels, returned on reads.
pub const METADATA_LIMITS: MapLimits = MapLimits {
    max_entries: 20,
    max_key_chars: 64,
    max_value_chars: 512,
};

/// Which of two alternative fields a request gave ([`Fields::one_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneOf {
    First,
    Second,
}

/// One broken rule: which field, which rule, and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub rule: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Reads the fields of one JSON object, collecting every error instead of stopping at the
/// first, and reports fields nobody asked for as unknown (a typo must not be silently ignored).
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    read: BTreeSet<&'a str>,
    errors: Vec<FieldError>,
}

/// A non-negative whole number: `3`, and `3.0` too (JSON Schema's `integer` is any number
/// with a zero fractional part).
pub fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(f))
            // Exact: a whole number within 2^53 converts without loss.
            .map(|f| f as u64)
    })
}

impl<'a> Fields<'a> {
    /// `prefix` names the object in error paths (`""` for the top level).
    pub fn of(value: &'a Value, prefix: &str) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                prefix: prefix.to_owned(),
                read: BTreeSet::new(),
                errors: Vec::new(),
            }),
            _ => Err(FieldError::new(
                if prefix.is_empty() { "body" } else { prefix },
                "type",
                "must be a JSON object",
            )),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn error(&mut self, name: &str, rule: &'static str, message: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(field, rule, message));
    }

    fn get(&mut self, name: &'a str) -> Option<&'a Value> {
        self.read.insert(name);
        // A null is read as absent here, and refused by `finish` (the contract has no null).
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// The raw value of a field (present and not null), for shapes the typed readers do not
    /// cover.
    pub fn optional_value(&mut self, name: &'a str) -> Option<&'a Value> {
        self.get(name)
    }

    /// Whether the field is present (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    /// Treats every field as read: for when an earlier error (an unknown channel, say) means
    /// the other fields cannot be judged, so they should not be reported as unknown.
    pub fn skip_unread(&mut self) {
        self.read.extend(self.map.keys().map(String::as_str));
    }

    /// Which of two alternative fields the request gives; exactly one must be there. Both:
    /// `exclusive` on `second`; neither: `required` on `first`, with `required` as the message.
    pub fn one_of(&mut self, first: &'a str, second: &'a str, required: &str) -> Option<OneOf> {
        match (self.has(first), self.has(second)) {
            (true, true) => {
                self.optional_str(first);
                self.optional_str(second);
                self.error(
                    second,
                    "exclusive",
                    format!("give {first} or {second}, not both"),
                );
                None
            }
            (false, false) => {
                self.error(first, "required", required);
                None
            }
            (true, false) => Some(OneOf::First),
            (false, true) => Some(OneOf::Second),
        }
    }

    pub fn optional_bool(&mut self, name: &'a str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(name, "type", "must be true or false");
                None
            }
        }
    }

    /// An optional object, read by `read` with fields of its own (errors named `name.…`, its
    /// unknown fields refused, reported here): `None` when absent or when it has errors.
    pub fn optional_object<T>(
        &mut self,
        name: &'a str,
        read: impl FnOnce(&mut Fields<'a>) -> Option<T>,
    ) -> Option<T> {
        let value = self.get(name)?;
        let mut inner = match Fields::of(value, &self.path(name)) {
            Ok(inner) => inner,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        let read = read(&mut inner);
        match inner.finish() {
            Ok(()) => read,
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    pub fn optional_str(&mut self, name: &'a str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => {
                self.error(name, "type", "must be a string");
                None
            }
        }
    }

    /// A URL the service may POST to under `policy`: parsed, and the network guard's static
    /// checks (DNS is checked again at send time).
    pub fn required_webhook_url(&mut self, name: &'a str, policy: UrlPolicy) -> Option<WebhookUrl> {
        let raw = self.required_str(name)?;
        self.webhook_url(name, raw, policy)
    }

    pub fn optional_webhook_url(&mut self, name: &'a str, policy: UrlPolicy) -> Option<WebhookUrl> {
        let raw = self.optional_str(name)?;
        self.webhook_url(name, raw, policy)
    }

    fn webhook_url(&mut self, name: &str, raw: &str, policy: UrlPolicy) -> Option<WebhookUrl> {
        let url = match WebhookUrl::parse(raw) {
            Ok(url) => url,
            Err(e) => {
                self.error(name, "url", e);
                return None;
            }
        };
        match check_static(&url, policy) {
            Ok(()) => Some(url),
            Err(refused) => {
                self.error(name, "refused_address", refused.0);
                None
            }
        }
    }

    pub fn required_str(&mut self, name: &'a str) -> Option<&'a str> {
        if self.get(name).is_none() {
            self.error(name, "required", "is required");
            return None;
        }
        self.optional_str(name)
    }

    /// A string that must name one of the values of `T`.
    pub fn optional_enum<T>(&mut self, name: &'a str) -> Option<T>
    where
        T: std::str::FromStr<Err = crate::domain::UnknownName>,
    {
        let raw = self.optional_str(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(name, "one_of", format!("must be one of: {}", e.allowed));
                None
            }
        }
    }

    pub fn required_enum<T>(&mut self, name: &'a str) -> Option<T>
    where
        T: std::str::FromStr<Err = crate::domain::UnknownName>,
    {
        if self.get(name).is_none() {
            self.error(name, "required", "is required");
            return None;
        }
        self.optional_enum(name)
    }

    pub fn required_phone(&mut self, name: &'a str) -> Option<PhoneNumber> {
        let raw = self.required_str(name)?;
        match PhoneNumber::parse(raw) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(name, "phone", format!("is not a valid phone number: {e}"));
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn optional_u32(
        &mut self,
        name: &'a str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        let value = self.get(name)?;
        match whole_number(value)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| range.contains(v))
        {
            Some(v) => Some(v),
            None => {
                self.error(
                    name,
                    "range",
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// An `https://` URL of at most `max_chars`.
    pub fn optional_https_url(&mut self, name: &'a str, max_chars: usize) -> Option<String> {
        let raw = self.optional_str(name)?;
        let host = raw
            .strip_prefix("https://")
            .and_then(|rest| rest.split(['/', '?', '#']).next());
        let ok = raw.len() <= max_chars
            && host.is_some_and(|h| !h.is_empty())
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            self.error(
                name,
                "https_url",
                format!("must be an https:// URL of at most {max_chars} characters"),
            );
            return None;
        }
        Some(raw.to_owned())
    }

    /// An RFC 3339 date-time with an offset (`2026-12-01T09:00:00Z`, `…+01:00`).
    pub fn optional_timestamp(&mut self, name: &'a str) -> Option<crate::domain::time::Timestamp> {
        let raw = self.optional_str(name)?;
        match raw.parse() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(
                    name,
                    "date_time",
                    "must be an RFC 3339 date-time with an offset, like 2026-12-01T09:00:00Z",
                );
                None
            }
        }
    }

    pub fn optional_email(&mut self, name: &'a str) -> Option<EmailAddress> {
        let raw = self.optional_str(name)?;
        self.email(name, raw)
    }

    pub fn required_email(&mut self, name: &'a str) -> Option<EmailAddress> {
        let raw = self.required_str(name)?;
        self.email(name, raw)
    }

    fn email(&mut self, name: &str, raw: &str) -> Option<EmailAddress> {
        match EmailAddress::parse(raw) {
            Ok(a) => Some(a),
            Err(e) => {
                self.error(name, "email", format!("is not a valid email address: {e}"));
                None
            }
        }
    }

    /// A single-line text such as an email subject: no CR, LF or other control characters
    /// (they would let a client inject headers).
    pub fn header_text(
        &mut self,
        name: &'a str,
        max_chars: usize,
        required: bool,
    ) -> Option<String> {
        let raw = if required {
            self.required_str(name)?
        } else {
            self.optional_str(name)?
        };
        if raw.trim().is_empty() {
            self.error(name, "not_blank", "must not be empty");
            return None;
        }
        if raw.chars().any(char::is_control) {
            self.error(
                name,
                "single_line",
                "must not contain CR, LF or other control characters",
            );
            return None;
        }
        if raw.chars().count() > max_chars {
            self.error(
                name,
                "max_length",
                format!("must be at most {max_chars} characters"),
            );
            return None;
        }
        Some(raw.to_owned())
    }

    /// A body part: any text, bounded in bytes.
    pub fn body_text(&mut self, name: &'a str, max_bytes: usize) -> Option<String> {
        let raw = self.optional_str(name)?;
        if raw.trim().is_empty() {
            self.error(name, "not_blank", "must not be empty when given");
            return None;
        }
        if raw.len() > max_bytes {
            self.error(
                name,
                "max_bytes",
                format!("must be at most {max_bytes} bytes (UTF-8)"),
            );
            return None;
        }
        Some(raw.to_owned())
    }

    /// A short label: letters, digits, `_`, `-`, `.`.
    pub fn optional_label(&mut self, name: &'a str, max_chars: usize) -> Option<String> {
        let raw = self.optional_str(name)?;
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if raw.is_empty() || raw.len() > max_chars || !ok_chars {
            self.error(
                name,
                "pattern",
                format!("must be 1 to {max_chars} characters among A-Z a-z 0-9 _ - ."),
            );
            return None;
        }
        Some(raw.to_owned())
    }

    /// An object of string values, bounded in entries and sizes.
    pub fn string_map(&mut self, name: &'a str, limits: MapLimits) -> BTreeMap<String, String> {
        let MapLimits {
            max_entries,
            max_key_chars,
            max_value_chars,
        } = limits;
        let mut out = BTreeMap::new();
        let Some(value) = self.get(name) else {
            return out;
        };
        let Value::Object(map) = value else {
            self.error(name, "type", "must be an object of string values");
            return out;
        };
        if map.len() > max_entries {
            self.error(
                name,
                "max_items",
                format!("must have at most {max_entries} entries"),
            );
            return out;
        }
        for (key, v) in map {
            let field = format!("{name}.{key}");
            if key.is_empty()
                || key.chars().count() > max_key_chars
                || key.chars().any(char::is_control)
            {
                self.error(
                    &field,
                    "key",
                    format!(
                        "keys must be 1 to {max_key_chars} characters without control characters"
                    ),
                );
                continue;
            }
            match v {
                Value::String(s) if s.chars().count() <= max_value_chars => {
                    out.insert(key.clone(), s.clone());
                }
                Value::String(_) => self.error(
                    &field,
                    "max_length",
                    format!("must be at most {max_value_chars} characters"),
                ),
                _ => self.error(&field, "type", "must be a string"),
            }
        }
        out
    }

    /// Ends the reading: unknown fields become errors, and all errors are returned together.
    pub fn finish(mut self) -> Result<(), Vec<FieldError>> {
        // A null where a value is expected: refused, unless the field already has an error
        // (a required field that is null is reported as required).
        let nulls: Vec<String> = self
            .map
            .iter()
            .filter(|(k, v)| v.is_null() && self.read.contains(k.as_str()))
            .map(|(k, _)| self.path(k))
            .filter(|path| !self.errors.iter().any(|e| &e.field == path))
            .collect();
        for field in nulls {
            self.errors.push(FieldError::new(
                field,
                "type",
                "must not be null (leave the field out instead)",
            ));
        }
        let unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.read.contains(k.as_str()))
            .collect();
        for key in unknown {
            let field = self.path(key);
            self.errors.push(FieldError::new(
                field,
                "unknown_field",
                "is not a known field",
            ));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Priority;

    fn rules(errors: &[FieldError]) -> Vec<(String, &'static str)> {
        errors.iter().map(|e| (e.field.clone(), e.rule)).collect()
    }

    #[test]
    fn collects_every_error_and_unknown_fields() {
        let body = json!({"to": "nope", "subject": 3, "priority": "urgent", "sujet": "typo"});
        let mut f = Fields::of(&body, "").unwrap();
        assert!(f.required_email("to").is_none());
        assert!(f.header_text("subject", MAX_SUBJECT_CHARS, true).is_none());
        assert!(f.optional_enum::<Priority>("priority").is_none());
        assert!(f.required_str("channel").is_none());
        let errors = f.finish().unwrap_err();
        assert_eq!(
            rules(&errors),
            vec![
                ("to".into(), "email"),
                ("subject".into(), "type"),
                ("priority".into(), "one_of"),
                ("channel".into(), "required"),
                ("sujet".into(), "unknown_field"),
            ]
        );
    }

    #[test]
    fn subject_rejects_header_injection_and_length() {
        let long = "x".repeat(MAX_SUBJECT_CHARS + 1);
        for (subject, rule) in [
            ("Hi\r\nBcc: x@y.com", "single_line"),
            ("   ", "not_blank"),
            (long.as_str(), "max_length"),
        ] {
            let body = json!({ "subject": subject });
            let mut f = Fields::of(&body, "").unwrap();
            assert!(f.header_text("subject", MAX_SUBJECT_CHARS, true).is_none());
            assert_eq!(
                rules(&f.finish().unwrap_err()),
                vec![("subject".into(), rule)]
            );
        }
        let ok = "é".repeat(MAX_SUBJECT_CHARS);
        let body = json!({ "subject": ok });
        let mut f = Fields::of(&body, "").unwrap();
        assert_eq!(f.header_text("subject", MAX_SUBJECT_CHARS, true), Some(ok));
    }

    #[test]
    fn body_size_is_counted_in_bytes() {
        let body = json!({ "text": "é".repeat(MAX_TEXT_BYTES / 2 + 1) });
        let mut f = Fields::of(&body, "").unwrap();
        assert!(f.body_text("text", MAX_TEXT_BYTES).is_none());
        assert_eq!(
            rules(&f.finish().unwrap_err()),
            vec![("text".into(), "max_bytes")]
        );
    }

    #[test]
    fn metadata_is_bounded_and_typed() {
        let body = json!({ "metadata": { "ok": "v", "n": 1, "": "x" } });
        let mut f = Fields::of(&body, "").unwrap();
        let m = f.string_map("metadata", METADATA_LIMITS);
        assert_eq!(m.len(), 1);
        let mut got = rules(&f.finish().unwrap_err());
        got.sort();
        assert_eq!(
            got,
            vec![("metadata.".into(), "key"), ("metadata.n".into(), "type")]
        );

        let many: Map<String, Value> = (0..=METADATA_LIMITS.max_entries)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let body = json!({ "metadata": many });
        let mut f = Fields::of(&body, "").unwrap();
        f.string_map("metadata", METADATA_LIMITS);
        assert_eq!(
            rules(&f.finish().unwrap_err()),
            vec![("metadata".into(), "max_items")]
        );
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        let body = json!({ "a": 7841.0, "b": 7841.5, "c": -1.0 });
        let mut f = Fields::of(&body, "").unwrap();
        assert_eq!(f.optional_u32("a", 0..=10_000), Some(7841));
        assert_eq!(f.optional_u32("b", 0..=10_000), None);
        assert_eq!(f.optional_u32("c", 0..=10_000), None);
        assert_eq!(
            rules(&f.finish().unwrap_err()),
            vec![("b".into(), "range"), ("c".into(), "range")]
        );
    }

    #[test]
    fn null_is_refused_once_per_field() {
        let body = json!({ "category": null, "to": null });
        let mut f = Fields::of(&body, "").unwrap();
        assert_eq!(f.optional_label("category", MAX_CATEGORY_CHARS), None);
        assert_eq!(f.required_str("to"), None);
        assert_eq!(
            rules(&f.finish().unwrap_err()),
            vec![("to".into(), "required"), ("category".into(), "type")]
        );
    }

    #[test]
    fn a_non_object_body_is_one_error() {
        let err = Fields::of(&json!([1, 2]), "").err().unwrap();
        assert_eq!((err.field.as_str(), err.rule), ("body", "type"));
    }
}
