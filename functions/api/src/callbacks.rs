//! Status callbacks: `PUT/GET/DELETE /v1/callbacks` (the tenant's subscriptions, replaced
//! whole) and `GET /v1/callbacks/deliveries` (the callbacks that did not succeed at once).
//!
//! Callbacks are signed with the tenant's webhook signing secret: a `PUT` creates it when the
//! tenant has none, and shows it that once.

use std::{collections::BTreeSet, str::FromStr};

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{
        Channel, Failure, HttpResponse, NotificationId, TenantId, WebhookUrl,
        callback::{
            CallbackDelivery, CallbackDeliveryStatus, CallbackEvent, MAX_SUBSCRIPTIONS,
            Subscription, Subscriptions,
        },
        time::Timestamp,
    },
    store::StoreError,
    validate::{FieldError, Fields},
    webhook::SigningSecrets,
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, paging, response, webhooks};

/// What this listing's cursors carry before their position (a sort key).
const CURSOR_KIND: &str = "c1:";

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the callback store is unavailable");
    ApiError::Unavailable("the callback store is unavailable; retry the request".into())
}

/// `GET /v1/callbacks`: the tenant's subscriptions (none: an empty list).
pub async fn get(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    let subs = app
        .callbacks
        .subscriptions(tenant)
        .await
        .map_err(unavailable)?;
    Ok(response::json(StatusCode::OK, &view(subs.as_ref(), None)))
}

fn view(subs: Option<&Subscriptions>, signing_secret: Option<&str>) -> Value {
    let mut v = json!({
        "subscriptions": subs.map(|s| s.subscriptions.as_slice()).unwrap_or_default(),
    });
    if let Some(s) = subs {
        v["updatedAt"] = json!(s.updated_at);
    }
    if let Some(secret) = signing_secret {
        v["signingSecret"] = json!(secret);
    }
    v
}

/// `PUT /v1/callbacks` `{"subscriptions": [{"url", "events"?, "channels"?}]}`.
pub async fn put(app: &App, tenant: &TenantId, body: &Value) -> Result<Response<Body>, ApiError> {
    let subscriptions = parse(app, body)?;
    let subs = Subscriptions {
        subscriptions,
        updated_at: app.clock.now(),
    };
    let created = ensure_signing_secret(app, tenant).await?;
    app.callbacks
        .put_subscriptions(tenant, &subs)
        .await
        .map_err(unavailable)?;
    info!(
        subscriptions = subs.subscriptions.len(),
        "callback subscriptions replaced"
    );
    Ok(response::json(
        StatusCode::OK,
        &view(Some(&subs), created.as_deref()),
    ))
}

/// The tenant's signing secret, created if it has none: the new secret, shown this once.
async fn ensure_signing_secret(app: &App, tenant: &TenantId) -> Result<Option<String>, ApiError> {
    let existing = app
        .webhooks
        .signing_secrets(tenant)
        .await
        .map_err(unavailable)?;
    if existing.is_some() {
        return Ok(None);
    }
    let secret = webhooks::new_secret()?;
    match app
        .webhooks
        .put_signing_secrets(tenant, &SigningSecrets::new(secret.clone()), None)
        .await
    {
        Ok(()) => {
            info!("webhook signing secret created for status callbacks");
            Ok(Some(secret.expose().to_owned()))
        }
        // Another request created it meanwhile: that one showed it.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

fn parse(app: &App, body: &Value) -> Result<Vec<Subscription>, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let mut errors = Vec::new();
    let mut subscriptions = Vec::new();
    match f.optional_value("subscriptions") {
        None => f.error("subscriptions", "required", "is required"),
        Some(Value::Array(list)) if list.is_empty() || list.len() > MAX_SUBSCRIPTIONS => f.error(
            "subscriptions",
            if list.is_empty() { "min_items" } else { "max_items" },
            format!("must list 1 to {MAX_SUBSCRIPTIONS} subscriptions (DELETE /v1/callbacks removes them all)"),
        ),
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                match subscription(app, item, &format!("subscriptions[{i}]")) {
                    Ok(s) => subscriptions.push(s),
                    Err(e) => errors.extend(e),
                }
            }
        }
        Some(_) => f.error("subscriptions", "type", "must be an array"),
    }
    if let Err(e) = f.finish() {
        errors.splice(0..0, e);
    }
    if errors.is_empty() {
        Ok(subscriptions)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn subscription(app: &App, item: &Value, prefix: &str) -> Result<Subscription, Vec<FieldError>> {
    let mut f = Fields::of(item, prefix).map_err(|e| vec![e])?;
    let url = f.required_webhook_url("url", app.config.channel.url_policy);
    let events = names::<CallbackEvent>(&mut f, "events")
        .unwrap_or_else(|| CallbackEvent::ALL.into_iter().collect());
    let channels = names::<Channel>(&mut f, "channels");
    f.finish()?;
    let Some(url) = url else {
        return Err(Vec::new());
    };
    Ok(Subscription {
        url,
        events,
        channels,
    })
}

/// An optional non-empty array of distinct names of `T`.
fn names<'a, T>(f: &mut Fields<'a>, name: &'a str) -> Option<BTreeSet<T>>
where
    T: FromStr + Ord,
    T::Err: std::fmt::Display,
{
    let Value::Array(list) = f.optional_value(name)? else {
        f.error(name, "type", "must be an array of names");
        return None;
    };
    if list.is_empty() {
        f.error(
            name,
            "min_items",
            "must name at least one (leave it out for all)",
        );
        return None;
    }
    let mut set = BTreeSet::new();
    for (i, v) in list.iter().enumerate() {
        let field = format!("{name}[{i}]");
        match v.as_str().map(T::from_str) {
            None => f.error(&field, "type", "must be a string"),
            Some(Err(e)) => f.error(&field, "enum", e.to_string()),
            Some(Ok(t)) => {
                if !set.insert(t) {
                    f.error(&field, "unique", "is listed twice");
                }
            }
        }
    }
    Some(set)
}

/// `DELETE /v1/callbacks`: no callbacks from now on (within the changes function's cache).
pub async fn delete(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    app.callbacks
        .delete_subscriptions(tenant)
        .await
        .map_err(unavailable)?;
    info!("callback subscriptions removed");
    Ok(response::no_content())
}

/// A delivery as answers show it: the tenant is the caller's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView<'a> {
    webhook_id: &'a str,
    notification_id: &'a NotificationId,
    event: CallbackEvent,
    url: &'a WebhookUrl,
    status: CallbackDeliveryStatus,
    attempts: u32,
    created_at: Timestamp,
    last_attempt_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a HttpResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Failure>,
}

impl<'a> DeliveryView<'a> {
    fn of(d: &'a CallbackDelivery) -> Self {
        Self {
            webhook_id: &d.webhook_id,
            notification_id: &d.notification_id,
            event: d.event,
            url: &d.url,
            status: d.status,
            attempts: d.attempts,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            response: d.response.as_ref(),
            error: d.error.as_ref(),
        }
    }
}

/// `GET /v1/callbacks/deliveries?status=&limit=&cursor=`.
pub async fn deliveries(
    app: &App,
    tenant: &TenantId,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let mut status = None;
    let mut limit = paging::DEFAULT_LIMIT;
    let mut after = None;
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "status" => match v.parse::<CallbackDeliveryStatus>() {
                Ok(s) => status = Some(s),
                Err(e) => errors.push(FieldError::new("status", "enum", e.to_string())),
            },
            "limit" => match paging::limit(&v) {
                Ok(n) => limit = n,
                Err(e) => errors.push(e),
            },
            "cursor" => match paging::cursor(CURSOR_KIND, &v) {
                Ok(a) => after = Some(a),
                Err(e) => errors.push(e),
            },
            // Other parameters are not the list's: left alone, as proxies and caches add some.
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = app
        .callback_deliveries
        .deliveries(tenant, status, after.as_deref(), limit)
        .await
        .map_err(unavailable)?;
    let filters: Vec<(String, String)> = status
        .map(|s| ("status".to_owned(), s.as_str().to_owned()))
        .into_iter()
        .collect();
    let next = page.next.as_deref().map(|position| {
        paging::next_link(
            "/v1/callbacks/deliveries",
            &filters,
            limit,
            CURSOR_KIND,
            position,
        )
    });
    let items: Vec<DeliveryView<'_>> = page.items.iter().map(DeliveryView::of).collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({ "deliveries": items, "next": next }),
    ))
}
