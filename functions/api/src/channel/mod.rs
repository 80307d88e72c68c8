//! Each channel's share of a request, one module per channel: who it goes to (the recipient
//! fields), what it says (the inline content fields and their limits), how it is sent (the
//! options), how its content is summarised in answers, and how a rendered template part is
//! read back as inline content. The rest of the API reaches a channel only through the
//! exhaustive `match`es below, so a new `Channel` variant does not compile until every one of
//! them has its arm.

mod chat;
mod email;
mod in_app;
mod push;
mod sms;
mod webhook;

use notify_shared::{
    domain::{Channel, Content, Recipient, UserId, sms::SmsEncoding},
    validate::{FieldError, Fields, OneOf},
    webhook::UrlPolicy,
};
use serde::Serialize;
use serde_json::Value;

/// The text of a message, before the channel's options are added: typed inline, or rendered
/// (the same shape either way).
pub use notify_shared::template::RenderedContent as Texts;

/// What the channels' checks depend on that is configuration, not protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest SMS text, in characters (SNS: at most 1600).
    pub sms_max_chars: usize,
    /// Which webhook URLs may be called.
    pub url_policy: UrlPolicy,
}

/// The channel's settings that are not text: they apply whatever the text came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Options {
    Email(email::Options),
    Sms,
    Push(push::Options),
    Webhook,
    InApp,
    Chat,
}

/// The recipient fields of `channel` (`to` or `userId`; for push `userId` or `token`; for
/// webhooks `endpoint` or `url`).
pub fn recipient(f: &mut Fields<'_>, channel: Channel, limits: &Limits) -> Option<Recipient> {
    match channel {
        Channel::Email => email::recipient(f),
        Channel::Sms => sms::recipient(f),
        Channel::Push => push::recipient(f),
        Channel::Webhook => webhook::recipient(f, limits.url_policy),
        Channel::InApp => in_app::recipient(f),
        Channel::Chat => chat::recipient(f),
    }
}

/// The inline content fields of `channel`, in the order a batch compiles them as template
/// parts. A template request may not give any of them but the ones
/// [`template_override`] reads.
pub fn inline_fields(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::Email => email::INLINE_FIELDS,
        Channel::Sms => sms::INLINE_FIELDS,
        Channel::Push => push::INLINE_FIELDS,
        Channel::Webhook => webhook::INLINE_FIELDS,
        Channel::InApp => in_app::INLINE_FIELDS,
        Channel::Chat => chat::INLINE_FIELDS,
    }
}

/// A batch's inline fields as the template part they are compiled into.
pub fn template_part(channel: Channel, inline: serde_json::Map<String, Value>) -> Value {
    match channel {
        Channel::Email | Channel::Sms | Channel::Push | Channel::InApp => Value::Object(inline),
        Channel::Webhook => webhook::template_part(inline.get("payload").unwrap_or(&Value::Null)),
        Channel::Chat => chat::template_part(inline),
    }
}

/// A field that may accompany a template and replaces what the template renders (the email
/// `subject`). Read here, so the exclusivity check skips it.
pub fn template_override(f: &mut Fields<'_>, channel: Channel) -> (Option<String>, &'static str) {
    match channel {
        Channel::Email => (email::subject_override(f), "subject"),
        Channel::Sms | Channel::Push | Channel::Webhook | Channel::InApp | Channel::Chat => {
            (None, "")
        }
    }
}

/// The channel's inline text fields, checked as the channel requires.
pub fn texts(
    f: &mut Fields<'_>,
    channel: Channel,
    limits: &Limits,
    subject_required: bool,
) -> Option<Texts> {
    match channel {
        Channel::Email => email::texts(f, subject_required),
        Channel::Sms => sms::texts(f, limits.sms_max_chars),
        Channel::Push => push::texts(f),
        Channel::Webhook => webhook::texts(f),
        Channel::InApp => in_app::texts(f),
        Channel::Chat => chat::texts(f),
    }
}

pub fn options(f: &mut Fields<'_>, channel: Channel) -> Options {
    match channel {
        Channel::Email => Options::Email(email::options(f)),
        Channel::Sms => Options::Sms,
        Channel::Push => Options::Push(push::options(f)),
        Channel::Webhook => Options::Webhook,
        Channel::InApp => Options::InApp,
        Channel::Chat => Options::Chat,
    }
}

/// The content to send: `texts` with the options, checked as a whole (e.g. the FCM payload
/// limit), errors named under `prefix`.
pub fn assemble(texts: Texts, options: &Options, prefix: &str) -> Result<Content, FieldError> {
    match options {
        Options::Email(o) => email::assemble(texts, o, prefix),
        Options::Sms => sms::assemble(texts, prefix),
        Options::Push(o) => push::assemble(texts, o, prefix),
        Options::Webhook => webhook::assemble(texts, prefix),
        Options::InApp => in_app::assemble(texts, prefix),
        Options::Chat => chat::assemble(texts, prefix),
    }
}

/// A rendered template part as the inline fields that would have said the same, so it is
/// checked exactly as inline content is. `subject` replaces a rendered email subject. A part
/// that cannot be read back (a webhook payload that is not JSON) is an error on `prefix`.
pub fn as_inline(
    rendered: Texts,
    subject: Option<&str>,
    prefix: &str,
) -> Result<Value, FieldError> {
    let mut inline = match rendered {
        Texts::Email {
            subject: rendered,
            html,
            text,
        } => email::as_inline(rendered, html, text, subject),
        Texts::Sms { message } => sms::as_inline(message),
        Texts::Push { title, body, data } => push::as_inline(title, body, data),
        Texts::Webhook { payload } => webhook::as_inline(payload, prefix)?,
        Texts::InApp {
            title,
            body,
            action_url,
            data,
        } => in_app::as_inline(title, body, action_url, data),
        Texts::Chat { text, blocks, card } => chat::as_inline(text, blocks, card, prefix)?,
    };
    // Checked as a request's inline fields are, where a part the template lacks is no field
    // (a null would be refused).
    if let Value::Object(fields) = &mut inline {
        fields.retain(|_, v| !v.is_null());
    }
    Ok(inline)
}

/// What a preview (`POST /v1/templates/{name}/render`) shows of a rendering.
pub fn preview(rendered: Texts) -> Value {
    match rendered {
        Texts::Email {
            subject,
            html,
            text,
        } => {
            // What the recipient gets: the worker derives the text of an HTML-only email.
            let text =
                text.or_else(|| notify_shared::template::html_to_text(html.as_deref()?).ok());
            email::as_inline(subject, html, text, None)
        }
        Texts::Sms { message } => sms::preview(message),
        Texts::Push { title, body, data } => push::as_inline(title, body, data),
        Texts::Webhook { payload } => webhook::preview(payload),
        Texts::InApp {
            title,
            body,
            action_url,
            data,
        } => in_app::as_inline(title, body, action_url, data),
        Texts::Chat { text, blocks, card } => chat::preview(text, blocks, card),
    }
}

/// The content fields worth echoing in answers: what identifies the message, and for SMS what
/// it costs.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// SMS: how many messages the carrier bills, and in which encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<SmsEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
}

impl<'a> Summary<'a> {
    pub fn of(c: &'a Content) -> Self {
        match c {
            Content::Email(e) => email::summary(e),
            Content::Sms(m) => sms::summary(m),
            Content::Push(p) => push::summary(p),
            Content::Webhook(w) => webhook::summary(w),
            Content::InApp(c) => in_app::summary(c),
            Content::Chat(c) => chat::summary(c),
        }
    }
}

/// `userId`: a user of the tenant (their profile's address, or their devices for push).
fn user_id(f: &mut Fields<'_>) -> Option<Recipient> {
    let raw = f.required_str("userId")?;
    match UserId::parse(raw) {
        Ok(u) => Some(Recipient::User(u)),
        Err(e) => {
            f.error("userId", "pattern", e);
            None
        }
    }
}

/// `to` (read by `to`), or `userId`, not both.
fn to_or_user(
    f: &mut Fields<'_>,
    what: &str,
    to: impl FnOnce(&mut Fields<'_>) -> Option<Recipient>,
) -> Option<Recipient> {
    let required = format!("to ({what}) or userId (the one in the user's profile) is required");
    match f.one_of("to", "userId", &required)? {
        OneOf::First => to(f),
        OneOf::Second => user_id(f),
    }
}

/// The error for texts of another channel than the options: a bug in the caller, reported
/// rather than panicking.
fn mismatch(channel: Channel, prefix: &str) -> FieldError {
    FieldError::new(
        if prefix.is_empty() { "channel" } else { prefix },
        "channel",
        format!("the content is not {channel} content"),
    )
}

/// `part` under `prefix` (`rendered.body`, or `body` at the top).
fn under(prefix: &str, part: &str) -> String {
    if prefix.is_empty() {
        part.to_owned()
    } else {
        format!("{prefix}.{part}")
    }
}
