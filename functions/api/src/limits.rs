//! A tenant's limits: requests per minute and notifications per channel per UTC day.
//!
//! **Requests** are counted in fixed one-minute windows, one DynamoDB item per tenant and
//! minute changed by a conditional `ADD`, so the cap is exact however many API functions
//! count at once (no request past it is let in). A fixed window lets a client spend one
//! minute's budget at the end of a window and the next at the start of the following one:
//! at most twice the limit within any 60 seconds. A batch is let in like any request; once
//! accepted it costs its recipients, or what is left of the window when that is less (so a
//! batch larger than the limit still goes, and the requests after it wait for the next
//! window).
//! Each answer carries the IETF `RateLimit-Policy` and `RateLimit` headers; past the limit,
//! `429 rate_limited` with `Retry-After`. If the counter cannot be written, the request is
//! let through (logged): the limit protects the service, an outage of it should not stop it.
//!
//! **Daily quotas** count accepted notifications per channel per UTC day the same way; past
//! one, `429 quota_exceeded` (a batch takes what fits and refuses the rest by index).

use http::HeaderValue;
use lambda_http::{Body, Response};
use notify_shared::domain::{Channel, Notification, Status, TenantId, UserId, time::Timestamp};
use tracing::warn;

use crate::{ApiError, App, callers::Caller};

const WINDOW_SECS: i64 = 60;
const DAY_SECS: i64 = 86_400;

/// The current window's counter, and when the window ends (epoch seconds).
fn window(now: Timestamp) -> (String, i64) {
    let minute = now.as_seconds().div_euclid(WINDOW_SECS);
    (format!("RATE#{minute}"), (minute + 1) * WINDOW_SECS)
}

/// Where a tenant (or one of its users) stands in the current window, for the `RateLimit`
/// headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset: u64,
    /// Counted for one user's token rather than for the tenant.
    pub user: bool,
}

impl RateState {
    /// `RateLimit-Policy: 3000;w=60` and `RateLimit: limit=3000, remaining=2999, reset=42`.
    pub fn stamp(&self, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        let policy = format!("{};w={WINDOW_SECS}", self.limit);
        let state = format!(
            "limit={}, remaining={}, reset={}",
            self.limit, self.remaining, self.reset
        );
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
}

/// `429 rate_limited`.
pub fn too_many(state: RateState) -> ApiError {
    ApiError::TooMany {
        code: "rate_limited",
        message: format!(
            "this {} may make {} requests a minute; retry in {} s",
            if state.user { "user" } else { "tenant" },
            state.limit,
            state.reset
        ),
        retry_after_secs: state.reset,
    }
}

/// The answer to a request refused by the rate limit, with its headers.
pub fn refused(state: RateState) -> Response<Body> {
    let mut response = too_many(state).into_response();
    state.stamp(&mut response);
    response
}

/// Counts `cost` requests (capped at the limit) in the caller's current window: `Ok(state)`
/// when let in (`None`: the counter could not be written, so nothing to report), `Err(state)`
/// when the limit would be passed.
pub async fn admit(
    app: &App,
    caller: &Caller,
    cost: u32,
    now: Timestamp,
) -> Result<Option<RateState>, RateState> {
    let limit = caller.limits.requests_per_minute;
    count_request(app, &caller.tenant, None, limit, cost, now).await
}

/// Counts one request made with a user token (an app reading or marking its user's inbox) in
/// that user's own window, `NOTIFY_USER_REQUESTS_PER_MINUTE`: an app's users neither spend
/// their tenant's budget nor, one misbehaving client, the table's.
pub async fn admit_user(
    app: &App,
    tenant: &TenantId,
    user: &UserId,
    now: Timestamp,
) -> Result<Option<RateState>, RateState> {
    let limit = app.config.user_requests_per_minute;
    count_request(app, tenant, Some(user), limit, 1, now).await
}

async fn count_request(
    app: &App,
    tenant: &TenantId,
    user: Option<&UserId>,
    limit: u32,
    cost: u32,
    now: Timestamp,
) -> Result<Option<RateState>, RateState> {
    let (mut counter, window_end) = window(now);
    if let Some(user) = user {
        counter = format!("{counter}#U#{}", user.as_str());
    }
    let reset = (window_end - now.as_seconds()).max(1) as u64;
    let state = |remaining| RateState {
        limit,
        remaining,
        reset,
        user: user.is_some(),
    };
    let counted = app
        .counters
        .add_within(tenant, &counter, cost, limit, window_end + WINDOW_SECS)
        .await;
    match counted {
        Ok(Some(used)) => Ok(Some(state(limit.saturating_sub(used)))),
        Ok(None) => Err(state(0)),
        Err(e) => {
            warn!(error = %e, tenant = %tenant, "the rate counter could not be written; the request is let through");
            Ok(None)
        }
    }
}

/// Counts up to `cost` more requests in the caller's window (what is left of it when less),
/// after the request was let in: where the window then stands.
pub async fn charge_up_to(
    app: &App,
    caller: &Caller,
    cost: u32,
    state: Option<RateState>,
    now: Timestamp,
) -> Option<RateState> {
    let state = state.filter(|_| cost > 0)?;
    let (counter, window_end) = window(now);
    let counted = app
        .counters
        .add_what_fits(
            &caller.tenant,
            &counter,
            cost,
            state.limit,
            window_end + WINDOW_SECS,
        )
        .await;
    match counted {
        Ok(fits) => Some(RateState {
            remaining: state.remaining.saturating_sub(fits),
            ..state
        }),
        Err(e) => {
            warn!(error = %e, tenant = %caller.tenant, "the rate counter could not be written");
            Some(state)
        }
    }
}

/// Recipients a batch body lists (what it costs against the rate limit).
pub fn recipients_in(body: &serde_json::Value) -> u32 {
    body.get("recipients")
        .and_then(serde_json::Value::as_array)
        .map_or(1, |r| u32::try_from(r.len()).unwrap_or(u32::MAX))
}

/// Whether a notification counts against the daily quota: one sent now or at a set time.
pub fn counts(n: &Notification) -> bool {
    matches!(n.status, Status::Queued | Status::Scheduled)
}

/// Seconds until the next UTC midnight.
fn until_midnight(now: Timestamp) -> u64 {
    (DAY_SECS - now.as_seconds().rem_euclid(DAY_SECS)) as u64
}

fn quota_counter(now: Timestamp, channel: Channel) -> String {
    let day = now.as_jiff().strftime("%Y-%m-%d");
    format!("QUOTA#{day}#{channel}")
}

/// The tenant's daily quota per channel.
async fn daily_quota(app: &App, tenant: &TenantId, now: Timestamp) -> Result<u32, ApiError> {
    Ok(app
        .key_cache
        .tenant(app.tenants.as_ref(), tenant, now)
        .await?
        .map_or(app.config.default_limits, |t| t.limits)
        .daily_quota_per_channel)
}

/// Counts `want` notifications of `channel` against today's quota: how many fit (the first
/// ones of the request). `429 quota_exceeded` when none does. If the counter cannot be
/// written, they are let through (logged).
pub async fn take_quota(
    app: &App,
    tenant: &TenantId,
    channel: Channel,
    want: u32,
    now: Timestamp,
) -> Result<u32, ApiError> {
    if want == 0 {
        return Ok(0);
    }
    let quota = daily_quota(app, tenant, now).await?;
    let expires = now.as_seconds() + until_midnight(now) as i64 + DAY_SECS;
    let taken = app
        .counters
        .add_what_fits(tenant, &quota_counter(now, channel), want, quota, expires)
        .await;
    match taken {
        Ok(0) => Err(ApiError::TooMany {
            code: "quota_exceeded",
            message: format!(
                "this tenant has sent its {quota} {channel} notifications for today (UTC); the quota resets at midnight UTC"
            ),
            retry_after_secs: until_midnight(now),
        }),
        Ok(n) => Ok(n),
        Err(e) => {
            warn!(error = %e, tenant = %tenant, "the quota counter could not be written; the notifications are let through");
            Ok(want)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_days_are_utc() {
        let now = Timestamp::from_millis(1_765_065_599_000).unwrap(); // 2025-12-06T23:59:59Z
        assert_eq!(until_midnight(now), 1);
        assert_eq!(
            quota_counter(now, Channel::Sms),
            "QUOTA#2025-12-06#sms".to_owned()
        );
        assert_eq!(
            recipients_in(&serde_json::json!({"recipients": [1, 2, 3]})),
            3
        );
        assert_eq!(recipients_in(&serde_json::json!({})), 1);
    }
}
