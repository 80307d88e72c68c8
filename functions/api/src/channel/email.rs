//! Email: to an address, a subject and a text and/or HTML body, a reply-to and a sender name.

use notify_shared::{
    domain::{Channel, Content, EmailAddress, EmailContent, Recipient},
    validate::{self, FieldError, Fields},
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch};

/// A display name longer than this is truncated by most mail clients anyway.
const MAX_FROM_NAME_CHARS: usize = 64;

pub const INLINE_FIELDS: &[&str] = &["subject", "html", "text"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub reply_to: Option<EmailAddress>,
    pub from_name: Option<String>,
}

/// `to`, or `userId` (the address in the user's profile).
pub fn recipient(f: &mut Fields<'_>) -> Option<Recipient> {
    super::to_or_user(f, "an email address", |f| {
        f.required_email("to").map(Recipient::Email)
    })
}

pub fn subject_override(f: &mut Fields<'_>) -> Option<String> {
    f.header_text("subject", validate::MAX_SUBJECT_CHARS, false)
}

pub fn texts(f: &mut Fields<'_>, subject_required: bool) -> Option<Texts> {
    let subject = f.header_text("subject", validate::MAX_SUBJECT_CHARS, subject_required);
    let text = f.body_text("text", validate::MAX_TEXT_BYTES);
    let html = f.body_text("html", validate::MAX_HTML_BYTES);
    if !f.has("text") && !f.has("html") {
        f.error("text", "required", "text or html (or both) is required");
        return None;
    }
    let body_ok = text.is_some() || html.is_some();
    (body_ok && (subject.is_some() || !subject_required)).then(|| Texts::Email {
        subject: subject.unwrap_or_default(),
        text,
        html,
    })
}

pub fn options(f: &mut Fields<'_>) -> Options {
    Options {
        reply_to: f.optional_email("replyTo"),
        from_name: f.header_text("fromName", MAX_FROM_NAME_CHARS, false),
    }
}

pub fn assemble(texts: Texts, options: &Options, prefix: &str) -> Result<Content, FieldError> {
    let Texts::Email {
        subject,
        text,
        html,
    } = texts
    else {
        return Err(mismatch(Channel::Email, prefix));
    };
    Ok(Content::Email(EmailContent {
        subject,
        text,
        html,
        reply_to: options.reply_to.clone(),
        from_name: options.from_name.clone(),
        unsubscribe_url: None,
    }))
}

pub fn as_inline(
    rendered_subject: String,
    html: Option<String>,
    text: Option<String>,
    subject: Option<&str>,
) -> Value {
    json!({
        "subject": subject.map_or(rendered_subject, str::to_owned),
        "html": html,
        "text": text,
    })
}

pub fn summary(e: &EmailContent) -> Summary<'_> {
    Summary {
        subject: Some(&e.subject),
        ..Summary::default()
    }
}
