//! The tenant's suppression list: `GET /v1/suppressions` (paged, by channel then address),
//! `PUT`, `GET` and `DELETE /v1/suppressions/{channel}/{address}`. Bounces and complaints add
//! entries by themselves (the events function); a `PUT` adds one by hand (`manual`).

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{Channel, SuppressedAddress, Suppression, SuppressionReason, TenantId},
    store::{StoreError, SuppressionFilter},
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, paging, response};

/// A tenant's note on an entry it adds.
const MAX_DETAIL_CHARS: usize = 500;
/// What this listing's cursors carry before their position (a sort key).
const CURSOR_KIND: &str = "s1:";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    channel: Channel,
    address: &'a str,
    reason: SuppressionReason,
    created_at: notify_shared::domain::time::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_id: Option<&'a notify_shared::domain::NotificationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl<'a> View<'a> {
    fn of(s: &'a Suppression) -> Self {
        Self {
            channel: s.address.channel(),
            address: s.address.as_str(),
            reason: s.reason,
            created_at: s.created_at,
            notification_id: s.notification_id.as_ref(),
            detail: s.detail.as_deref(),
        }
    }
}

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the suppression list is unavailable");
    ApiError::Unavailable("the suppression list is unavailable; retry the request".into())
}

fn invalid(field: &str, rule: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, rule, message)])
}

fn channel_of(raw: &str) -> Result<Channel, ApiError> {
    raw.parse::<Channel>()
        .map_err(|e| invalid("channel", "enum", e.to_string()))
}

fn path_address(raw_channel: &str, raw_address: &str) -> Result<SuppressedAddress, ApiError> {
    let channel = channel_of(raw_channel)?;
    if !SuppressedAddress::covers(channel) {
        return Err(invalid(
            "channel",
            "enum",
            SuppressedAddress::parse(channel, raw_address)
                .err()
                .unwrap_or_default(),
        ));
    }
    SuppressedAddress::parse(channel, raw_address).map_err(|e| invalid("address", "address", e))
}

fn not_found(address: &SuppressedAddress) -> ApiError {
    ApiError::NotFound(format!(
        "{} is not on the {} suppression list",
        address.as_str(),
        address.channel()
    ))
}

/// What `GET /v1/suppressions` was asked: `channel`, `reason`, `limit`, `cursor`.
struct ListQuery {
    filter: SuppressionFilter,
    limit: usize,
    after: Option<String>,
}

fn list_query(req: &Request) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        filter: SuppressionFilter::default(),
        limit: paging::DEFAULT_LIMIT,
        after: None,
    };
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "channel" => match v.parse::<Channel>() {
                Ok(c) if !SuppressedAddress::covers(c) => errors.push(FieldError::new(
                    "channel",
                    "enum",
                    format!("{c} has no suppression list: email or sms"),
                )),
                Ok(c) => query.filter.channel = Some(c),
                Err(e) => errors.push(FieldError::new("channel", "enum", e.to_string())),
            },
            "reason" => match SuppressionReason::parse(&v) {
                Ok(r) => query.filter.reason = Some(r),
                Err(e) => errors.push(FieldError::new("reason", "enum", e.to_string())),
            },
            "limit" => match paging::limit(&v) {
                Ok(n) => query.limit = n,
                Err(e) => errors.push(e),
            },
            "cursor" => match paging::cursor(CURSOR_KIND, &v) {
                Ok(after) => query.after = Some(after),
                Err(e) => errors.push(e),
            },
            // Other parameters are not the list's: left alone, as proxies and caches add some.
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /v1/suppressions`.
pub async fn list(app: &App, tenant: &TenantId, req: &Request) -> Result<Response<Body>, ApiError> {
    let query = list_query(req)?;
    let page = app
        .suppressions
        .suppressions(tenant, &query.filter, query.after.as_deref(), query.limit)
        .await
        .map_err(unavailable)?;
    let mut filters = Vec::new();
    if let Some(c) = query.filter.channel {
        filters.push(("channel".to_owned(), c.as_str().to_owned()));
    }
    if let Some(r) = query.filter.reason {
        filters.push(("reason".to_owned(), r.as_str().to_owned()));
    }
    let next = page.next.as_deref().map(|position| {
        paging::next_link(
            "/v1/suppressions",
            &filters,
            query.limit,
            CURSOR_KIND,
            position,
        )
    });
    let items: Vec<View<'_>> = page.items.iter().map(View::of).collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({ "suppressions": items, "next": next }),
    ))
}

pub async fn get(
    app: &App,
    tenant: &TenantId,
    raw_channel: &str,
    raw_address: &str,
) -> Result<Response<Body>, ApiError> {
    let address = path_address(raw_channel, raw_address)?;
    let entry = app
        .suppressions
        .suppression(tenant, &address)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(&address))?;
    Ok(response::json(StatusCode::OK, &View::of(&entry)))
}

/// `PUT /v1/suppressions/{channel}/{address}` with `{"detail"?}` (or no body): the address
/// is suppressed, reason `manual`, replacing an entry a bounce or complaint made.
pub async fn put(
    app: &App,
    tenant: &TenantId,
    raw_channel: &str,
    raw_address: &str,
    body: Option<&Value>,
) -> Result<Response<Body>, ApiError> {
    let address = path_address(raw_channel, raw_address)?;
    let mut detail = None;
    if let Some(body) = body {
        let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
        detail = f.header_text("detail", MAX_DETAIL_CHARS, false);
        f.finish().map_err(ApiError::Validation)?;
    }
    let entry = Suppression {
        tenant: tenant.clone(),
        address,
        reason: SuppressionReason::Manual,
        created_at: app.clock.now(),
        notification_id: None,
        detail,
    };
    app.suppressions
        .suppress(&entry, true)
        .await
        .map_err(unavailable)?;
    info!(to = %entry.address.masked(), channel = %entry.address.channel(), "address suppressed by the tenant");
    Ok(response::json(StatusCode::OK, &View::of(&entry)))
}

pub async fn delete(
    app: &App,
    tenant: &TenantId,
    raw_channel: &str,
    raw_address: &str,
) -> Result<Response<Body>, ApiError> {
    let address = path_address(raw_channel, raw_address)?;
    if !app
        .suppressions
        .unsuppress(tenant, &address)
        .await
        .map_err(unavailable)?
    {
        return Err(not_found(&address));
    }
    info!(to = %address.masked(), channel = %address.channel(), "address removed from the suppression list");
    Ok(response::no_content())
}
