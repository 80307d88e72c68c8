//! The in-app part: an inbox item's body (required), title and action URL, and data whose
//! values are templates too. Nothing is escaped: the app shows text, not HTML.

use std::collections::BTreeMap;

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::push::read_data;
use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{MAX_RENDERED_OTHER_BYTES, Part, RenderError, RenderedContent};
use crate::validate::FieldError;

pub const MAX_IN_APP_TITLE_BYTES: usize = 1024;
pub const MAX_IN_APP_BODY_BYTES: usize = 8 * 1024;
pub const MAX_IN_APP_ACTION_URL_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InAppPart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug)]
pub(super) struct CompiledInApp {
    title: Option<Template>,
    body: Template,
    action_url: Option<Template>,
    data: BTreeMap<String, Template>,
}

pub(super) fn read(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(InAppPart, CompiledInApp), Invalid> {
    let mut obj = object(value, path, errors)?;
    let title = obj.template("title", MAX_IN_APP_TITLE_BYTES, false);
    let body = obj.template("body", MAX_IN_APP_BODY_BYTES, false);
    let action_url = obj.template("actionUrl", MAX_IN_APP_ACTION_URL_BYTES, true);
    let data_path = obj.path("data");
    let data = match obj.raw("data") {
        None => Ok(BTreeMap::new()),
        Some(value) => read_data(value, &data_path, &mut obj.errors),
    };
    let has_body = obj.fields.has("body");
    let body_path = obj.path("body");
    errors.extend(obj.finish());
    if !has_body {
        errors.push(FieldError::new(body_path, "required", "is required"));
        return Err(Invalid);
    }
    let (title, body, action_url, data) = (title?, body?, action_url?, data?);
    let Some((body, body_t)) = body else {
        return Err(Invalid);
    };
    let (title, title_t) = title.unzip();
    let (action_url, action_url_t) = action_url.unzip();
    let (data, data_t) = data
        .into_iter()
        .map(|(key, (text, template))| ((key.clone(), text), (key, template)))
        .unzip();
    Ok((
        InAppPart {
            title,
            body,
            action_url,
            data,
        },
        CompiledInApp {
            title: title_t,
            body: body_t,
            action_url: action_url_t,
            data: data_t,
        },
    ))
}

impl CompiledInApp {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        let plain =
            |t: &Template, name: &str| part.render(t, name, Escape::None, MAX_RENDERED_OTHER_BYTES);
        Ok(RenderedContent::InApp {
            title: self
                .title
                .as_ref()
                .map(|t| plain(t, "in_app.title"))
                .transpose()?,
            body: plain(&self.body, "in_app.body")?,
            action_url: self
                .action_url
                .as_ref()
                .map(|t| plain(t, "in_app.actionUrl"))
                .transpose()?,
            data: self
                .data
                .iter()
                .map(|(key, t)| Ok((key.clone(), plain(t, &format!("in_app.data.{key}"))?)))
                .collect::<Result<_, RenderError>>()?,
        })
    }
}
