//! SMS: to a number (E.164), one message whose length is bounded by configuration and whose
//! cost is its segment count.

use notify_shared::{
    domain::{Channel, Content, Recipient, SmsContent, sms::segments},
    validate::{FieldError, Fields},
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch};

pub const INLINE_FIELDS: &[&str] = &["message"];

/// `to`, or `userId` (the phone number in the user's profile).
pub fn recipient(f: &mut Fields<'_>) -> Option<Recipient> {
    super::to_or_user(f, "a phone number", |f| {
        f.required_phone("to").map(Recipient::Phone)
    })
}

pub fn texts(f: &mut Fields<'_>, max_chars: usize) -> Option<Texts> {
    let message = match f.required_str("message") {
        Some(m) if m.trim().is_empty() => {
            f.error("message", "not_blank", "must not be empty");
            None
        }
        // Line breaks travel; other control characters would be dropped or garble it.
        Some(m) if m.chars().any(|c| c.is_control() && c != '\n' && c != '\r') => {
            f.error(
                "message",
                "control_characters",
                "must not contain control characters other than line breaks",
            );
            None
        }
        Some(m) if m.chars().count() > max_chars => {
            f.error(
                "message",
                "max_length",
                format!("must be at most {max_chars} characters"),
            );
            None
        }
        other => other.map(str::to_owned),
    };
    message.map(|message| Texts::Sms { message })
}

pub fn assemble(texts: Texts, prefix: &str) -> Result<Content, FieldError> {
    let Texts::Sms { message } = texts else {
        return Err(mismatch(Channel::Sms, prefix));
    };
    let segments = segments(&message);
    Ok(Content::Sms(SmsContent { message, segments }))
}

pub fn as_inline(message: String) -> Value {
    json!({ "message": message })
}

pub fn preview(message: String) -> Value {
    let s = segments(&message);
    json!({ "message": message, "segments": s.count, "encoding": s.encoding })
}

pub fn summary(m: &SmsContent) -> Summary<'_> {
    Summary {
        segments: Some(m.segments.count),
        encoding: Some(m.segments.encoding),
        ..Summary::default()
    }
}
