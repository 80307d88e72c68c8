//! Recipients: `PUT/GET/PATCH/DELETE /v1/users/{userId}` (the profile), `GET/PUT
//! /v1/users/{userId}/preferences`, and the tenant's `GET/PUT /v1/preferences/defaults`.
//!
//! A `PATCH` is a JSON merge patch (RFC 7396) over the stored profile (`null` removes a
//! field), then checked exactly as a `PUT` body. A `DELETE` erases everything kept of the
//! user: profile, preferences, devices and frequency-cap counters.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        Channel, EmailAddress, MAX_NAME_CHARS, MAX_PROFILE_DATA_BYTES, PhoneNumber, Profile,
        Recipient, TenantId, UserId,
        preferences::{
            CategorySetting, ClockTime, Defaults, FrequencyCap, Preferences, QuietHours, Weekday,
        },
        time::{self, Timestamp},
    },
    store::{StoreError, Transition},
    unsubscribe::Subscriber,
    user_token::{UserToken, UserTokenSecret},
    validate::{self, FieldError, Fields},
};
use serde_json::{Map, Value, json};
use tracing::{error, info};

use crate::{ApiError, App, content, response};

/// Categories one preferences document names: far more than any product has.
const MAX_CATEGORIES: usize = 100;

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the user store is unavailable");
    ApiError::Unavailable("the user store is unavailable; retry the request".into())
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("userId", "pattern", e)]))
}

fn no_profile(user: &UserId) -> ApiError {
    ApiError::NotFound(format!(
        "no profile for user {} (create it with PUT /v1/users/{})",
        user.as_str(),
        user.as_str()
    ))
}

// ------------------------------------------------------------------------------ profiles

/// A profile from a `PUT` body (or a patched one), keeping `created_at`.
fn parse_profile(
    body: &Value,
    user: UserId,
    created_at: Timestamp,
    now: Timestamp,
) -> Result<Profile, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let email = f.optional_email("email");
    let phone = f
        .optional_str("phone")
        .and_then(|raw| match PhoneNumber::parse(raw) {
            Ok(p) => Some(p),
            Err(e) => {
                f.error(
                    "phone",
                    "phone",
                    format!("is not a valid phone number: {e}"),
                );
                None
            }
        });
    let locale = content::locale(&mut f, "locale").map(|l| l.as_str().to_owned());
    let time_zone = time_zone(&mut f, "timeZone");
    let name = f.header_text("name", MAX_NAME_CHARS, false);
    let data = content::object(&mut f, "data");
    let size = serde_json::to_vec(&data).map_or(0, |b| b.len());
    if size > MAX_PROFILE_DATA_BYTES {
        f.error(
            "data",
            "max_bytes",
            format!("is {size} bytes as JSON; a profile keeps at most {MAX_PROFILE_DATA_BYTES}"),
        );
    }
    f.finish().map_err(ApiError::Validation)?;
    Ok(Profile {
        user_id: user,
        email,
        phone,
        locale,
        time_zone,
        name,
        data,
        created_at,
        updated_at: now,
    })
}

fn time_zone<'a>(f: &mut Fields<'a>, name: &'a str) -> Option<String> {
    let raw = f.optional_str(name)?;
    if time::zone(raw).is_some() {
        Some(raw.to_owned())
    } else {
        f.error(
            name,
            "time_zone",
            format!("`{raw}` is not an IANA time zone like Europe/Paris or America/New_York"),
        );
        None
    }
}

/// The profile as a `PUT` body would give it (what a merge patch applies to).
fn as_body(p: &Profile) -> Value {
    let mut body = p.template_view();
    if let Value::Object(m) = &mut body {
        m.remove("id");
        if p.data.is_empty() {
            m.remove("data");
        }
    }
    body
}

/// RFC 7396: objects merge member by member, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn profile_answer(status: StatusCode, p: &Profile) -> Response<Body> {
    response::json(status, p)
}

/// `PUT /v1/users/{userId}`: creates (201) or replaces (200) the profile.
pub async fn put(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let now = app.clock.now();
    let existing = app
        .users
        .user(tenant, &user)
        .await
        .map_err(unavailable)?
        .profile;
    let created_at = existing.as_ref().map_or(now, |p| p.created_at);
    let profile = parse_profile(body, user, created_at, now)?;
    app.users
        .put_profile(tenant, &profile)
        .await
        .map_err(unavailable)?;
    info!(user_id = %profile.user_id.as_str(), "profile saved");
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(profile_answer(status, &profile))
}

/// The user's profile, or a `404` saying how to create it.
async fn existing(app: &App, tenant: &TenantId, user: &UserId) -> Result<Profile, ApiError> {
    app.users
        .user(tenant, user)
        .await
        .map_err(unavailable)?
        .profile
        .ok_or_else(|| no_profile(user))
}

pub async fn get(app: &App, tenant: &TenantId, raw_user: &str) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let profile = existing(app, tenant, &user).await?;
    Ok(profile_answer(StatusCode::OK, &profile))
}

/// `PATCH /v1/users/{userId}`: a merge patch over the existing profile.
pub async fn patch(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    if !body.is_object() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "type",
            "must be a JSON object (a merge patch of the profile)",
        )]));
    }
    let existing = existing(app, tenant, &user).await?;
    let mut merged = as_body(&existing);
    merge_patch(&mut merged, body);
    let profile = parse_profile(&merged, user, existing.created_at, app.clock.now())?;
    app.users
        .put_profile(tenant, &profile)
        .await
        .map_err(unavailable)?;
    Ok(profile_answer(StatusCode::OK, &profile))
}

/// How many past records one erasure masks; the rest wait for another `DELETE`.
const MAX_ERASED_RECORDS: usize = 5_000;

/// `DELETE /v1/users/{userId}`: erasure of everything kept of the user (profile,
/// preferences, devices, caps), and of their addresses in the records of what was sent to
/// them, which keep only the masked recipient; what has not gone yet is cancelled. `204`
/// when done, `202` when more records are left to mask (call again); `404` if nothing was
/// kept.
pub async fn delete(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let profile = app
        .users
        .user(tenant, &user)
        .await
        .map_err(unavailable)?
        .profile;
    let erased = app.users.erase(tenant, &user).await.map_err(unavailable)?;
    let mut forms = vec![user.as_str().to_owned()];
    if let Some(p) = &profile {
        forms.extend(p.email.as_ref().map(|e| e.as_str().to_owned()));
        forms.extend(p.phone.as_ref().map(|p| p.as_str().to_owned()));
    }
    let (masked, complete) = erase_history(app, tenant, &forms).await?;
    if erased == 0 && masked == 0 {
        return Err(ApiError::NotFound(format!(
            "nothing is kept of user {}",
            user.as_str()
        )));
    }
    info!(user_id = %user.as_str(), items = erased, records_masked = masked, complete, "user erased");
    if complete {
        Ok(response::no_content())
    } else {
        Ok(response::json(
            StatusCode::ACCEPTED,
            &json!({"recordsMasked": masked, "complete": false}),
        ))
    }
}

/// Masks the recipient of the tenant's records to each of `recipients` (cancelling what has
/// not gone); returns how many, and whether none is left.
async fn erase_history(
    app: &App,
    tenant: &TenantId,
    recipients: &[String],
) -> Result<(usize, bool), ApiError> {
    let now = app.clock.now();
    let mut masked = 0;
    // Live and test keys' notifications alike.
    let searches = recipients
        .iter()
        .flat_map(|r| [false, true].map(|test| (r, test)));
    for (r, test) in searches {
        let filter = notify_shared::store::ListFilter {
            recipient: Some(r.clone()),
            test,
            ..Default::default()
        };
        let mut before = None;
        loop {
            let page = app
                .search
                .list(tenant, &filter, before.as_ref(), 100, now)
                .await
                .map_err(unavailable)?;
            for n in &page.items {
                if matches!(n.recipient, Recipient::Erased(_)) {
                    continue;
                }
                if !n.status.is_settled() {
                    let cancel = Transition {
                        reason: Some("the user was erased".into()),
                        ..Transition::cancelled(now)
                    };
                    app.store
                        .transition(&n.id, &cancel)
                        .await
                        .map_err(unavailable)?;
                }
                app.routes
                    .erase_recipient(&n.id, &n.recipient.masked())
                    .await
                    .map_err(unavailable)?;
                masked += 1;
                if masked >= MAX_ERASED_RECORDS {
                    return Ok((masked, false));
                }
            }
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
    }
    Ok((masked, true))
}

// ------------------------------------------------------------------------------ preferences

fn category_name(f: &mut Fields<'_>, field: &str, raw: &str) -> bool {
    let ok = !raw.is_empty()
        && raw.len() <= validate::MAX_CATEGORY_CHARS
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        f.error(
            field,
            "pattern",
            format!(
                "`{raw}` is not a category: 1 to {} characters among A-Z a-z 0-9 _ - .",
                validate::MAX_CATEGORY_CHARS
            ),
        );
    }
    ok
}

fn channel_switches(f: &mut Fields<'_>, field: &str, value: &Value) -> BTreeMap<Channel, bool> {
    let mut out = BTreeMap::new();
    let Value::Object(m) = value else {
        f.error(field, "type", "must be an object of channel: true|false");
        return out;
    };
    for (k, v) in m {
        let name = format!("{field}.{k}");
        match (k.parse::<Channel>(), v) {
            (Ok(c), Value::Bool(on)) => {
                out.insert(c, *on);
            }
            (Err(e), _) => f.error(&name, "enum", e.to_string()),
            (Ok(_), _) => f.error(&name, "type", "must be true or false"),
        }
    }
    out
}

fn object_entries<'v>(
    f: &mut Fields<'_>,
    field: &str,
    value: &'v Value,
    what: &str,
) -> Option<&'v Map<String, Value>> {
    match value {
        Value::Object(m) if m.len() > MAX_CATEGORIES => {
            f.error(
                field,
                "max_items",
                format!("must name at most {MAX_CATEGORIES} categories"),
            );
            None
        }
        Value::Object(m) => Some(m),
        _ => {
            f.error(field, "type", format!("must be an object of {what}"));
            None
        }
    }
}

fn categories(f: &mut Fields<'_>, value: &Value) -> BTreeMap<String, CategorySetting> {
    let mut out = BTreeMap::new();
    let Some(m) = object_entries(
        f,
        "categories",
        value,
        "category: true|false|{channel: true|false}",
    ) else {
        return out;
    };
    for (k, v) in m {
        let field = format!("categories.{k}");
        if !category_name(f, &field, k) {
            continue;
        }
        let setting = match v {
            Value::Bool(on) => CategorySetting::All(*on),
            Value::Object(_) => CategorySetting::Channels(channel_switches(f, &field, v)),
            _ => {
                f.error(
                    &field,
                    "type",
                    "must be true, false or {channel: true|false}",
                );
                continue;
            }
        };
        out.insert(k.clone(), setting);
    }
    out
}

fn quiet_hours(f: &mut Fields<'_>, value: &Value) -> Option<QuietHours> {
    let mut q = match Fields::of(value, "quietHours") {
        Ok(q) => q,
        Err(e) => {
            f.error("quietHours", e.rule, e.message);
            return None;
        }
    };
    let clock = |q: &mut Fields<'_>, name: &'static str| {
        let raw = q.required_str(name)?;
        ClockTime::parse(raw)
            .map_err(|e| q.error(name, "time", e))
            .ok()
    };
    let start = clock(&mut q, "start");
    let end = clock(&mut q, "end");
    let mut days = BTreeSet::new();
    match q.optional_value("days") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, d) in list.iter().enumerate() {
                match serde_json::from_value::<Weekday>(d.clone()) {
                    Ok(day) => {
                        days.insert(day);
                    }
                    Err(_) => q.error(
                        &format!("days[{i}]"),
                        "enum",
                        "must be one of mon, tue, wed, thu, fri, sat, sun",
                    ),
                }
            }
        }
        Some(_) => q.error("days", "type", "must be an array of days (mon … sun)"),
    }
    if let (Some(s), Some(e)) = (start, end)
        && s == e
    {
        q.error("end", "distinct", "must differ from start");
    }
    let errors = q.finish().err().unwrap_or_default();
    let ok = errors.is_empty();
    for e in errors {
        f.error(&e.field, e.rule, e.message);
    }
    Some(QuietHours {
        start: start?,
        end: end?,
        days,
    })
    .filter(|_| ok)
}

/// The fields a user's preferences and the tenant's defaults share.
fn preference_fields<'a>(f: &mut Fields<'a>) -> Preferences {
    Preferences {
        channels: f
            .optional_value("channels")
            .map(|v| channel_switches(f, "channels", v))
            .unwrap_or_default(),
        categories: f
            .optional_value("categories")
            .map(|v| categories(f, v))
            .unwrap_or_default(),
        quiet_hours: f
            .optional_value("quietHours")
            .and_then(|v| quiet_hours(f, v)),
    }
}

fn parse_preferences(body: &Value) -> Result<Preferences, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let preferences = preference_fields(&mut f);
    f.finish().map_err(ApiError::Validation)?;
    Ok(preferences)
}

fn parse_defaults(body: &Value) -> Result<Defaults, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let base = preference_fields(&mut f);
    let mut required = BTreeSet::new();
    match f.optional_value("required") {
        None => {}
        Some(Value::Array(list)) if list.len() <= MAX_CATEGORIES => {
            for (i, c) in list.iter().enumerate() {
                let field = format!("required[{i}]");
                match c.as_str() {
                    Some(c) if category_name(&mut f, &field, c) => {
                        required.insert(c.to_owned());
                    }
                    Some(_) => {}
                    None => f.error(&field, "type", "must be a category name"),
                }
            }
        }
        Some(Value::Array(_)) => f.error(
            "required",
            "max_items",
            format!("must name at most {MAX_CATEGORIES} categories"),
        ),
        Some(_) => f.error("required", "type", "must be an array of category names"),
    }
    let time_zone = time_zone(&mut f, "timeZone");
    let mut quiet_hours_exempt = BTreeMap::new();
    if let Some(v) = f.optional_value("quietHoursExempt")
        && let Some(m) = object_entries(&mut f, "quietHoursExempt", v, "category: true|false")
    {
        for (k, v) in m {
            let field = format!("quietHoursExempt.{k}");
            match v {
                Value::Bool(b) if category_name(&mut f, &field, k) => {
                    quiet_hours_exempt.insert(k.clone(), *b);
                }
                Value::Bool(_) => {}
                _ => f.error(
                    &field,
                    "type",
                    "must be true (goes during quiet hours) or false",
                ),
            }
        }
    }
    let mut frequency_caps = BTreeMap::new();
    if let Some(v) = f.optional_value("frequencyCaps")
        && let Some(m) =
            object_entries(&mut f, "frequencyCaps", v, "category: {limit, windowHours}")
    {
        for (k, v) in m {
            let field = format!("frequencyCaps.{k}");
            if !category_name(&mut f, &field, k) {
                continue;
            }
            let mut c = match Fields::of(v, &field) {
                Ok(c) => c,
                Err(e) => {
                    f.error(&field, e.rule, e.message);
                    continue;
                }
            };
            let limit = c.optional_u32("limit", 1..=FrequencyCap::MAX_LIMIT);
            let window_hours = c.optional_u32("windowHours", 1..=FrequencyCap::MAX_WINDOW_HOURS);
            for (name, given) in [("limit", limit), ("windowHours", window_hours)] {
                if given.is_none() && !c.has(name) {
                    c.error(name, "required", "is required");
                }
            }
            let errors = c.finish().err().unwrap_or_default();
            if errors.is_empty()
                && let (Some(limit), Some(window_hours)) = (limit, window_hours)
            {
                frequency_caps.insert(
                    k.clone(),
                    FrequencyCap {
                        limit,
                        window_hours,
                    },
                );
            }
            for e in errors {
                f.error(&e.field, e.rule, e.message);
            }
        }
    }
    f.finish().map_err(ApiError::Validation)?;
    Ok(Defaults {
        channels: base.channels,
        categories: base.categories,
        quiet_hours: base.quiet_hours,
        required,
        time_zone,
        quiet_hours_exempt,
        frequency_caps,
    })
}

/// `GET /v1/users/{userId}/preferences`: what the user set (empty when nothing), beside the
/// tenant's required categories (which no setting changes).
/// A user (`/v1/users/{userId}/preferences`) whose preferences a route reads or writes.
pub fn user_subscriber(raw_user: &str) -> Result<Subscriber, ApiError> {
    user_id(raw_user).map(Subscriber::User)
}

/// An email address (`/v1/preferences/addresses/{address}`): the opt-outs of sends that
/// named an address rather than a user (one-click unsubscribe from such a send).
pub fn address_subscriber(raw: &str) -> Result<Subscriber, ApiError> {
    EmailAddress::parse(raw)
        .map(|a| Subscriber::address(&a))
        .map_err(|e| {
            ApiError::Validation(vec![FieldError::new(
                "address",
                "email",
                format!("is not a valid email address: {e}"),
            )])
        })
}

/// `GET /v1/users/{userId}/preferences`, `GET /v1/preferences/addresses/{address}`.
pub async fn get_preferences(
    app: &App,
    tenant: &TenantId,
    who: Subscriber,
) -> Result<Response<Body>, ApiError> {
    let (preferences, defaults) = tokio::join!(
        app.users.preferences(tenant, &who),
        app.users.defaults(tenant)
    );
    let preferences = preferences.map_err(unavailable)?.unwrap_or_default();
    let defaults = defaults.map_err(unavailable)?.unwrap_or_default();
    Ok(preferences_answer(&who, &preferences, &defaults))
}

fn preferences_answer(who: &Subscriber, p: &Preferences, d: &Defaults) -> Response<Body> {
    let mut body = serde_json::to_value(p).unwrap_or_else(|_| json!({}));
    match who {
        Subscriber::User(u) => body["userId"] = json!(u.as_str()),
        Subscriber::Address(a) => body["address"] = json!(a.as_str()),
    }
    body["required"] = json!(d.required);
    response::json(StatusCode::OK, &body)
}

/// `PUT /v1/users/{userId}/preferences`, `PUT /v1/preferences/addresses/{address}`:
/// replaces them whole.
pub async fn put_preferences(
    app: &App,
    tenant: &TenantId,
    who: Subscriber,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let preferences = parse_preferences(body)?;
    app.users
        .put_preferences(tenant, &who, &preferences)
        .await
        .map_err(unavailable)?;
    let defaults = app
        .users
        .defaults(tenant)
        .await
        .map_err(unavailable)?
        .unwrap_or_default();
    info!("preferences saved");
    Ok(preferences_answer(&who, &preferences, &defaults))
}

pub async fn get_defaults(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    let defaults = app
        .users
        .defaults(tenant)
        .await
        .map_err(unavailable)?
        .unwrap_or_default();
    Ok(response::json(StatusCode::OK, &defaults))
}

/// `PUT /v1/preferences/defaults`: replaces them whole.
pub async fn put_defaults(
    app: &App,
    tenant: &TenantId,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let defaults = parse_defaults(body)?;
    app.users
        .put_defaults(tenant, &defaults)
        .await
        .map_err(unavailable)?;
    info!("preference defaults saved");
    Ok(response::json(StatusCode::OK, &defaults))
}

// ------------------------------------------------------------------------------ user tokens

/// `POST /v1/user-token-secret`: a new secret for signing user tokens, shown this once; the
/// old one's tokens stop working.
pub async fn rotate_user_token_secret(
    app: &App,
    tenant: &TenantId,
) -> Result<Response<Body>, ApiError> {
    let secret = UserTokenSecret::generate().map_err(ApiError::Unavailable)?;
    app.users
        .put_user_token_secret(tenant, &secret)
        .await
        .map_err(unavailable)?;
    info!("user-token secret rotated");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"secret": secret.expose(), "createdAt": app.clock.now()}),
    ))
}

/// The user token a request carries (`Authorization: Bearer <token>`), verified with its
/// tenant's secret; `401` otherwise.
pub async fn user_token(app: &App, req: &lambda_http::Request) -> Result<UserToken, ApiError> {
    let presented = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let tenant = UserToken::claimed_tenant(presented).map_err(|_| ApiError::Unauthorized)?;
    let secret = app
        .users
        .user_token_secret(&tenant)
        .await
        .map_err(unavailable)?
        .ok_or(ApiError::Unauthorized)?;
    UserToken::verify(presented, &secret, app.clock.now()).map_err(|e| {
        info!(reason = %e, "user token refused");
        ApiError::Unauthorized
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_replaces_merges_and_removes() {
        let mut v = json!({"name": "Jane", "email": "j@example.com", "data": {"a": 1, "b": 2}});
        merge_patch(
            &mut v,
            &json!({"name": null, "phone": "+33612345678", "data": {"a": null, "c": 3}}),
        );
        assert_eq!(
            v,
            json!({"email": "j@example.com", "phone": "+33612345678", "data": {"b": 2, "c": 3}})
        );
    }
}
