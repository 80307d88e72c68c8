//! Chat: to a registered chat target (`target`, by name: a Slack channel or a Teams
//! workflow), a `text`, and optionally Slack's `blocks` and a Teams Adaptive Card `card`,
//! within the services' limits: Slack takes at most 50 blocks and 3,000 characters in a
//! section's text, Teams a card of at most 28 KB.

use notify_shared::{
    domain::{Channel, ChatContent, Content, EndpointName, Recipient},
    template::MAX_CHAT_TEXT_BYTES,
    validate::{FieldError, Fields},
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch, under};

/// Slack's limits on blocks (https://api.slack.com/reference/block-kit/blocks).
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT_CHARS: usize = 3_000;
/// Teams refuses a message larger than 28 KB.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

pub const INLINE_FIELDS: &[&str] = &["text", "blocks", "card"];

/// `target`: a chat target the tenant registered (checked to exist when accepted).
pub fn recipient(f: &mut Fields<'_>) -> Option<Recipient> {
    let raw = f.required_str("target")?;
    match EndpointName::parse(raw) {
        Ok(name) => Some(Recipient::ChatTarget(name)),
        Err(e) => {
            f.error("target", "pattern", e);
            None
        }
    }
}

pub fn texts(f: &mut Fields<'_>) -> Option<Texts> {
    let text = f.body_text("text", MAX_CHAT_TEXT_BYTES);
    if !f.has("text") {
        f.error(
            "text",
            "required",
            "is required (the message, and its notification's text)",
        );
    }
    let blocks = f.optional_value("blocks").cloned();
    let card = f.optional_value("card").cloned();
    let mut ok = true;
    let blocks = match blocks.map(|b| check_blocks(&b, "blocks")) {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            f.error(&e.field, e.rule, e.message);
            ok = false;
            None
        }
        None => None,
    };
    let card = match card.map(|c| check_card(&c, "card")) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            f.error(&e.field, e.rule, e.message);
            ok = false;
            None
        }
        None => None,
    };
    let text = text?;
    ok.then_some(Texts::Chat { text, blocks, card })
}

/// Slack's blocks: an array of at most 50 objects with a `type`, no section text over 3,000
/// characters; the JSON text sent.
fn check_blocks(value: &Value, field: &str) -> Result<String, FieldError> {
    let Value::Array(blocks) = value else {
        return Err(FieldError::new(
            field,
            "type",
            "must be an array of Slack blocks",
        ));
    };
    if blocks.len() > MAX_BLOCKS {
        return Err(FieldError::new(
            field,
            "max_items",
            format!("Slack takes at most {MAX_BLOCKS} blocks"),
        ));
    }
    for (i, block) in blocks.iter().enumerate() {
        if !block["type"].is_string() {
            return Err(FieldError::new(
                format!("{field}[{i}].type"),
                "required",
                "every block is an object with a type",
            ));
        }
        let texts = [("text", &block["text"]["text"])].into_iter().chain(
            block["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| ("fields", &f["text"])),
        );
        for (part, text) in texts {
            if text
                .as_str()
                .is_some_and(|t| t.chars().count() > MAX_SECTION_TEXT_CHARS)
            {
                let path = if part == "text" {
                    format!("{field}[{i}].text.text")
                } else {
                    format!("{field}[{i}].fields")
                };
                return Err(FieldError::new(
                    path,
                    "max_length",
                    format!(
                        "Slack takes at most {MAX_SECTION_TEXT_CHARS} characters in a section's text"
                    ),
                ));
            }
        }
    }
    Ok(value.to_string())
}

/// A Teams Adaptive Card: an object of type `AdaptiveCard`, at most 28 KB as JSON.
fn check_card(value: &Value, field: &str) -> Result<String, FieldError> {
    if value["type"] != "AdaptiveCard" {
        return Err(FieldError::new(
            field,
            "type",
            "must be an Adaptive Card: an object with \"type\": \"AdaptiveCard\"",
        ));
    }
    let card = value.to_string();
    if card.len() > MAX_CARD_BYTES {
        return Err(FieldError::new(
            field,
            "max_bytes",
            format!("Teams takes a card of at most {MAX_CARD_BYTES} bytes"),
        ));
    }
    Ok(card)
}

pub fn assemble(texts: Texts, prefix: &str) -> Result<Content, FieldError> {
    let Texts::Chat { text, blocks, card } = texts else {
        return Err(mismatch(Channel::Chat, prefix));
    };
    Ok(Content::Chat(ChatContent { text, blocks, card }))
}

/// A rendered part read back: its blocks and card must be JSON, reported on the rendered
/// part when they are not.
pub fn as_inline(
    text: String,
    blocks: Option<String>,
    card: Option<String>,
    prefix: &str,
) -> Result<Value, FieldError> {
    let json_of = |raw: Option<String>, part: &str| -> Result<Value, FieldError> {
        match raw {
            None => Ok(Value::Null),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| {
                FieldError::new(
                    under(prefix, part),
                    "json",
                    format!("the rendered {part} are not valid JSON: {e}"),
                )
            }),
        }
    };
    Ok(
        json!({ "text": text, "blocks": json_of(blocks, "blocks")?, "card": json_of(card, "card")? }),
    )
}

/// A batch's inline fields as a template part: blocks and card as JSON text.
pub fn template_part(inline: serde_json::Map<String, Value>) -> Value {
    let mut part = serde_json::Map::new();
    for (k, v) in inline {
        let v = match (k.as_str(), v) {
            ("blocks" | "card", v) => Value::String(v.to_string()),
            (_, v) => v,
        };
        part.insert(k, v);
    }
    Value::Object(part)
}

pub fn preview(text: String, blocks: Option<String>, card: Option<String>) -> Value {
    let parsed = |raw: Option<String>| {
        raw.map(|r| serde_json::from_str::<Value>(&r).unwrap_or(Value::String(r)))
    };
    json!({ "text": text, "blocks": parsed(blocks), "card": parsed(card) })
}

pub fn summary(_: &ChatContent) -> Summary<'static> {
    Summary::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_within_slacks_limits_and_a_400_naming_the_part_beyond() {
        let ok = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]);
        assert!(check_blocks(&ok, "blocks").is_ok());
        let many = Value::Array(vec![json!({"type": "divider"}); MAX_BLOCKS + 1]);
        assert_eq!(check_blocks(&many, "blocks").unwrap_err().rule, "max_items");
        let long = json!([{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
        let e = check_blocks(&long, "blocks").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.rule),
            ("blocks[1].text.text", "max_length")
        );
        let untyped = json!([{"text": "no type"}]);
        assert_eq!(
            check_blocks(&untyped, "blocks").unwrap_err().field,
            "blocks[0].type"
        );
    }

    #[test]
    fn a_card_is_an_adaptive_card_within_28_kb() {
        assert!(check_card(&json!({"type": "AdaptiveCard", "body": []}), "card").is_ok());
        assert_eq!(
            check_card(&json!({"type": "Hero"}), "card")
                .unwrap_err()
                .rule,
            "type"
        );
        let big = json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x".repeat(MAX_CARD_BYTES)}]});
        assert_eq!(check_card(&big, "card").unwrap_err().rule, "max_bytes");
    }
}
