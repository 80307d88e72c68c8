//! Push: to all of a user's devices or to one device token, a title, body and data, and the
//! FCM options; the whole FCM payload is bounded (4 KB), checked here.

use std::collections::BTreeMap;

use notify_shared::{
    domain::{Channel, Content, DeviceToken, PushContent, Recipient},
    provider::{MAX_PAYLOAD_BYTES, is_reserved_data_key, payload_size},
    validate::{FieldError, Fields, MapLimits, OneOf},
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch, under};

/// Push `data`: FCM bounds the whole payload (4 KB); these only stop absurd shapes early.
const DATA_LIMITS: MapLimits = MapLimits {
    max_entries: 100,
    max_key_chars: 256,
    max_value_chars: MAX_PAYLOAD_BYTES,
};
const MAX_TITLE_BYTES: usize = 1024;
const MAX_BODY_BYTES: usize = MAX_PAYLOAD_BYTES;
const MAX_IMAGE_URL_CHARS: usize = 2048;
/// APNs limits `apns-collapse-id` to 64 bytes.
const MAX_COLLAPSE_KEY_CHARS: usize = 64;
/// FCM keeps an undelivered message at most 28 days.
const MAX_TTL_SECONDS: u32 = 28 * 24 * 3600;

/// `data` is the FCM data payload inline; in a template request it is the template's data.
pub const INLINE_FIELDS: &[&str] = &["title", "body"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub image_url: Option<String>,
    pub badge: Option<u32>,
    pub sound: Option<String>,
    pub collapse_key: Option<String>,
    pub ttl_seconds: Option<u32>,
}

/// `userId` (all of the user's devices) or `token` (one device), not both.
pub fn recipient(f: &mut Fields<'_>) -> Option<Recipient> {
    let which = f.one_of(
        "userId",
        "token",
        "userId (all of the user's devices) or token (one device) is required",
    )?;
    match which {
        OneOf::First => super::user_id(f),
        OneOf::Second => {
            let raw = f.required_str("token")?;
            match DeviceToken::parse(raw) {
                Ok(t) => Some(Recipient::Device(t)),
                Err(e) => {
                    f.error("token", "pattern", e);
                    None
                }
            }
        }
    }
}

pub fn texts(f: &mut Fields<'_>) -> Option<Texts> {
    let title = f.body_text("title", MAX_TITLE_BYTES);
    let body = f.body_text("body", MAX_BODY_BYTES);
    let data = f.string_map("data", DATA_LIMITS);
    for key in data.keys().filter(|k| is_reserved_data_key(k)) {
        f.error(&format!("data.{key}"), "reserved", "is a key FCM reserves");
    }
    if title.is_none() && body.is_none() && data.is_empty() {
        if !f.has("title") && !f.has("body") && !f.has("data") {
            f.error("title", "required", "title, body or data is required");
        }
        return None;
    }
    Some(Texts::Push { title, body, data })
}

pub fn options(f: &mut Fields<'_>) -> Options {
    Options {
        image_url: f.optional_https_url("imageUrl", MAX_IMAGE_URL_CHARS),
        badge: f.optional_u32("badge", 0..=99_999),
        sound: f.optional_label("sound", 256),
        collapse_key: f.optional_label("collapseKey", MAX_COLLAPSE_KEY_CHARS),
        ttl_seconds: f.optional_u32("ttlSeconds", 0..=MAX_TTL_SECONDS),
    }
}

/// The push content, refused when the FCM payload would exceed its limit (reported on
/// `data`, or `body` without data).
pub fn assemble(texts: Texts, options: &Options, prefix: &str) -> Result<Content, FieldError> {
    let Texts::Push { title, body, data } = texts else {
        return Err(mismatch(Channel::Push, prefix));
    };
    let content = PushContent {
        title,
        body,
        image_url: options.image_url.clone(),
        badge: options.badge,
        sound: options.sound.clone(),
        collapse_key: options.collapse_key.clone(),
        ttl_seconds: options.ttl_seconds,
        data,
    };
    let size = payload_size(&content);
    if size > MAX_PAYLOAD_BYTES {
        let part = if content.data.is_empty() {
            "body"
        } else {
            "data"
        };
        return Err(FieldError::new(
            under(prefix, part),
            "max_bytes",
            format!(
                "the FCM payload (notification and data) would be {size} bytes; FCM allows {MAX_PAYLOAD_BYTES}"
            ),
        ));
    }
    Ok(Content::Push(content))
}

pub fn as_inline(
    title: Option<String>,
    body: Option<String>,
    data: BTreeMap<String, String>,
) -> Value {
    json!({ "title": title, "body": body, "data": data })
}

pub fn summary(p: &PushContent) -> Summary<'_> {
    Summary {
        title: p.title.as_deref(),
        ..Summary::default()
    }
}
