//! The push part: a title or a body or both, and data whose values are templates too. Nothing
//! is escaped.

use std::collections::BTreeMap;

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{MAX_RENDERED_OTHER_BYTES, Part, RenderError, RenderedContent};
use crate::template::syntax;
use crate::validate::FieldError;

pub const MAX_PUSH_TITLE_BYTES: usize = 1024;
pub const MAX_PUSH_BODY_BYTES: usize = 4 * 1024;
pub const MAX_PUSH_DATA_ENTRIES: usize = 100;
pub const MAX_PUSH_DATA_KEY_CHARS: usize = 256;
pub const MAX_PUSH_DATA_VALUE_BYTES: usize = 4 * 1024;

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

#[derive(Debug)]
pub(super) struct CompiledPush {
    title: Option<Template>,
    body: Option<Template>,
    data: BTreeMap<String, Template>,
}

pub(super) fn read(
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
        Some(value) => read_data(value, &data_path, &mut obj.errors),
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

pub(super) fn read_data(
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

impl CompiledPush {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        let plain =
            |t: &Template, name: &str| part.render(t, name, Escape::None, MAX_RENDERED_OTHER_BYTES);
        Ok(RenderedContent::Push {
            title: self
                .title
                .as_ref()
                .map(|t| plain(t, "push.title"))
                .transpose()?,
            body: self
                .body
                .as_ref()
                .map(|t| plain(t, "push.body"))
                .transpose()?,
            data: self
                .data
                .iter()
                .map(|(key, t)| Ok((key.clone(), plain(t, &format!("push.data.{key}"))?)))
                .collect::<Result<_, RenderError>>()?,
        })
    }
}
