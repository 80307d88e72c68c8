//! `POST /v1/notifications` and `GET /v1/notifications/{id}`.

use std::collections::BTreeMap;

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    dispatch,
    domain::schedule::DueKind,
    domain::{
        Address, BatchId, Channel, Content, DeliveryStatus, Draft, Failure, HistoryEntry,
        Notification, NotificationId, Platform, Priority, Status, TemplateRef, TenantId,
        sms::SmsEncoding, time::Timestamp,
    },
    metrics::Metrics,
    store::{StoreError, Transition, TransitionOutcome},
};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::{
    ApiError, App,
    content::{self, Paths, Source},
    draft::{NotificationRequest, parse_request},
    response, templates,
};

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
    content: ContentSummary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a TemplateRef>,
}

/// The content fields worth echoing: what identifies the message, and for SMS what it costs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContentSummary<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    /// SMS: how many messages the carrier bills, and in which encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<SmsEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

impl<'a> ContentSummary<'a> {
    fn of(c: &'a Content) -> Self {
        let mut s = Self {
            subject: None,
            segments: None,
            encoding: None,
            title: None,
        };
        match c {
            Content::Email(e) => s.subject = Some(&e.subject),
            Content::Sms(m) => {
                s.segments = Some(m.segments.count);
                s.encoding = Some(m.segments.encoding);
            }
            Content::Push(p) => s.title = p.title.as_deref(),
        }
        s
    }
}

/// The draft of a request: its inline content as given, or its template rendered with its
/// data (checked as inline content is).
async fn prepare(app: &App, tenant: &TenantId, r: NotificationRequest) -> Result<Draft, ApiError> {
    let (texts, reference, prefix) = match r.content.source {
        Source::Inline(texts) => (texts, None, ""),
        Source::Template {
            name,
            locale,
            data,
            subject,
        } => {
            let template = templates::resolve_for_send(app, tenant, &name, "template").await?;
            let rendered = content::render(
                &template,
                r.channel,
                locale.as_ref(),
                &Value::Object(data),
                subject.as_deref(),
                app.config.sms_max_chars,
                &Paths::top(),
            )
            .map_err(ApiError::Validation)?;
            (rendered.texts, rendered.reference, "rendered")
        }
    };
    let content = content::assemble(texts, &r.content.options, prefix)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    Ok(r.common
        .draft(r.channel, r.recipient, content, reference, None))
}

pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    id: NotificationId,
) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let request = parse_request(body, app.config.draft_limits(now))?;
    let draft = prepare(app, tenant, request).await?;
    let fresh = Notification::accept(id, draft, tenant.clone(), now, app.config.store.retention);
    tracing::Span::current().record("notification_id", fresh.id.as_str());

    // The record first: once a message is on the queue, its worker must find the record.
    let notification = match app.store.insert(&fresh).await {
        Ok(()) => fresh,
        // A retry (same Idempotency-Key) of a request that died after writing the record:
        // carry on with what it wrote.
        Err(StoreError::AlreadyExists(id)) => app
            .store
            .get(&id, now)
            .await
            .ok()
            .flatten()
            .filter(|n| &n.tenant == tenant)
            .ok_or_else(|| {
                ApiError::Unavailable(
                    "the notification could not be recorded; retry the request".into(),
                )
            })?,
        Err(e) => {
            error!(error = %e, notification_id = %fresh.id, "could not record the notification");
            return Err(ApiError::Unavailable(
                "the notification could not be recorded and was not accepted; retry the request"
                    .into(),
            ));
        }
    };
    let id = &notification.id;
    // A scheduled notification waits for the sweep; one marked `enqueue` needs its message.
    if notification.due.is_some_and(|d| d.kind == DueKind::Enqueue) {
        let lifetime = app.config.store.lifetime;
        if let Err(e) = dispatch::enqueue(
            app.store.as_ref(),
            app.queue.as_ref(),
            &notification,
            now,
            lifetime,
        )
        .await
        {
            error!(error = %e, notification_id = %id, "could not queue the notification");
            // Say so on the record too, so a status read agrees with the 503.
            let failure = Failure {
                code: "QueueUnavailable".into(),
                message: "the notification could not be queued".into(),
            };
            match app
                .store
                .transition(
                    id,
                    &Transition::failed_before_sending(failure, app.clock.now()),
                )
                .await
            {
                Ok(TransitionOutcome::Applied(_)) => {}
                other => {
                    error!(result = ?other.map(|_| ()), notification_id = %id, "could not mark the notification failed")
                }
            }
            return Err(ApiError::Unavailable(format!(
                "notification {id} could not be queued and will not be sent; retry the request"
            )));
        }
    }
    info!(
        notification_id = %id,
        channel = %notification.channel,
        priority = %notification.priority,
        status = %notification.status,
        recipient = %notification.recipient.masked(),
        "notification accepted"
    );
    Metrics::new()
        .dimension("Channel", notification.channel.as_str())
        .dimension("Priority", notification.priority.as_str())
        .count("Accepted", 1)
        .emit();
    let mut resp = response::json(
        StatusCode::ACCEPTED,
        &Accepted {
            id,
            status: notification.status,
            channel: notification.channel,
            priority: notification.priority,
            created_at: notification.created_at,
            scheduled_at: notification.scheduled_at,
            content: ContentSummary::of(&notification.content),
            template: notification.template.as_ref(),
        },
    );
    if let Ok(location) = format!("/v1/notifications/{id}").parse() {
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
) -> Result<Response<Body>, ApiError> {
    let notification = find(app, tenant, raw_id).await?;
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

/// The tenant's notification `raw_id`; another tenant's is indistinguishable from a missing one.
pub(crate) async fn find(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
) -> Result<Notification, ApiError> {
    let not_found = || ApiError::NotFound(format!("no notification {raw_id}"));
    let id = NotificationId::parse(raw_id).ok_or_else(not_found)?;
    let found = app
        .store
        .get(&id, app.clock.now())
        .await
        .map_err(store_unavailable)?;
    found.filter(|n| &n.tenant == tenant).ok_or_else(not_found)
}

/// A notification as `GET /v1/notifications/{id}` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    id: &'a NotificationId,
    channel: Channel,
    priority: Priority,
    status: Status,
    to: &'a str,
    #[serde(flatten)]
    content: ContentSummary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a TemplateRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<&'a BatchId>,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<Timestamp>,
    updated_at: Timestamp,
    expires_at: Timestamp,
    attempts: u32,
    provider: Option<&'a str>,
    provider_message_id: Option<&'a str>,
    error: Option<&'a Failure>,
    /// One entry per target (each device of a user, for push), once the first attempt ran.
    deliveries: Vec<DeliveryView<'a>>,
    history: &'a [HistoryEntry],
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
}

impl<'a> View<'a> {
    fn of(n: &'a Notification) -> Self {
        Self {
            id: &n.id,
            channel: n.channel,
            priority: n.priority,
            status: n.status,
            to: n.recipient.as_str(),
            content: ContentSummary::of(&n.content),
            category: n.category.as_deref(),
            metadata: &n.metadata,
            template: n.template.as_ref(),
            batch_id: n.batch_id.as_ref(),
            created_at: n.created_at,
            scheduled_at: n.scheduled_at,
            updated_at: n.updated_at,
            expires_at: n.expires_at,
            attempts: n.attempts,
            provider: n.provider.as_deref(),
            provider_message_id: n.provider_message_id.as_deref(),
            error: n.error.as_ref(),
            deliveries: n
                .deliveries
                .iter()
                .map(|d| DeliveryView {
                    to: d.to.as_str(),
                    platform: match &d.to {
                        Address::Device { platform, .. } => *platform,
                        _ => None,
                    },
                    status: d.status,
                    provider_message_id: d.provider_message_id.as_deref(),
                    error: d.error.as_ref(),
                })
                .collect(),
            history: &n.history,
        }
    }
}

pub async fn get(app: &App, tenant: &TenantId, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let notification = find(app, tenant, raw_id).await?;
    Ok(response::json(StatusCode::OK, &View::of(&notification)))
}
