//! A template as saved (the body of `PUT /v1/templates/{name}`), and the rules it must follow.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::compiled::{CompiledEmail, CompiledPush, CompiledVariant};
use super::names::Locale;
use super::syntax;
use crate::domain::Channel;
use crate::validate::{FieldError, Fields, MAX_HTML_BYTES, MAX_TEXT_BYTES};

pub const MAX_LOCALES: usize = 50;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
pub const MAX_SAMPLE_DATA_BYTES: usize = 16 * 1024;
/// The whole template, serialized; it is stored as one DynamoDB item (400 KB at most,
/// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
pub const MAX_SOURCE_BYTES: usize = 300 * 1024;
pub const MAX_SUBJECT_BYTES: usize = 2 * 1024;
pub const MAX_SMS_BYTES: usize = 8 * 1024;
pub const MAX_PUSH_TITLE_BYTES: usize = 1024;
pub const MAX_PUSH_BODY_BYTES: usize = 4 * 1024;
pub const MAX_PUSH_DATA_ENTRIES: usize = 100;
pub const MAX_PUSH_DATA_KEY_CHARS: usize = 256;
pub const MAX_PUSH_DATA_VALUE_BYTES: usize = 4 * 1024;
pub const MAX_WEBHOOK_PAYLOAD_BYTES: usize = 64 * 1024;

/// A template as saved: one variant per locale, each with a part per channel it supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The locale used when neither the requested locale nor its language has the channel.
    pub default_locale: Locale,
    /// When true, a variable the template uses but the data lacks is a render error.
    #[serde(default)]
    pub strict: bool,
    pub locales: BTreeMap<Locale, Variant>,
    /// Data to preview the template with: an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_data: Option<Value>,
}

/// The parts of one locale; at least one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookPart>,
}

impl Variant {
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
}

/// A subject, and an HTML or a text body or both (the text is derived from the HTML when
/// missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPart {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsPart {
    pub message: String,
}

/// A title or a body or both; the data values are templates too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// A webhook's JSON payload as handlebars text; it must render to valid JSON. Values are
/// JSON-escaped, so `"{{name}}"` stays one string whatever `name` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPart {
    pub payload: String,
}

/// Reads and checks a template body (see [`TemplateSource::parse`]), compiling every part.
pub(super) fn read(
    body: &Value,
) -> Result<(TemplateSource, BTreeMap<Locale, CompiledVariant>), Vec<FieldError>> {
    let mut top = Object::of(body, "").map_err(|e| vec![e])?;

    let description = top.fields.optional_str("description").map(str::to_owned);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        top.fields.error(
            "description",
            "max_length",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        );
    }

    let default_locale = match top.fields.optional_str("defaultLocale") {
        Some(raw) => match Locale::parse(raw) {
            Ok(locale) => Some(locale),
            Err(message) => {
                top.fields.error("defaultLocale", "locale", message);
                None
            }
        },
        None => None,
    };
    let default_given = top.fields.has("defaultLocale");

    let strict = match top.raw("strict") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            top.fields.error("strict", "type", "must be true or false");
            false
        }
    };

    let sample_data = match top.raw("sampleData") {
        None => None,
        Some(data @ Value::Object(_)) => {
            if json_len(data) > MAX_SAMPLE_DATA_BYTES {
                top.fields.error(
                    "sampleData",
                    "max_bytes",
                    format!("must be at most {MAX_SAMPLE_DATA_BYTES} bytes as JSON"),
                );
            }
            Some(data.clone())
        }
        Some(_) => {
            top.fields
                .error("sampleData", "type", "must be a JSON object");
            None
        }
    };

    let mut locales = BTreeMap::new();
    let mut compiled = BTreeMap::new();
    // Every key that names a locale, whether or not its variant is valid.
    let mut keys = BTreeSet::new();
    let mut keys_ok = true;
    match top.raw("locales") {
        None => {
            top.fields.error("locales", "required", "is required");
            keys_ok = false;
        }
        Some(Value::Object(map)) if map.is_empty() => {
            top.fields
                .error("locales", "min_items", "must have at least one locale");
            keys_ok = false;
        }
        Some(Value::Object(map)) if map.len() > MAX_LOCALES => {
            top.fields.error(
                "locales",
                "max_items",
                format!("must have at most {MAX_LOCALES} locales"),
            );
            keys_ok = false;
        }
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let path = format!("locales.{key}");
                let locale = match Locale::parse(key) {
                    Ok(locale) => locale,
                    Err(message) => {
                        top.errors.push(FieldError::new(path, "locale", message));
                        keys_ok = false;
                        continue;
                    }
                };
                if !keys.insert(locale.clone()) {
                    top.errors.push(FieldError::new(
                        path,
                        "duplicate",
                        format!("is the same locale as another key ({locale})"),
                    ));
                    continue;
                }
                if let Some((variant, compiled_variant)) =
                    read_variant(value, &path, &mut top.errors)
                {
                    locales.insert(locale.clone(), variant);
                    compiled.insert(locale, compiled_variant);
                }
            }
        }
        Some(_) => {
            top.fields.error(
                "locales",
                "type",
                "must be an object from locale (like fr-CA) to variant",
            );
            keys_ok = false;
        }
    }

    let default_locale = match default_locale {
        Some(locale) => {
            if keys_ok && !keys.contains(&locale) {
                top.fields.error(
                    "defaultLocale",
                    "one_of",
                    format!("must be one of the locales: {}", joined(&keys)),
                );
            }
            Some(locale)
        }
        None if default_given => None,
        None if keys.len() == 1 && keys_ok => keys.first().cloned(),
        None => {
            if keys.len() > 1 {
                top.fields.error(
                    "defaultLocale",
                    "required",
                    "is required when there is more than one locale",
                );
            }
            None
        }
    };

    let mut errors = top.finish();
    let default_locale = match default_locale {
        Some(locale) if errors.is_empty() => locale,
        _ => {
            if errors.is_empty() {
                errors.push(FieldError::new("defaultLocale", "required", "is required"));
            }
            return Err(errors);
        }
    };
    let source = TemplateSource {
        description,
        default_locale,
        strict,
        locales,
        sample_data,
    };
    if json_len(&source) > MAX_SOURCE_BYTES {
        return Err(vec![FieldError::new(
            "locales",
            "max_bytes",
            format!("the whole template must be at most {MAX_SOURCE_BYTES} bytes as JSON"),
        )]);
    }
    Ok((source, compiled))
}

impl TemplateSource {
    /// The channels any locale has a part for.
    pub fn channels(&self) -> BTreeSet<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| self.locales.values().any(|v| v.has(*c)))
            .collect()
    }
}

fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

fn joined(locales: &BTreeSet<Locale>) -> String {
    locales
        .iter()
        .map(Locale::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A part that was given but broke a rule (the errors are recorded where it was read).
struct Invalid;

/// One JSON object being read. `Fields` reads strings and reports unknown fields; the fields it
/// has no reader for (nested objects, booleans, any JSON) are taken raw here, and kept out of
/// its unknown-field report.
struct Object<'a> {
    fields: Fields<'a>,
    map: &'a Map<String, Value>,
    prefix: String,
    raw_read: Vec<&'static str>,
    /// Errors found by other means than `fields` (nested objects, syntax).
    errors: Vec<FieldError>,
}

impl<'a> Object<'a> {
    fn of(value: &'a Value, prefix: &str) -> Result<Self, FieldError> {
        let fields = Fields::of(value, prefix)?;
        match value {
            Value::Object(map) => Ok(Self {
                fields,
                map,
                prefix: prefix.to_owned(),
                raw_read: Vec::new(),
                errors: Vec::new(),
            }),
            _ => Err(FieldError::new(prefix, "type", "must be a JSON object")),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The field's JSON, null being the same as absent.
    fn raw(&mut self, name: &'static str) -> Option<&'a Value> {
        self.raw_read.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A template text of at most `max_bytes`, compiled.
    fn template(
        &mut self,
        name: &'static str,
        max_bytes: usize,
        single_line: bool,
    ) -> Result<Option<(String, Template)>, Invalid> {
        if !self.fields.has(name) {
            // Marks the field read, and reports it if it is not a string.
            let _ = self.fields.optional_str(name);
            return Ok(None);
        }
        let text = self.fields.body_text(name, max_bytes).ok_or(Invalid)?;
        if single_line && text.chars().any(char::is_control) {
            self.fields.error(
                name,
                "single_line",
                "must not contain CR, LF or other control characters",
            );
            return Err(Invalid);
        }
        match syntax::compile(&self.path(name), &text) {
            Ok(template) => Ok(Some((text, template))),
            Err(e) => {
                self.errors.push(e);
                Err(Invalid)
            }
        }
    }

    fn required_template(
        &mut self,
        name: &'static str,
        max_bytes: usize,
        single_line: bool,
    ) -> Result<(String, Template), Invalid> {
        if !self.fields.has(name) {
            self.fields.error(name, "required", "is required");
        }
        self.template(name, max_bytes, single_line)?.ok_or(Invalid)
    }

    fn finish(self) -> Vec<FieldError> {
        let raw: Vec<String> = self.raw_read.iter().map(|n| self.path(n)).collect();
        let mut errors = match self.fields.finish() {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .filter(|e| !(e.rule == "unknown_field" && raw.contains(&e.field)))
                .collect(),
        };
        errors.extend(self.errors);
        errors
    }
}

fn object<'a>(
    value: &'a Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Object<'a>, Invalid> {
    Object::of(value, path).map_err(|e| {
        errors.push(e);
        Invalid
    })
}

/// `Some(None)` for an absent part, `None` for an invalid one.
fn settle<T>(part: Option<Result<T, Invalid>>) -> Option<Option<T>> {
    match part {
        None => Some(None),
        Some(Ok(t)) => Some(Some(t)),
        Some(Err(Invalid)) => None,
    }
}

fn read_variant(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(Variant, CompiledVariant)> {
    let mut obj = match Object::of(value, path) {
        Ok(obj) => obj,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let mut nested = Vec::new();
    let email = obj
        .raw("email")
        .map(|v| read_email(v, &obj.path("email"), &mut nested));
    let sms = obj
        .raw("sms")
        .map(|v| read_sms(v, &obj.path("sms"), &mut nested));
    let push = obj
        .raw("push")
        .map(|v| read_push(v, &obj.path("push"), &mut nested));
    let webhook = obj
        .raw("webhook")
        .map(|v| read_webhook(v, &obj.path("webhook"), &mut nested));
    let any = email.is_some() || sms.is_some() || push.is_some() || webhook.is_some();
    errors.extend(obj.finish());
    errors.extend(nested);
    if !any {
        errors.push(FieldError::new(
            path,
            "required",
            "needs at least one part: email, sms, push or webhook",
        ));
        return None;
    }
    let (email, sms, push, webhook) = (
        settle(email)?,
        settle(sms)?,
        settle(push)?,
        settle(webhook)?,
    );
    let (email, compiled_email) = email.unzip();
    let (sms, compiled_sms) = sms.unzip();
    let (push, compiled_push) = push.unzip();
    let (webhook, compiled_webhook) = webhook.unzip();
    Some((
        Variant {
            email,
            sms,
            push,
            webhook,
        },
        CompiledVariant {
            email: compiled_email,
            sms: compiled_sms,
            push: compiled_push,
            webhook: compiled_webhook,
        },
    ))
}

fn read_email(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(EmailPart, CompiledEmail), Invalid> {
    let mut obj = object(value, path, errors)?;
    // The subject goes into a header: one line.
    let subject = obj.required_template("subject", MAX_SUBJECT_BYTES, true);
    let html = obj.template("html", MAX_HTML_BYTES, false);
    let text = obj.template("text", MAX_TEXT_BYTES, false);
    let has_body = obj.fields.has("html") || obj.fields.has("text");
    errors.extend(obj.finish());
    if !has_body {
        errors.push(FieldError::new(
            path,
            "required",
            "needs html or text, or both",
        ));
        return Err(Invalid);
    }
    let ((subject, subject_t), html, text) = (subject?, html?, text?);
    let (html, html_t) = html.unzip();
    let (text, text_t) = text.unzip();
    Ok((
        EmailPart {
            subject,
            html,
            text,
        },
        CompiledEmail {
            subject: subject_t,
            html: html_t,
            text: text_t,
        },
    ))
}

fn read_sms(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(SmsPart, Template), Invalid> {
    let mut obj = object(value, path, errors)?;
    let message = obj.required_template("message", MAX_SMS_BYTES, false);
    errors.extend(obj.finish());
    let (message, compiled) = message?;
    Ok((SmsPart { message }, compiled))
}

fn read_webhook(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(WebhookPart, Template), Invalid> {
    let mut obj = object(value, path, errors)?;
    let payload = obj.required_template("payload", MAX_WEBHOOK_PAYLOAD_BYTES, false);
    errors.extend(obj.finish());
    let (payload, compiled) = payload?;
    Ok((WebhookPart { payload }, compiled))
}

fn read_push(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(PushPart, CompiledPush), Invalid> {
    let mut obj = object(value, path, errors)?;
    let title = obj.template("title", MAX_PUSH_TITLE_BYTES, false);
    let body = obj.template("body", MAX_PUSH_BODY_BYTES, false);
    let data_path = obj.path("data");
    let data = match obj.raw("data") {
        None => Ok(BTreeMap::new()),
        Some(value) => read_push_data(value, &data_path, &mut obj.errors),
    };
    let has_text = obj.fields.has("title") || obj.fields.has("body");
    errors.extend(obj.finish());
    if !has_text {
        errors.push(FieldError::new(
            path,
            "required",
            "needs a title or a body, or both",
        ));
        return Err(Invalid);
    }
    let (title, body, data) = (title?, body?, data?);
    let (title, title_t) = title.unzip();
    let (body, body_t) = body.unzip();
    let (data, data_t) = data
        .into_iter()
        .map(|(key, (text, template))| ((key.clone(), text), (key, template)))
        .unzip();
    Ok((
        PushPart { title, body, data },
        CompiledPush {
            title: title_t,
            body: body_t,
            data: data_t,
        },
    ))
}

fn read_push_data(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<BTreeMap<String, (String, Template)>, Invalid> {
    let Value::Object(map) = value else {
        errors.push(FieldError::new(
            path,
            "type",
            "must be an object of string values",
        ));
        return Err(Invalid);
    };
    if map.len() > MAX_PUSH_DATA_ENTRIES {
        errors.push(FieldError::new(
            path,
            "max_items",
            format!("must have at most {MAX_PUSH_DATA_ENTRIES} entries"),
        ));
        return Err(Invalid);
    }
    let mut out = BTreeMap::new();
    let mut valid = true;
    for (key, value) in map {
        let field = format!("{path}.{key}");
        if key.is_empty()
            || key.chars().count() > MAX_PUSH_DATA_KEY_CHARS
            || key.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                field,
                "key",
                format!(
                    "keys must be 1 to {MAX_PUSH_DATA_KEY_CHARS} characters without control \
                     characters"
                ),
            ));
            valid = false;
            continue;
        }
        let Value::String(text) = value else {
            errors.push(FieldError::new(field, "type", "must be a string"));
            valid = false;
            continue;
        };
        if text.len() > MAX_PUSH_DATA_VALUE_BYTES {
            errors.push(FieldError::new(
                field,
                "max_bytes",
                format!("must be at most {MAX_PUSH_DATA_VALUE_BYTES} bytes (UTF-8)"),
            ));
            valid = false;
            continue;
        }
        match syntax::compile(&field, text) {
            Ok(template) => {
                out.insert(key.clone(), (text.clone(), template));
            }
            Err(e) => {
                errors.push(e);
                valid = false;
            }
        }
    }
    if valid { Ok(out) } else { Err(Invalid) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(body: Value) -> Vec<(String, &'static str)> {
        let mut errors: Vec<_> = TemplateSource::parse(&body)
            .err()
            .unwrap_or_else(|| panic!("{body} should be refused"))
            .into_iter()
            .map(|e| (e.field, e.rule))
            .collect();
        errors.sort();
        errors
    }

    fn one(field: &str, rule: &'static str) -> Vec<(String, &'static str)> {
        vec![(field.to_owned(), rule)]
    }

    fn sms_body(message: Value) -> Value {
        json!({"locales": {"en": {"sms": {"message": message}}}})
    }

    #[test]
    fn a_single_locale_is_the_default_and_strict_is_off() {
        let body = json!({"locales": {"fr-ca": {
            "sms": {"message": "Bonjour {{name}}"},
            "push": {"body": "b", "data": null},
            "email": null,
        }}});
        let (source, _) = TemplateSource::parse(&body).unwrap();
        assert_eq!(source.default_locale.as_str(), "fr-CA");
        assert!(!source.strict);
        assert_eq!(source.description, None);
        assert_eq!(
            source.channels(),
            BTreeSet::from([Channel::Sms, Channel::Push])
        );
        assert_eq!(
            source
                .locales
                .keys()
                .map(Locale::as_str)
                .collect::<Vec<_>>(),
            vec!["fr-CA"]
        );
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_path() {
        let body = json!({
            "description": "d",
            "sujet": "typo",
            "strict": "yes",
            "defaultLocale": "en",
            "locales": {
                "en": {
                    "email": {"subject": "Hi {{name}}", "html": "<p>{{#if x}}</p>", "bcc": "x"},
                    "sms": {"message": 42},
                    "fax": {},
                },
                "fr-CA": {"push": {"data": {"k": 1}}},
                "fr_CA": {"sms": {"message": "x"}},
            },
        });
        assert_eq!(
            errors(body),
            vec![
                ("locales.en.email.bcc".to_owned(), "unknown_field"),
                ("locales.en.email.html".to_owned(), "syntax"),
                ("locales.en.fax".to_owned(), "unknown_field"),
                ("locales.en.sms.message".to_owned(), "type"),
                ("locales.fr-CA.push".to_owned(), "required"),
                ("locales.fr-CA.push.data.k".to_owned(), "type"),
                ("locales.fr_CA".to_owned(), "locale"),
                ("strict".to_owned(), "type"),
                ("sujet".to_owned(), "unknown_field"),
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_part_and_the_line() {
        let body = json!({"locales": {"en": {"email": {
            "subject": "ok",
            "text": "Hello\n\n  {{name}\n",
        }}}});
        let errors = TemplateSource::parse(&body).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "locales.en.email.text");
        assert_eq!(errors[0].rule, "syntax");
        assert!(
            errors[0].message.starts_with("line 3, column "),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn partials_and_decorators_are_refused_at_their_part() {
        let body = json!({"locales": {"en": {
            "sms": {"message": "{{> footer}}"},
            "push": {"title": "{{#*inline \"me\"}}{{> me}}{{/inline}}", "data": {"d": "{{#> x}}{{/x}}"}},
        }}});
        assert_eq!(
            errors(body),
            vec![
                ("locales.en.push.data.d".to_owned(), "unsupported"),
                ("locales.en.push.title".to_owned(), "unsupported"),
                ("locales.en.sms.message".to_owned(), "unsupported"),
            ]
        );
    }

    #[test]
    fn the_default_locale_must_be_one_of_the_locales() {
        let two = json!({"en": {"sms": {"message": "a"}}, "fr": {"sms": {"message": "b"}}});
        assert_eq!(
            errors(json!({ "locales": two })),
            one("defaultLocale", "required")
        );
        assert_eq!(
            errors(json!({ "locales": two, "defaultLocale": "de" })),
            one("defaultLocale", "one_of")
        );
        assert_eq!(
            errors(json!({ "locales": two, "defaultLocale": "english" })),
            one("defaultLocale", "locale")
        );
        let (source, _) =
            TemplateSource::parse(&json!({ "locales": two, "defaultLocale": "FR" })).unwrap();
        assert_eq!(source.default_locale.as_str(), "fr");
    }

    #[test]
    fn locale_keys_are_normalised_and_must_be_distinct() {
        let body = json!({"defaultLocale": "fr-CA", "locales": {
            "fr-CA": {"sms": {"message": "a"}},
            "fr-ca": {"sms": {"message": "b"}},
        }});
        assert_eq!(errors(body), one("locales.fr-ca", "duplicate"));
        assert_eq!(errors(json!({"locales": {}})), one("locales", "min_items"));
        assert_eq!(errors(json!({"locales": []})), one("locales", "type"));
        assert_eq!(errors(json!({})), one("locales", "required"));
        let many: Map<String, Value> = (0..=MAX_LOCALES)
            .map(|i| {
                let key = format!(
                    "{}{}",
                    char::from(b'a' + (i / 26) as u8),
                    char::from(b'a' + (i % 26) as u8)
                );
                (key, json!({"sms": {"message": "x"}}))
            })
            .collect();
        assert_eq!(
            errors(json!({"defaultLocale": "aa", "locales": many})),
            one("locales", "max_items")
        );
    }

    #[test]
    fn parts_need_their_required_fields() {
        let body = json!({"locales": {
            "en": {"email": {"subject": "s"}, "sms": {}, "push": {"data": {"a": "b"}}},
            "fr": {},
            "de": {"email": {"html": "h"}},
        }, "defaultLocale": "en"});
        assert_eq!(
            errors(body),
            vec![
                ("locales.de.email.subject".to_owned(), "required"),
                ("locales.en.email".to_owned(), "required"),
                ("locales.en.push".to_owned(), "required"),
                ("locales.en.sms.message".to_owned(), "required"),
                ("locales.fr".to_owned(), "required"),
            ]
        );
    }

    #[test]
    fn fields_are_typed_and_bounded() {
        assert_eq!(errors(json!([1])), one("body", "type"));
        let base = |extra: Value| {
            let mut body = sms_body(json!("x"));
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        assert_eq!(
            errors(base(json!({"sampleData": [1]}))),
            one("sampleData", "type")
        );
        let big = "x".repeat(MAX_SAMPLE_DATA_BYTES);
        assert_eq!(
            errors(base(json!({"sampleData": {"big": big}}))),
            one("sampleData", "max_bytes")
        );
        assert_eq!(
            errors(base(
                json!({"description": "d".repeat(MAX_DESCRIPTION_CHARS + 1)})
            )),
            one("description", "max_length")
        );
        let body = json!({"locales": {"en": {"email": {
            "subject": "Hello\n{{name}}", "text": "t",
        }}}});
        assert_eq!(errors(body), one("locales.en.email.subject", "single_line"));
    }

    #[test]
    fn size_limits_are_in_bytes_per_part() {
        let over = |limit: usize| "é".repeat(limit / 2 + 1);
        let body = json!({"locales": {"en": {
            "email": {
                "subject": over(MAX_SUBJECT_BYTES),
                "html": over(MAX_HTML_BYTES),
                "text": over(MAX_TEXT_BYTES),
            },
            "sms": {"message": over(MAX_SMS_BYTES)},
            "push": {
                "title": over(MAX_PUSH_TITLE_BYTES),
                "body": over(MAX_PUSH_BODY_BYTES),
                "data": {
                    "v": over(MAX_PUSH_DATA_VALUE_BYTES),
                    "k".repeat(MAX_PUSH_DATA_KEY_CHARS + 1): "x",
                },
            },
        }}});
        let key = format!(
            "locales.en.push.data.{}",
            "k".repeat(MAX_PUSH_DATA_KEY_CHARS + 1)
        );
        assert_eq!(
            errors(body),
            vec![
                ("locales.en.email.html".to_owned(), "max_bytes"),
                ("locales.en.email.subject".to_owned(), "max_bytes"),
                ("locales.en.email.text".to_owned(), "max_bytes"),
                ("locales.en.push.body".to_owned(), "max_bytes"),
                (key, "key"),
                ("locales.en.push.data.v".to_owned(), "max_bytes"),
                ("locales.en.push.title".to_owned(), "max_bytes"),
                ("locales.en.sms.message".to_owned(), "max_bytes"),
            ]
        );
        // Exactly at the limit is accepted.
        let at = "é".repeat(MAX_SMS_BYTES / 2);
        assert!(TemplateSource::parse(&sms_body(json!(at))).is_ok());

        let data: Map<String, Value> = (0..=MAX_PUSH_DATA_ENTRIES)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let body = json!({"locales": {"en": {"push": {"body": "b", "data": data}}}});
        assert_eq!(errors(body), one("locales.en.push.data", "max_items"));
    }

    #[test]
    fn the_whole_template_is_bounded() {
        let html = "x".repeat(MAX_HTML_BYTES - 10);
        let variant = json!({"email": {"subject": "s", "html": html}});
        let body = json!({"defaultLocale": "en", "locales": {"en": variant, "fr": variant}});
        assert_eq!(errors(body), one("locales", "max_bytes"));
    }
}
