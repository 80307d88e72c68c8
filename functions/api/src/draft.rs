//! What a `POST /v1/notifications` body asks for, validated per channel. Every broken rule is
//! reported at once, each naming its field.

use notify_shared::{
    domain::{
        Channel, Content, DeviceToken, Draft, EmailContent, Priority, PushContent, Recipient,
        SmsContent, UserId, schedule, sms::segments, time::Timestamp,
    },
    provider::{MAX_PAYLOAD_BYTES, is_reserved_data_key, payload_size},
    validate::{self, Fields, MapLimits},
};
use serde_json::Value;

use crate::ApiError;

/// Push `data`: FCM bounds the whole payload (4 KB); these only stop absurd shapes early.
const PUSH_DATA_LIMITS: MapLimits = MapLimits {
    max_entries: 100,
    max_key_chars: 256,
    max_value_chars: MAX_PAYLOAD_BYTES,
};
const MAX_PUSH_TITLE_BYTES: usize = 1024;
const MAX_PUSH_BODY_BYTES: usize = MAX_PAYLOAD_BYTES;
const MAX_IMAGE_URL_CHARS: usize = 2048;
/// APNs limits `apns-collapse-id` to 64 bytes.
const MAX_COLLAPSE_KEY_CHARS: usize = 64;
/// FCM keeps an undelivered message at most 28 days.
const MAX_TTL_SECONDS: u32 = 28 * 24 * 3600;

/// Limits that are configuration rather than protocol, and the time of the request.
#[derive(Debug, Clone, Copy)]
pub struct DraftLimits {
    /// The longest SMS text, in characters (SNS: at most 1600).
    pub sms_max_chars: usize,
    pub now: Timestamp,
}

/// The draft a `POST /v1/notifications` body describes, or every problem with it.
pub fn parse_draft(body: &Value, limits: DraftLimits) -> Result<Draft, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let priority = f.optional_enum::<Priority>("priority");
    let category = f.optional_label("category", validate::MAX_CATEGORY_CHARS);
    let metadata = f.string_map("metadata", validate::METADATA_LIMITS);
    let scheduled_at = f.optional_timestamp("scheduledAt");
    if let Some(at) = scheduled_at {
        if at <= limits.now {
            f.error("scheduledAt", "future", "must be in the future");
        } else if limits.now.until(at) > schedule::MAX_SCHEDULE_AHEAD {
            f.error("scheduledAt", "max_ahead", "must be at most 366 days ahead");
        }
    }
    let message = match channel {
        Some(Channel::Email) => email(&mut f),
        Some(Channel::Sms) => sms(&mut f, limits.sms_max_chars),
        Some(Channel::Push) => push(&mut f),
        // Without a channel the other fields cannot be judged: report only the channel.
        None => {
            f.skip_unread();
            None
        }
    };
    f.finish().map_err(ApiError::Validation)?;
    // `finish` succeeded, so every field parsed.
    let (Some(channel), Some((recipient, content))) = (channel, message) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    Ok(Draft {
        channel,
        priority: priority.unwrap_or_default(),
        recipient,
        content,
        category,
        metadata,
        scheduled_at,
    })
}

fn email(f: &mut Fields<'_>) -> Option<(Recipient, Content)> {
    let to = f.required_email("to");
    let subject = f.header_text("subject", validate::MAX_SUBJECT_CHARS, true);
    let text = f.body_text("text", validate::MAX_TEXT_BYTES);
    let html = f.body_text("html", validate::MAX_HTML_BYTES);
    let reply_to = f.optional_email("replyTo");
    if !f.has("text") && !f.has("html") {
        f.error("text", "required", "text or html (or both) is required");
        return None;
    }
    let body_ok = text.is_some() || html.is_some();
    let reply_ok = reply_to.is_some() || !f.has("replyTo");
    match (to, subject, body_ok && reply_ok) {
        (Some(to), Some(subject), true) => Some((
            Recipient::Email(to),
            Content::Email(EmailContent {
                subject,
                text,
                html,
                reply_to,
            }),
        )),
        _ => None,
    }
}

fn sms(f: &mut Fields<'_>, max_chars: usize) -> Option<(Recipient, Content)> {
    let to = f.required_phone("to");
    let message = match f.required_str("message") {
        Some(m) if m.trim().is_empty() => {
            f.error("message", "not_blank", "must not be empty");
            None
        }
        // Line breaks travel; other control characters would be dropped or garble the text.
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
    let (to, message) = (to?, message?);
    let segments = segments(&message);
    Some((
        Recipient::Phone(to),
        Content::Sms(SmsContent { message, segments }),
    ))
}

fn push(f: &mut Fields<'_>) -> Option<(Recipient, Content)> {
    let recipient = match (f.has("userId"), f.has("token")) {
        (true, true) => {
            f.optional_str("userId");
            f.optional_str("token");
            f.error("token", "exclusive", "give userId or token, not both");
            None
        }
        (false, false) => {
            f.error(
                "userId",
                "required",
                "userId (all of the user's devices) or token (one device) is required",
            );
            None
        }
        (true, false) => {
            let raw = f.required_str("userId")?;
            match UserId::parse(raw) {
                Ok(u) => Some(Recipient::User(u)),
                Err(e) => {
                    f.error("userId", "pattern", e);
                    None
                }
            }
        }
        (false, true) => {
            let raw = f.required_str("token")?;
            match DeviceToken::parse(raw) {
                Ok(t) => Some(Recipient::Device(t)),
                Err(e) => {
                    f.error("token", "pattern", e);
                    None
                }
            }
        }
    };
    let title = f.body_text("title", MAX_PUSH_TITLE_BYTES);
    let body = f.body_text("body", MAX_PUSH_BODY_BYTES);
    let data = f.string_map("data", PUSH_DATA_LIMITS);
    for key in data.keys().filter(|k| is_reserved_data_key(k)) {
        f.error(&format!("data.{key}"), "reserved", "is a key FCM reserves");
    }
    let content = PushContent {
        title,
        body,
        image_url: f.optional_https_url("imageUrl", MAX_IMAGE_URL_CHARS),
        badge: f.optional_u32("badge", 0..=99_999),
        sound: f.optional_label("sound", 256),
        collapse_key: f.optional_label("collapseKey", MAX_COLLAPSE_KEY_CHARS),
        ttl_seconds: f.optional_u32("ttlSeconds", 0..=MAX_TTL_SECONDS),
        data,
    };
    if content.title.is_none() && content.body.is_none() && content.data.is_empty() {
        if !f.has("title") && !f.has("body") && !f.has("data") {
            f.error("title", "required", "title, body or data is required");
        }
        return None;
    }
    let size = payload_size(&content);
    if size > MAX_PAYLOAD_BYTES {
        let field = if content.data.is_empty() {
            "body"
        } else {
            "data"
        };
        f.error(
            field,
            "max_bytes",
            format!("the FCM payload (notification and data) would be {size} bytes; FCM allows {MAX_PAYLOAD_BYTES}"),
        );
        return None;
    }
    Some((recipient?, Content::Push(content)))
}

#[cfg(test)]
mod tests {
    use notify_shared::domain::sms::SmsEncoding;
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000).unwrap()
    }

    fn limits() -> DraftLimits {
        DraftLimits {
            sms_max_chars: 1600,
            now: now(),
        }
    }

    fn rules(body: Value) -> Vec<(String, String)> {
        match parse_draft(&body, limits()) {
            Err(ApiError::Validation(details)) => {
                let mut r: Vec<(String, String)> = details
                    .into_iter()
                    .map(|d| (d.field, d.rule.to_owned()))
                    .collect();
                r.sort();
                r
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn sms_numbers_must_be_e164_and_messages_say_their_segments() {
        for ok in ["+33612345678", "+447911123456", "+12125551234"] {
            let d = parse_draft(
                &json!({"channel": "sms", "to": ok, "message": "Hi"}),
                limits(),
            )
            .unwrap();
            assert_eq!(d.recipient.as_str(), ok);
        }
        assert_eq!(
            rules(json!({"channel": "sms", "to": "0612345678", "message": "Hi"})),
            [("to".into(), "phone".into())]
        );
        let d = parse_draft(
            &json!({"channel": "sms", "to": "+33612345678", "message": "ж".repeat(71)}),
            limits(),
        )
        .unwrap();
        let Content::Sms(c) = d.content else { panic!() };
        assert_eq!(
            (c.segments.encoding, c.segments.count),
            (SmsEncoding::Ucs2, 2)
        );
    }

    #[test]
    fn sms_length_is_bounded_by_configuration() {
        let long = json!({"channel": "sms", "to": "+33612345678", "message": "a".repeat(11)});
        assert!(
            parse_draft(
                &long,
                DraftLimits {
                    sms_max_chars: 11,
                    now: now()
                }
            )
            .is_ok()
        );
        assert!(matches!(
            parse_draft(
                &long,
                DraftLimits {
                    sms_max_chars: 10,
                    now: now()
                }
            ),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn push_goes_to_a_user_or_a_token_not_both() {
        assert!(
            parse_draft(
                &json!({"channel": "push", "userId": "u1", "title": "Hi"}),
                limits()
            )
            .is_ok()
        );
        assert!(
            parse_draft(
                &json!({"channel": "push", "token": "tok:1", "body": "Hi"}),
                limits()
            )
            .is_ok()
        );
        assert_eq!(
            rules(json!({"channel": "push", "userId": "u1", "token": "t", "title": "Hi"})),
            [("token".into(), "exclusive".into())]
        );
        assert_eq!(
            rules(json!({"channel": "push", "title": "Hi"})),
            [("userId".into(), "required".into())]
        );
        assert_eq!(
            rules(json!({"channel": "push", "userId": "u1"})),
            [("title".into(), "required".into())]
        );
    }

    #[test]
    fn push_payload_over_4kb_is_refused() {
        let body = json!({"channel": "push", "userId": "u1", "title": "Hi",
                          "data": {"a": "x".repeat(2100), "b": "x".repeat(2100)}});
        assert_eq!(rules(body), [("data".into(), "max_bytes".into())]);
        let fits = json!({"channel": "push", "userId": "u1", "title": "Hi", "data": {"blob": "x".repeat(3900)}});
        assert!(parse_draft(&fits, limits()).is_ok());
    }

    #[test]
    fn push_options_are_checked() {
        let body = json!({
            "channel": "push", "userId": "u1", "title": "Hi",
            "imageUrl": "http://insecure.example/p.png", "badge": -1, "ttlSeconds": 99_999_999,
            "collapseKey": "has spaces", "data": {"google.x": "1", "n": 1}
        });
        assert_eq!(
            rules(body),
            [
                ("badge".into(), "range".into()),
                ("collapseKey".into(), "pattern".into()),
                ("data.google.x".into(), "reserved".into()),
                ("data.n".into(), "type".into()),
                ("imageUrl".into(), "https_url".into()),
                ("ttlSeconds".into(), "range".into()),
            ]
        );
    }

    #[test]
    fn scheduled_at_must_be_ahead_but_not_absurdly() {
        let body = |at: &str| json!({"channel": "sms", "to": "+33612345678", "message": "Hi", "scheduledAt": at});
        let d = parse_draft(&body("2027-02-15T08:00:00+01:00"), limits()).unwrap();
        assert_eq!(
            d.scheduled_at.unwrap().to_string(),
            "2027-02-15T07:00:00.000Z"
        );
        assert_eq!(
            rules(body("2020-01-01T00:00:00Z")),
            [("scheduledAt".into(), "future".into())]
        );
        assert_eq!(
            rules(body("2999-01-01T00:00:00Z")),
            [("scheduledAt".into(), "max_ahead".into())]
        );
        assert_eq!(
            rules(body("tomorrow")),
            [("scheduledAt".into(), "date_time".into())]
        );
        assert_eq!(
            rules(body("2027-02-15T08:00:00")),
            [("scheduledAt".into(), "date_time".into())],
            "no offset"
        );
    }
}
