//! The accept service: every way a notification comes in (`POST /v1/notifications`, the
//! batch route, the Event Planner routes) runs the same named steps:
//!
//! 1. **validate** ([`request`]): the body, per channel, every broken rule reported at once;
//! 2. **resolve** ([`render::resolve_batch`], [`render::one`]): the template it names (the
//!    tenant's latest version, else the built-in one), or a batch's inline content compiled as
//!    a template;
//! 3. **render** ([`render`]): per recipient, checked exactly as inline content is, into the
//!    notification to record;
//! 4. **resolve recipients** ([`recipients`]): what a recipient names must exist (a webhook
//!    endpoint; the signing secret of an inline webhook URL); for a `userId`, the
//!    [`policy`]: the profile's address, preferences, quiet hours and frequency caps (read
//!    before rendering, so templates see `user.*`; applied once the record is built);
//! 5. **record** ([`record::record_one`], [`record::record_many`]): the record is written
//!    *before* its queue message, so a worker always finds the record of a message;
//! 6. **enqueue** ([`record::enqueue_one`], [`record::enqueue_batch`]): the queue message of
//!    each recorded notification that is due now (a scheduled one waits for the sweep);
//! 7. **answer**: what was accepted, logged and counted (EMF `Accepted`).
//!
//! **The one rule for a queue failure after the record is written**: the notification is
//! accepted. Its record keeps its `enqueue` marker (a batch's request, its outbox), so the
//! cleanup sweep sends its message once the grace period has passed (two minutes), and the
//! answer is `202` like any other.
//! Everything an answer calls accepted is delivered; a client never has to guess whether a
//! `503` after a half-done request will be sent. A record that could not be written is not
//! accepted (`503` for a single notification, `recipients[i]` `unavailable` in a batch).

pub mod draft;
pub mod policy;
pub mod recipients;
pub mod record;
pub mod render;
pub mod request;
pub mod route;

use notify_shared::{
    domain::{
        BatchId, Channel, Notification, NotificationId, Priority, Status, TemplateRef, TenantId,
    },
    metrics::Metrics,
    store::BatchRequest as BatchCounts,
    validate::FieldError,
};
use serde_json::Value;
use tracing::{info, warn};

use crate::{ApiError, App, callers::Origin, idempotency::Planned, limits};

/// Errors an answer lists (it counts them all).
const MAX_LISTED_ERRORS: usize = 1_000;

/// What a batch request accepted and refused.
pub struct BatchAccepted {
    pub batch_id: BatchId,
    pub channel: Channel,
    pub priority: Priority,
    /// The status of its notifications (they share one), when any was accepted.
    pub status: Option<Status>,
    pub template: Option<TemplateRef>,
    pub accepted: usize,
    pub rejected: usize,
    /// One per recipient, in order: the notification's id, or `None` when it was refused.
    pub ids: Vec<Option<NotificationId>>,
    /// At most [`MAX_LISTED_ERRORS`]; `errors_truncated` says when there were more.
    pub errors: Vec<FieldError>,
    pub errors_truncated: bool,
}

/// Accepts one notification (`id` is the one it takes: with an `Idempotency-Key`, the key's).
pub async fn one(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    id: NotificationId,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Notification, ApiError> {
    let now = app.clock.now();
    let mut request = request::parse_request(body, app.config.draft_limits(now))?;
    let user = policy::resolve(app, tenant, &mut request, now).await?;
    let draft = request.common.draft;
    let mut fresh = render::one(app, tenant, request, id, now).await?;
    fresh.test = origin.test;
    recipients::check(app, tenant, &fresh).await?;
    if let Some(user) = &user {
        policy::apply(app, tenant, &mut fresh, user, true).await?;
    }
    if let Some(links) = policy::unsubscribing(
        app,
        tenant,
        base,
        std::slice::from_ref(&fresh),
        user.as_ref().map(|u| &u.defaults),
    )
    .await?
    {
        links.link(&mut fresh, now);
    }
    tracing::Span::current().record("notification_id", fresh.id.as_str());
    if draft {
        let settings = draft::settings(app, tenant, now).await?;
        draft::hold(std::slice::from_mut(&mut fresh), origin, &settings, now);
    }
    // A test key's notifications never count against the live quotas (a draft counts once
    // approved).
    if !origin.test && limits::counts(&fresh) {
        limits::take_quota(app, tenant, fresh.channel, 1, now).await?;
    }
    let notification = record::record_one(app, tenant, fresh, now).await?;
    record::enqueue_one(app, &notification, now).await;
    info!(
        notification_id = %notification.id,
        channel = %notification.channel,
        priority = %notification.priority,
        status = %notification.status,
        recipient = %notification.recipient.masked(),
        "notification accepted"
    );
    count_accepted(notification.channel, notification.priority, 1);
    Ok(notification)
}

/// Accepts a batch: the valid recipients, each reported by index when refused.
pub async fn batch(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    planned: Planned,
    base: Option<&str>,
    origin: &Origin,
) -> Result<BatchAccepted, ApiError> {
    let now = app.clock.now();
    let request = request::parse_batch(body, now, app.config.channel.url_policy, &planned)?;
    let template = render::resolve_batch(app, tenant, &request).await?;
    let mut rendered = render::batch(app, tenant, &request, &template, &planned, now);
    for n in &mut rendered.notifications {
        n.test = origin.test;
    }
    let settings = draft::settings(app, tenant, now).await?;
    if request.common.draft
        || settings
            .approval_above
            .is_some_and(|above| request.recipients.len() > above as usize)
    {
        draft::hold(&mut rendered.notifications, origin, &settings, now);
    }
    recipients::check_batch(app, tenant, &mut rendered).await?;
    let mut errors = rendered.errors;
    if rendered.notifications.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let Some(links) =
        policy::unsubscribing(app, tenant, base, &rendered.notifications, None).await?
    {
        for n in &mut rendered.notifications {
            links.link(n, now);
        }
    }
    let mut ids = rendered.ids;
    // A retried request counted its notifications the first time.
    if !planned.resumed && !origin.test {
        within_quota(
            app,
            tenant,
            &mut rendered.notifications,
            &mut ids,
            &mut errors,
            now,
        )
        .await?;
    }
    let recorded = record::record_many(app, tenant, &planned, rendered.notifications, now).await?;
    for (i, slot) in ids.iter_mut().enumerate() {
        if slot
            .as_ref()
            .is_some_and(|id| recorded.unwritten.contains(id))
        {
            *slot = None;
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "unavailable",
                "could not be recorded and was not accepted; send it again",
            ));
        }
    }
    let left = record::enqueue_batch(app, &recorded, app.clock.now()).await;

    let accepted = recorded.accepted();
    let rejected = request.recipients.len() - accepted;
    let sample = recorded.sample();
    let counts = BatchCounts {
        channel: request.channel,
        accepted: accepted as u64,
        rejected: rejected as u64,
        now,
        expires_at: sample.map_or(now, |n| n.expires_at),
    };
    if let Err(e) = app
        .batches
        .record_batch(tenant, &request.batch_id, &counts)
        .await
    {
        // The records carry the batch id: its summary still counts their statuses.
        warn!(error = %e, batch_id = %request.batch_id, "could not update the batch's counts");
    }
    info!(
        batch_id = %request.batch_id,
        channel = %request.channel,
        accepted,
        rejected,
        left_to_sweep = left,
        "batch accepted"
    );
    count_accepted(
        request.channel,
        request.common.priority,
        recorded.written.len(),
    );
    let errors_truncated = errors.len() > MAX_LISTED_ERRORS;
    errors.truncate(MAX_LISTED_ERRORS);
    Ok(BatchAccepted {
        status: sample.map(|n| n.status),
        template: sample.and_then(|n| n.template.clone()),
        batch_id: request.batch_id,
        channel: request.channel,
        priority: request.common.priority,
        accepted,
        rejected,
        ids,
        errors,
        errors_truncated,
    })
}

/// Takes the batch's notifications that count from today's quota: those beyond it are refused
/// by index (`quota_exceeded`); none fitting is `429 quota_exceeded`.
async fn within_quota(
    app: &App,
    tenant: &TenantId,
    notifications: &mut Vec<Notification>,
    ids: &mut [Option<NotificationId>],
    errors: &mut Vec<FieldError>,
    now: notify_shared::domain::time::Timestamp,
) -> Result<(), ApiError> {
    let Some(channel) = notifications.first().map(|n| n.channel) else {
        return Ok(());
    };
    let want = notifications.iter().filter(|n| limits::counts(n)).count();
    let fits = limits::take_quota(app, tenant, channel, want as u32, now).await? as usize;
    if fits == want {
        return Ok(());
    }
    let mut seen = 0;
    let mut over: std::collections::HashSet<NotificationId> = Default::default();
    notifications.retain(|n| {
        if !limits::counts(n) {
            return true;
        }
        seen += 1;
        if seen <= fits {
            return true;
        }
        over.insert(n.id.clone());
        false
    });
    for (i, slot) in ids.iter_mut().enumerate() {
        if slot.as_ref().is_some_and(|id| over.contains(id)) {
            *slot = None;
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "quota_exceeded",
                "over the tenant's daily quota for the channel; not accepted",
            ));
        }
    }
    Ok(())
}

fn count_accepted(channel: Channel, priority: Priority, count: usize) {
    Metrics::new()
        .dimension("Channel", channel.as_str())
        .dimension("Priority", priority.as_str())
        .count("Accepted", count)
        .emit();
}
