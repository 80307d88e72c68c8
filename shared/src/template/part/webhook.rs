//! The webhook part: a JSON payload as handlebars text, its values JSON-escaped.

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{Part, RenderError, RenderedContent};
use crate::validate::FieldError;

pub const MAX_WEBHOOK_PAYLOAD_BYTES: usize = 64 * 1024;
/// A rendered webhook payload; the channel's own limit on what is sent is larger than a
/// template may produce.
pub const MAX_RENDERED_WEBHOOK_BYTES: usize = 256 * 1024;

/// A webhook's JSON payload as handlebars text; it must render to valid JSON. Values are
/// JSON-escaped, so `"{{name}}"` stays one string whatever `name` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPart {
    pub payload: String,
}

#[derive(Debug)]
pub(super) struct CompiledWebhook {
    payload: Template,
}

pub(super) fn read(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(WebhookPart, CompiledWebhook), Invalid> {
    let mut obj = object(value, path, errors)?;
    let payload = obj.required_template("payload", MAX_WEBHOOK_PAYLOAD_BYTES, false);
    errors.extend(obj.finish());
    let (payload, compiled) = payload?;
    Ok((
        WebhookPart { payload },
        CompiledWebhook { payload: compiled },
    ))
}

impl CompiledWebhook {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        Ok(RenderedContent::Webhook {
            payload: part.render(
                &self.payload,
                "webhook.payload",
                Escape::Json,
                MAX_RENDERED_WEBHOOK_BYTES,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Channel;
    use crate::template::tests::compiled;

    #[test]
    fn a_webhook_payload_escapes_values_as_json_strings() {
        let t = compiled(json!({
            "locales": {"en": {"webhook": {
                "payload": "{\"name\": \"{{name}}\", \"count\": {{count}}, \"items\": {{{items}}}}"
            }}}
        }));
        let data = json!({"name": "Ann \"the\" \\ O'Neil\n", "count": 3, "items": "[1,2]"});
        let RenderedContent::Webhook { payload } =
            t.render(Channel::Webhook, None, &data).unwrap().content
        else {
            panic!("a webhook part");
        };
        let parsed: Value = serde_json::from_str(&payload).expect(&payload);
        assert_eq!(
            parsed,
            json!({"name": "Ann \"the\" \\ O'Neil\n", "count": 3, "items": [1, 2]})
        );
    }
}
