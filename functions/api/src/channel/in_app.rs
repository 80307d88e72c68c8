//! In-app: to a user (`userId`), an inbox item: a body, an optional title, an action URL (an
//! https URL, or a path in the tenant's app) and data. Its category is the notification's.

use std::collections::BTreeMap;

use notify_shared::{
    domain::{Channel, Content, InAppContent, Recipient},
    template::{MAX_IN_APP_ACTION_URL_BYTES, MAX_IN_APP_BODY_BYTES, MAX_IN_APP_TITLE_BYTES},
    validate::{FieldError, Fields, MapLimits},
};
use serde_json::{Value, json};

use super::{Summary, Texts, mismatch};

const DATA_LIMITS: MapLimits = MapLimits {
    max_entries: 100,
    max_key_chars: 256,
    max_value_chars: 4 * 1024,
};

pub const INLINE_FIELDS: &[&str] = &["title", "body", "actionUrl"];

/// `userId`: the inbox is the user's.
pub fn recipient(f: &mut Fields<'_>) -> Option<Recipient> {
    super::user_id(f)
}

pub fn texts(f: &mut Fields<'_>) -> Option<Texts> {
    let title = f.body_text("title", MAX_IN_APP_TITLE_BYTES);
    let body = f.body_text("body", MAX_IN_APP_BODY_BYTES);
    if !f.has("body") {
        f.error("body", "required", "is required");
    }
    let action_url = action_url(f);
    let data = f.string_map("data", DATA_LIMITS);
    body.map(|body| Texts::InApp {
        title,
        body,
        action_url,
        data,
    })
}

/// An https URL, or a path in the app (`/orders/42`): nothing a browser would run.
fn action_url(f: &mut Fields<'_>) -> Option<String> {
    let raw = f.optional_str("actionUrl")?;
    if raw.starts_with('/') && !raw.starts_with("//") {
        if raw.len() > MAX_IN_APP_ACTION_URL_BYTES
            || raw.chars().any(|c| c.is_control() || c == ' ')
        {
            f.error(
                "actionUrl",
                "pattern",
                format!(
                    "a path must be at most {MAX_IN_APP_ACTION_URL_BYTES} bytes without spaces or control characters"
                ),
            );
            return None;
        }
        return Some(raw.to_owned());
    }
    if !raw.starts_with("https://") {
        f.error(
            "actionUrl",
            "pattern",
            "must be an https:// URL or a path starting with /",
        );
        return None;
    }
    f.optional_https_url("actionUrl", MAX_IN_APP_ACTION_URL_BYTES)
}

pub fn assemble(texts: Texts, prefix: &str) -> Result<Content, FieldError> {
    let Texts::InApp {
        title,
        body,
        action_url,
        data,
    } = texts
    else {
        return Err(mismatch(Channel::InApp, prefix));
    };
    Ok(Content::InApp(InAppContent {
        title,
        body,
        action_url,
        data,
    }))
}

pub fn as_inline(
    title: Option<String>,
    body: String,
    action_url: Option<String>,
    data: BTreeMap<String, String>,
) -> Value {
    json!({ "title": title, "body": body, "actionUrl": action_url, "data": data })
}

pub fn summary(c: &InAppContent) -> Summary<'_> {
    Summary {
        title: c.title.as_deref(),
        ..Summary::default()
    }
}
