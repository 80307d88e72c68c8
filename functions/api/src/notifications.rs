//! `POST /v1/notifications` and `GET /v1/notifications/{id}`.

use std::collections::BTreeMap;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{
        BatchId, Channel, DeliveryStatus, Failure, HistoryEntry, HttpResponse, MAX_REFERENCE_CHARS,
        Notification, NotificationId, Platform, Priority, Status, TemplateRef, TenantId, UserId,
        WebhookUrl, time::Timestamp,
    },
    store::{ListFilter, StoreError, Transition, TransitionOutcome},
    template::TemplateName,
    validate::FieldError,
};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::{ApiError, App, accept, callers::Origin, channel::Summary, paging, response};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    id: &'a NotificationId,
    status: Status,
    channel: Channel,
    priority: Priority,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<Timestamp>,
    #[serde(flatten)]
    content: Summary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a TemplateRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a UserId>,
    /// Why it will not be sent (preferences, a frequency cap), when it was settled at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Failure>,
}

impl<'a> Accepted<'a> {
    pub(crate) fn of(n: &'a Notification) -> Self {
        Self {
            id: &n.id,
            status: n.status,
            channel: n.channel,
            priority: n.priority,
            created_at: n.created_at,
            scheduled_at: n.scheduled_at,
            content: Summary::of(&n.content),
            template: n.template.as_ref(),
            reference: n.reference.as_deref(),
            user_id: n.user_id.as_ref(),
            error: n.error.as_ref(),
        }
    }
}

/// `POST /v1/notifications`: `202` with what was accepted, and its `Location`.
pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    id: NotificationId,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Response<Body>, ApiError> {
    if accept::route::is_routed(body) {
        return crate::routes::create(app, tenant, body, id, base, origin).await;
    }
    let notification = accept::one(app, tenant, body, id, base, origin).await?;
    let mut resp = response::json(StatusCode::ACCEPTED, &Accepted::of(&notification));
    if let Ok(location) = format!("/v1/notifications/{}", notification.id).parse() {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
}

/// `POST /v1/notifications/{id}/cancel`: stops a scheduled or queued notification that no
/// worker has taken yet. A queue message that still arrives for it sends nothing.
pub async fn cancel(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    test: bool,
) -> Result<Response<Body>, ApiError> {
    let notification = match find(app, tenant, raw_id, test).await {
        Err(ApiError::NotFound(m)) => {
            return match route_of(app, tenant, raw_id, test).await? {
                Some(route) => crate::routes::cancel(app, &route).await,
                None => Err(ApiError::NotFound(m)),
            };
        }
        other => other?,
    };
    match app
        .store
        .transition(&notification.id, &Transition::cancelled(app.clock.now()))
        .await
    {
        Ok(TransitionOutcome::Applied(n)) => {
            info!(notification_id = %n.id, "notification cancelled");
            Ok(response::json(StatusCode::OK, &View::of(&n)))
        }
        Ok(TransitionOutcome::Refused(current)) => {
            let status = current.map_or(notification.status, |c| c.status);
            Err(ApiError::Conflict {
                code: "not_cancellable",
                message: format!(
                    "the notification is {status}; only scheduled or queued ones can be cancelled"
                ),
            })
        }
        Err(e) => Err(store_unavailable(e)),
    }
}

fn store_unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the notification store is unavailable");
    ApiError::Unavailable("the notification store is unavailable; retry the request".into())
}

/// The tenant's route `raw_id` (asked when no notification has the id).
async fn route_of(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    test: bool,
) -> Result<Option<notify_shared::domain::route::Route>, ApiError> {
    let Some(id) = NotificationId::parse(raw_id) else {
        return Ok(None);
    };
    crate::routes::find(app, tenant, &id, test).await
}

/// The tenant's notification `raw_id`; another tenant's is indistinguishable from a missing one.
/// The tenant's notification `raw_id`, if it was sent with the same kind of key (live or
/// test): a test key's are not a live key's to see, nor the other way round.
pub(crate) async fn find(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    test: bool,
) -> Result<Notification, ApiError> {
    let not_found = || ApiError::NotFound(format!("no notification {raw_id}"));
    let id = NotificationId::parse(raw_id).ok_or_else(not_found)?;
    let found = app
        .store
        .get(&id, app.clock.now())
        .await
        .map_err(store_unavailable)?;
    found
        .filter(|n| &n.tenant == tenant && n.test == test)
        .ok_or_else(not_found)
}

/// A notification as `GET /v1/notifications/{id}` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct View<'a> {
    id: &'a NotificationId,
    channel: Channel,
    priority: Priority,
    status: Status,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a UserId>,
    /// The routed send it is a step of.
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<RouteRef<'a>>,
    /// When the recipient read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_at: Option<Timestamp>,
    #[serde(flatten)]
    content: Summary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a TemplateRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<&'a BatchId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    /// Where its status callbacks go instead of the tenant's subscriptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<&'a WebhookUrl>,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<Timestamp>,
    updated_at: Timestamp,
    expires_at: Timestamp,
    /// When the provider reported it delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<Timestamp>,
    /// When the recipient marked it as spam.
    #[serde(skip_serializing_if = "Option::is_none")]
    complained_at: Option<Timestamp>,
    attempts: u32,
    provider: Option<&'a str>,
    provider_message_id: Option<&'a str>,
    error: Option<&'a Failure>,
    /// One entry per target (each device of a user, for push), once the first attempt ran.
    deliveries: Vec<DeliveryView<'a>>,
    history: &'a [HistoryEntry],
}

#[derive(Serialize)]
struct RouteRef<'a> {
    id: &'a NotificationId,
    step: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView<'a> {
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    status: DeliveryStatus,
    provider_message_id: Option<&'a str>,
    error: Option<&'a Failure>,
    /// What a webhook receiver answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a HttpResponse>,
}

impl<'a> View<'a> {
    pub(crate) fn of(n: &'a Notification) -> Self {
        Self {
            id: &n.id,
            channel: n.channel,
            priority: n.priority,
            status: n.status,
            to: n.recipient.as_str(),
            user_id: n.user_id.as_ref(),
            route: n.route.as_ref().map(|r| RouteRef {
                id: &r.id,
                step: r.step,
            }),
            read_at: n.read_at,
            content: Summary::of(&n.content),
            category: n.category.as_deref(),
            metadata: &n.metadata,
            template: n.template.as_ref(),
            batch_id: n.batch_id.as_ref(),
            reference: n.reference.as_deref(),
            callback_url: n.callback_url.as_ref(),
            created_at: n.created_at,
            scheduled_at: n.scheduled_at,
            updated_at: n.updated_at,
            expires_at: n.expires_at,
            delivered_at: n
                .history
                .iter()
                .find(|h| h.status == Status::Delivered && h.event.is_none())
                .map(|h| h.at),
            complained_at: n.complained_at,
            attempts: n.attempts,
            provider: n.provider.as_deref(),
            provider_message_id: n.provider_message_id.as_deref(),
            error: n.error.as_ref(),
            deliveries: n
                .deliveries
                .iter()
                .map(|d| DeliveryView {
                    to: d.to.as_str(),
                    platform: d.to.platform(),
                    status: d.status,
                    provider_message_id: d.provider_message_id.as_deref(),
                    error: d.error.as_ref(),
                    response: d.response.as_ref(),
                })
                .collect(),
            history: &n.history,
        }
    }
}

pub async fn get(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    test: bool,
) -> Result<Response<Body>, ApiError> {
    let notification = match find(app, tenant, raw_id, test).await {
        Err(ApiError::NotFound(m)) => {
            return match route_of(app, tenant, raw_id, test).await? {
                Some(route) => Ok(response::json(
                    StatusCode::OK,
                    &crate::routes::view(app, &route).await?,
                )),
                None => Err(ApiError::NotFound(m)),
            };
        }
        other => other?,
    };
    Ok(response::json(StatusCode::OK, &View::of(&notification)))
}

/// What this listing's cursors carry before their position (a notification id).
const CURSOR_KIND: &str = "n1:";

/// What `GET /v1/notifications` was asked.
struct ListQuery {
    filter: ListFilter,
    limit: usize,
    before: Option<NotificationId>,
    /// The filters as given, for the `next` link.
    echo: Vec<(String, String)>,
}

fn list_query(req: &Request) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        filter: ListFilter::default(),
        limit: paging::DEFAULT_LIMIT,
        before: None,
        echo: Vec::new(),
    };
    let mut errors = Vec::new();
    let text = |v: &str, max: usize| {
        (!v.trim().is_empty() && v.chars().count() <= max && !v.chars().any(char::is_control))
            .then(|| v.to_owned())
    };
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        let echo = !matches!(k, "cursor" | "limit");
        match k {
            "status" => match v.parse::<Status>() {
                Ok(s) => q.filter.status = Some(s),
                Err(e) => errors.push(FieldError::new(k, "enum", e.to_string())),
            },
            "channel" => match v.parse::<Channel>() {
                Ok(c) => q.filter.channel = Some(c),
                Err(e) => errors.push(FieldError::new(k, "enum", e.to_string())),
            },
            "recipient" => match text(v, 2048) {
                Some(r) => q.filter.recipient = Some(r),
                None => errors.push(FieldError::new(
                    k,
                    "text",
                    "must be 1 to 2048 characters, one line",
                )),
            },
            "template" => match TemplateName::parse(v) {
                Ok(t) => q.filter.template = Some(t.as_str().to_owned()),
                Err(e) => errors.push(FieldError::new(k, "pattern", e.to_string())),
            },
            "batchId" => match BatchId::parse(v) {
                Ok(b) => q.filter.batch = Some(b),
                Err(e) => errors.push(FieldError::new(k, "pattern", e.to_string())),
            },
            "reference" => match text(v, MAX_REFERENCE_CHARS) {
                Some(r) => q.filter.reference = Some(r),
                None => errors.push(FieldError::new(
                    k,
                    "text",
                    format!("must be 1 to {MAX_REFERENCE_CHARS} characters, one line"),
                )),
            },
            "since" | "until" => match paging::timestamp(k, v) {
                Ok(t) if k == "since" => q.filter.since = Some(t),
                Ok(t) => q.filter.until = Some(t),
                Err(e) => errors.push(e),
            },
            "limit" => match paging::limit(v) {
                Ok(n) => q.limit = n,
                Err(e) => errors.push(e),
            },
            "cursor" => match paging::cursor(CURSOR_KIND, v) {
                Ok(position) => match NotificationId::parse(&position) {
                    Some(id) => q.before = Some(id),
                    // A cursor of the right kind whose position is not an id: not ours either.
                    None => errors.extend(paging::cursor(CURSOR_KIND, "").err()),
                },
                Err(e) => errors.push(e),
            },
            // Other parameters are not the list's: left alone, as proxies and caches add some.
            _ => continue,
        }
        if echo {
            q.echo.push((k.to_owned(), v.to_owned()));
        }
    }
    if let (Some(since), Some(until)) = (q.filter.since, q.filter.until)
        && since >= until
    {
        errors.push(FieldError::new(
            "until",
            "after_since",
            "must be after `since`",
        ));
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /v1/notifications`: the tenant's notifications, newest first, a page at a time.
pub async fn list(
    app: &App,
    tenant: &TenantId,
    req: &Request,
    test: bool,
) -> Result<Response<Body>, ApiError> {
    let mut q = list_query(req)?;
    q.filter.test = test;
    let page = app
        .search
        .list(
            tenant,
            &q.filter,
            q.before.as_ref(),
            q.limit,
            app.clock.now(),
        )
        .await
        .map_err(store_unavailable)?;
    let next = page.next.as_ref().map(|position| {
        paging::next_link(
            "/v1/notifications",
            &q.echo,
            q.limit,
            CURSOR_KIND,
            position.as_str(),
        )
    });
    let items: Vec<View<'_>> = page.items.iter().map(View::of).collect();
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "notifications": items, "next": next }),
    ))
}
