//! `POST /v1/notifications` and `GET /v1/notifications/{id}`.

use std::{collections::BTreeMap, time::Duration};

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        Channel, Content, Draft, EmailContent, Failure, HistoryEntry, Notification, NotificationId,
        Priority, Recipient, Status, TenantId, time::Timestamp,
    },
    queue::QueueMessage,
    store::{Transition, TransitionOutcome},
    validate::{self, Fields},
};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::{ApiError, App, response};

/// The draft a `POST /v1/notifications` body describes, or every problem with it.
pub fn parse_draft(body: &Value) -> Result<Draft, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let priority = f.optional_enum::<Priority>("priority");
    let category = f.optional_label("category", validate::MAX_CATEGORY_CHARS);
    let metadata = f.string_map("metadata");
    let message = match channel {
        Some(Channel::Email) => email(&mut f),
        // Without a channel the other fields cannot be judged: report only the channel.
        None => {
            f.skip_unread();
            None
        }
    };
    f.finish().map_err(ApiError::Validation)?;
    // `finish` succeeded, so every field parsed.
    let (Some(channel), Some((recipient, content))) = (channel, message) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    Ok(Draft {
        channel,
        priority: priority.unwrap_or_default(),
        recipient,
        content,
        category,
        metadata,
    })
}

fn email<'a>(f: &mut Fields<'a>) -> Option<(Recipient, Content)> {
    let to = f.required_email("to");
    let subject = f.header_text("subject", validate::MAX_SUBJECT_CHARS, true);
    let text = f.body_text("text", validate::MAX_TEXT_BYTES);
    let html = f.body_text("html", validate::MAX_HTML_BYTES);
    let reply_to = f.optional_email("replyTo");
    if !f.has("text") && !f.has("html") {
        f.error("text", "required", "text or html (or both) is required");
        return None;
    }
    let body_ok = text.is_some() || html.is_some();
    let reply_ok = reply_to.is_some() || !f.has("replyTo");
    match (to, subject, body_ok && reply_ok) {
        (Some(to), Some(subject), true) => Some((
            Recipient::Email(to),
            Content::Email(EmailContent {
                subject,
                text,
                html,
                reply_to,
            }),
        )),
        _ => None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    id: &'a NotificationId,
    status: Status,
    channel: Channel,
    priority: Priority,
    created_at: Timestamp,
}

pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let draft = parse_draft(body)?;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
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
    history: &'a [HistoryEntry],
}

impl<'a> View<'a> {
    fn of(n: &'a Notification) -> Self {
        let Content::Email(email) = &n.content;
        Self {
            id: &n.id,
            channel: n.channel,
            priority: n.priority,
            status: n.status,
            to: n.recipient.as_str(),
            subject: Some(&email.subject),
            category: n.category.as_deref(),
            metadata: &n.metadata,
            created_at: n.created_at,
            updated_at: n.updated_at,
            expires_at: n.expires_at,
            attempts: n.attempts,
            provider: n.provider.as_deref(),
            provider_message_id: n.provider_message_id.as_deref(),
            error: n.error.as_ref(),
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
