//! The chat part: the message's text (nothing escaped: Slack's and Teams' markup are the
//! author's), and optionally Slack's `blocks` and a Teams Adaptive Card `card` as JSON
//! handlebars text, their values JSON-escaped as a webhook payload's are.

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{MAX_RENDERED_OTHER_BYTES, Part, RenderError, RenderedContent};
use crate::validate::FieldError;

pub const MAX_CHAT_TEXT_BYTES: usize = 40_000;
pub const MAX_CHAT_JSON_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPart {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
}

#[derive(Debug)]
pub(super) struct CompiledChat {
    text: Template,
    blocks: Option<Template>,
    card: Option<Template>,
}

pub(super) fn read(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(ChatPart, CompiledChat), Invalid> {
    let mut obj = object(value, path, errors)?;
    let text = obj.required_template("text", MAX_CHAT_TEXT_BYTES, false);
    let blocks = obj.template("blocks", MAX_CHAT_JSON_BYTES, false);
    let card = obj.template("card", MAX_CHAT_JSON_BYTES, false);
    errors.extend(obj.finish());
    let (text, text_t) = text?;
    let (blocks, blocks_t) = blocks?.unzip();
    let (card, card_t) = card?.unzip();
    Ok((
        ChatPart { text, blocks, card },
        CompiledChat {
            text: text_t,
            blocks: blocks_t,
            card: card_t,
        },
    ))
}

impl CompiledChat {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        let json =
            |t: &Template, name: &str| part.render(t, name, Escape::Json, MAX_CHAT_JSON_BYTES);
        Ok(RenderedContent::Chat {
            text: part.render(
                &self.text,
                "chat.text",
                Escape::None,
                MAX_CHAT_TEXT_BYTES.max(MAX_RENDERED_OTHER_BYTES),
            )?,
            blocks: self
                .blocks
                .as_ref()
                .map(|t| json(t, "chat.blocks"))
                .transpose()?,
            card: self
                .card
                .as_ref()
                .map(|t| json(t, "chat.card"))
                .transpose()?,
        })
    }
}
