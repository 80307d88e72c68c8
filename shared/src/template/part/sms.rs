//! The SMS part: one message, rendered as it is (nothing is escaped).

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{MAX_RENDERED_OTHER_BYTES, Part, RenderError, RenderedContent};
use crate::validate::FieldError;

pub const MAX_SMS_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsPart {
    pub message: String,
}

#[derive(Debug)]
pub(super) struct CompiledSms {
    message: Template,
}

pub(super) fn read(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(SmsPart, CompiledSms), Invalid> {
    let mut obj = object(value, path, errors)?;
    let message = obj.required_template("message", MAX_SMS_BYTES, false);
    errors.extend(obj.finish());
    let (message, compiled) = message?;
    Ok((SmsPart { message }, CompiledSms { message: compiled }))
}

impl CompiledSms {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        Ok(RenderedContent::Sms {
            message: part.render(
                &self.message,
                "sms.message",
                Escape::None,
                MAX_RENDERED_OTHER_BYTES,
            )?,
        })
    }
}
