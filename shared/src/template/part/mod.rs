//! A template's part per channel: one module per channel holds its source type (the JSON of a
//! saved template), how it is read, checked and compiled, its compiled form, and how it renders
//! (what it escapes, how large it may grow). This file reaches them through exhaustive matches
//! on `Channel`, one per thing a locale's variant does: the channel modules depend on the
//! shared reader (`object`) and renderer (`render`), never on this file or on each other.

mod chat;
mod email;
mod in_app;
mod push;
mod sms;
mod webhook;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::chat::CompiledChat;
use self::email::CompiledEmail;
use self::in_app::CompiledInApp;
use self::push::CompiledPush;
use self::sms::CompiledSms;
use self::webhook::CompiledWebhook;
use super::object::Object;
use super::render::{Part, RenderError, RenderedContent};
use crate::domain::Channel;
use crate::validate::FieldError;

pub use self::chat::{ChatPart, MAX_CHAT_JSON_BYTES, MAX_CHAT_TEXT_BYTES};
pub use self::email::{EmailPart, MAX_RENDERED_HTML_BYTES, MAX_RENDERED_TEXT_BYTES, html_to_text};
pub use self::in_app::{
    InAppPart, MAX_IN_APP_ACTION_URL_BYTES, MAX_IN_APP_BODY_BYTES, MAX_IN_APP_TITLE_BYTES,
};
pub use self::push::PushPart;
pub use self::sms::SmsPart;
pub use self::webhook::WebhookPart;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<InAppPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatPart>,
}

impl Variant {
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
            Channel::InApp => self.in_app.is_some(),
            Channel::Chat => self.chat.is_some(),
        }
    }
}

/// The parts of one locale, compiled.
#[derive(Debug, Default)]
pub(super) struct CompiledVariant {
    email: Option<CompiledEmail>,
    sms: Option<CompiledSms>,
    push: Option<CompiledPush>,
    webhook: Option<CompiledWebhook>,
    in_app: Option<CompiledInApp>,
    chat: Option<CompiledChat>,
}

impl CompiledVariant {
    pub(super) fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
            Channel::InApp => self.in_app.is_some(),
            Channel::Chat => self.chat.is_some(),
        }
    }

    /// The part for `channel` rendered, or `None` when this locale has none.
    pub(super) fn render(
        &self,
        channel: Channel,
        part: &Part,
    ) -> Option<Result<RenderedContent, RenderError>> {
        match channel {
            Channel::Email => self.email.as_ref().map(|c| c.render(part)),
            Channel::Sms => self.sms.as_ref().map(|c| c.render(part)),
            Channel::Push => self.push.as_ref().map(|c| c.render(part)),
            Channel::Webhook => self.webhook.as_ref().map(|c| c.render(part)),
            Channel::InApp => self.in_app.as_ref().map(|c| c.render(part)),
            Channel::Chat => self.chat.as_ref().map(|c| c.render(part)),
        }
    }
}

/// Reads one locale's variant at `path` (`locales.fr-CA`), every part it gives checked and
/// compiled; `None`, with the errors recorded, when any part is invalid or none is given.
pub(super) fn read_variant(
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
    let mut variant = Variant::default();
    let mut compiled = CompiledVariant::default();
    let mut nested = Vec::new();
    let (mut any, mut valid) = (false, true);
    for channel in Channel::ALL {
        let name = channel.as_str();
        let Some(value) = obj.raw(name) else {
            continue;
        };
        any = true;
        let path = obj.path(name);
        let read = match channel {
            Channel::Email => email::read(value, &path, &mut nested).map(|(part, c)| {
                variant.email = Some(part);
                compiled.email = Some(c);
            }),
            Channel::Sms => sms::read(value, &path, &mut nested).map(|(part, c)| {
                variant.sms = Some(part);
                compiled.sms = Some(c);
            }),
            Channel::Push => push::read(value, &path, &mut nested).map(|(part, c)| {
                variant.push = Some(part);
                compiled.push = Some(c);
            }),
            Channel::Webhook => webhook::read(value, &path, &mut nested).map(|(part, c)| {
                variant.webhook = Some(part);
                compiled.webhook = Some(c);
            }),
            Channel::InApp => in_app::read(value, &path, &mut nested).map(|(part, c)| {
                variant.in_app = Some(part);
                compiled.in_app = Some(c);
            }),
            Channel::Chat => chat::read(value, &path, &mut nested).map(|(part, c)| {
                variant.chat = Some(part);
                compiled.chat = Some(c);
            }),
        };
        valid &= read.is_ok();
    }
    errors.extend(obj.finish());
    errors.extend(nested);
    if !any {
        errors.push(FieldError::new(
            path,
            "required",
            format!("needs at least one part: {}", part_names()),
        ));
        return None;
    }
    valid.then_some((variant, compiled))
}

/// `email, sms, push or webhook`.
fn part_names() -> String {
    let names = Channel::ALL.map(Channel::as_str);
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Map, json};

    use super::email::MAX_SUBJECT_BYTES;
    use super::push::{
        MAX_PUSH_BODY_BYTES, MAX_PUSH_DATA_ENTRIES, MAX_PUSH_DATA_KEY_CHARS,
        MAX_PUSH_DATA_VALUE_BYTES, MAX_PUSH_TITLE_BYTES,
    };
    use super::sms::MAX_SMS_BYTES;
    use super::*;
    use crate::template::TemplateSource;
    use crate::template::tests::{compiled, errors, one, sms, sms_body};
    use crate::validate::{MAX_HTML_BYTES, MAX_TEXT_BYTES};

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
    fn only_the_html_part_is_escaped() {
        let x = "{{x}}";
        let template = compiled(json!({
            "locales": {"en": {
                "email": {"subject": x, "html": "<p>{{x}}</p>{{{x}}}", "text": x},
                "sms": {"message": x},
                "push": {"title": x, "body": x, "data": {"k": x}},
            }}
        }));
        let raw = "<b>Tom & \"Jerry\"</b>";
        let data = json!({ "x": raw });
        let email = template
            .render(Channel::Email, None, &data)
            .unwrap()
            .content;
        assert_eq!(
            email,
            RenderedContent::Email {
                subject: raw.to_owned(),
                html: Some(format!(
                    "<p>&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;</p>{raw}"
                )),
                text: Some(raw.to_owned()),
            }
        );
        assert_eq!(sms(&template, data.clone()).unwrap(), raw);
        let push = template.render(Channel::Push, None, &data).unwrap().content;
        assert_eq!(
            push,
            RenderedContent::Push {
                title: Some(raw.to_owned()),
                body: Some(raw.to_owned()),
                data: BTreeMap::from([("k".to_owned(), raw.to_owned())]),
            }
        );
    }
}
