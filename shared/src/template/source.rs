//! A template as saved (the body of `PUT /v1/templates/{name}`), and the rules the whole of it
//! must follow; each channel's part has its own, in `part/`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::names::Locale;
use super::object::Object;
use super::part::{CompiledVariant, Variant, read_variant};
use crate::domain::Channel;
use crate::validate::FieldError;

pub const MAX_LOCALES: usize = 50;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
pub const MAX_SAMPLE_DATA_BYTES: usize = 16 * 1024;
/// The whole template, serialized; it is stored as one DynamoDB item (400 KB at most,
/// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
pub const MAX_SOURCE_BYTES: usize = 300 * 1024;

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

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::template::tests::{errors, one, sms_body};
    use crate::validate::MAX_HTML_BYTES;

    #[test]
    fn a_single_locale_is_the_default_and_strict_is_off() {
        let body = json!({"locales": {"fr-ca": {
            "sms": {"message": "Bonjour {{name}}"},
            "push": {"body": "b"},
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
    fn a_null_is_refused_where_it_stands() {
        let body = json!({"sampleData": null, "locales": {"fr": {
            "sms": {"message": "Bonjour"},
            "push": {"body": "b", "data": null},
            "email": null,
        }}});
        let paths: Vec<String> = TemplateSource::parse(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{} {}", e.field, e.rule))
            .collect();
        assert_eq!(
            paths,
            vec![
                "sampleData type",
                "locales.fr.email type",
                "locales.fr.push.data type"
            ]
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
    fn the_whole_template_is_bounded() {
        let html = "x".repeat(MAX_HTML_BYTES - 10);
        let variant = json!({"email": {"subject": "s", "html": html}});
        let body = json!({"defaultLocale": "en", "locales": {"en": variant, "fr": variant}});
        assert_eq!(errors(body), one("locales", "max_bytes"));
    }
}
