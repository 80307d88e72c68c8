//! What every paged listing shares: `limit`, the opaque keyset `cursor`, the `next` link,
//! and a query's date-times.

use base64::Engine;
use notify_shared::{domain::time::Timestamp, validate::FieldError};

/// A page holds this many entries unless `limit` says otherwise…
pub const DEFAULT_LIMIT: usize = 25;
/// …and at most this many.
pub const MAX_LIMIT: usize = 100;

/// `limit=`: 1 to [`MAX_LIMIT`].
pub fn limit(raw: &str) -> Result<usize, FieldError> {
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            FieldError::new(
                "limit",
                "range",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// The position `cursor=` names, in a listing whose cursors carry `kind` (so one listing's
/// cursor is not taken for another's): opaque to clients, base64url of `<kind><position>`.
pub fn cursor(kind: &str, raw: &str) -> Result<String, FieldError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(kind).map(str::to_owned))
        .filter(|p| !p.is_empty() && !p.chars().any(char::is_control))
        .ok_or_else(|| {
            FieldError::new(
                "cursor",
                "cursor",
                "is not a cursor this list returned (use the `next` link as given)",
            )
        })
}

/// The next page's path: `path` with the filters as given, the limit and the cursor.
pub fn next_link(
    path: &str,
    filters: &[(String, String)],
    limit: usize,
    kind: &str,
    position: &str,
) -> String {
    let mut link = form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        link.append_pair(k, v);
    }
    link.append_pair("limit", &limit.to_string());
    let cursor =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}{position}"));
    link.append_pair("cursor", &cursor);
    format!("{path}?{}", link.finish())
}

/// A date-time query parameter `name`.
pub fn timestamp(name: &str, raw: &str) -> Result<Timestamp, FieldError> {
    raw.parse().map_err(|_| {
        FieldError::new(
            name,
            "date_time",
            "must be an RFC 3339 date-time with an offset, like 2026-12-01T09:00:00Z",
        )
    })
}
