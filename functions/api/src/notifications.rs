//! `POST /v1/notifications` and `GET /v1/notifications/{id}`.

use std::{collections::BTreeMap, time::Duration};

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        Address, Channel, Content, DeliveryStatus, Failure, HistoryEntry, Notification,
        NotificationId, Platform, Priority, Status, TenantId, sms::SmsEncoding, time::Timestamp,
    },
    queue::QueueMessage,
    store::{Transition, TransitionOutcome},
};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::{ApiError, App, draft::parse_draft, response};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    id: &'a NotificationId,
    status: Status,
    channel: Channel,
    priority: Priority,
    created_at: Timestamp,
    #[serde(flatten)]
    content: ContentSummary<'a>,
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

pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let draft = parse_draft(body, app.config.draft_limits())?;
    let notification = Notification::accept(
        draft,
        tenant.clone(),
        app.clock.now(),
        app.config.store.retention,
    );
    let id = &notification.id;
    tracing::Span::current().record("notification_id", id.as_str());

    // The record first: once a message is on the queue, its worker must find the record.
    if let Err(e) = app.store.insert(&notification).await {
        error!(error = %e, notification_id = %id, "could not record the notification");
        return Err(ApiError::Unavailable(
            "the notification could not be recorded and was not accepted; retry the request".into(),
        ));
    }
    let message = QueueMessage::new(
        id.clone(),
        tenant.clone(),
        notification.channel,
        notification.priority,
    );
    if let Err(e) = app.queue.enqueue(&message, Duration::ZERO).await {
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
    info!(
        notification_id = %id,
        channel = %notification.channel,
        priority = %notification.priority,
        recipient = %notification.recipient.masked(),
        "notification accepted"
    );
    let mut resp = response::json(
        StatusCode::ACCEPTED,
        &Accepted {
            id,
            status: notification.status,
            channel: notification.channel,
            priority: notification.priority,
            created_at: notification.created_at,
            content: ContentSummary::of(&notification.content),
        },
    );
    if let Ok(location) = format!("/v1/notifications/{id}").parse() {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
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
    created_at: Timestamp,
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
            created_at: n.created_at,
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
    let not_found = || ApiError::NotFound(format!("no notification {raw_id}"));
    let id = NotificationId::parse(raw_id).ok_or_else(not_found)?;
    let found = app.store.get(&id, app.clock.now()).await.map_err(|e| {
        error!(error = %e, "could not read the notification");
        ApiError::Unavailable("the notification store is unavailable; retry the request".into())
    })?;
    // Another tenant's notification is indistinguishable from a missing one.
    let notification = found
        .filter(|n| &n.tenant == tenant)
        .ok_or_else(not_found)?;
    Ok(response::json(StatusCode::OK, &View::of(&notification)))
}
