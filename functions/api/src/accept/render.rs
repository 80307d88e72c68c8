//! The accept service's *resolve* and *render* steps: the template a request names (or a
//! batch's inline content compiled as one), rendered per recipient and checked as inline
//! content is, into the notification to record.

use notify_shared::{
    domain::{Channel, Draft, Notification, NotificationId, TenantId, time::Timestamp},
    template::TemplateSource,
    validate::FieldError,
};
use serde_json::{Map, Value, json};

use super::request::{self, BatchContent, BatchRequest, NotificationRequest};
use crate::{
    ApiError, App,
    catalog::{self, Resolved},
    channel,
    content::{self, Paths, Source},
    idempotency::Planned,
};

/// A single request's notification: its inline content as given, or its template rendered
/// with its data.
pub async fn one(
    app: &App,
    tenant: &TenantId,
    r: NotificationRequest,
    id: NotificationId,
    now: Timestamp,
) -> Result<Notification, ApiError> {
    let (texts, reference, prefix) = match r.content.source {
        Source::Inline(texts) => (texts, None, ""),
        Source::Template {
            name,
            locale,
            data,
            subject,
        } => {
            let template =
                catalog::resolve_for_send(&app.catalog, tenant, &name, "template").await?;
            let rendered = content::render(
                &template,
                r.channel,
                locale.as_ref(),
                &Value::Object(data),
                subject.as_deref(),
                &app.config.channel,
                &Paths::top(),
            )
            .map_err(ApiError::Validation)?;
            (rendered.texts, rendered.reference, "rendered")
        }
    };
    let content = channel::assemble(texts, &r.content.options, prefix)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let draft = r.common.draft(
        r.channel,
        r.recipient,
        content,
        reference,
        None,
        r.reference,
    );
    Ok(accepted(app, tenant, draft, id, now))
}

/// The batch's template: the one it names, or its inline content compiled as one.
pub async fn resolve_batch(
    app: &App,
    tenant: &TenantId,
    r: &BatchRequest<'_>,
) -> Result<Resolved, ApiError> {
    match &r.content {
        BatchContent::Saved { name, .. } => {
            catalog::resolve_for_send(&app.catalog, tenant, name, "template").await
        }
        BatchContent::Inline(part) => compile_inline(r.channel, part.clone()),
    }
}

/// Inline content compiled as a template of one locale; its errors name the request's fields.
fn compile_inline(channel: Channel, part: Map<String, Value>) -> Result<Resolved, ApiError> {
    let definition =
        json!({ "locales": { "en": { channel.as_str(): channel::template_part(channel, part) } } });
    let prefix = format!("locales.en.{channel}");
    let first = channel::inline_fields(channel)[0];
    TemplateSource::parse(&definition)
        .map(|(_, compiled)| Resolved::inline(compiled))
        .map_err(|errors| {
            ApiError::Validation(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.field = e
                            .field
                            .strip_prefix(&prefix)
                            .map(|rest| rest.trim_start_matches('.').to_owned())
                            .filter(|rest| !rest.is_empty())
                            .unwrap_or_else(|| first.to_owned());
                        e
                    })
                    .collect(),
            )
        })
}

/// A batch rendered: the notifications of the valid recipients, the errors of the others,
/// and the id of each recipient's notification in request order (`None` when refused).
pub struct RenderedBatch {
    pub notifications: Vec<Notification>,
    pub ids: Vec<Option<NotificationId>>,
    pub errors: Vec<FieldError>,
}

pub fn batch(
    app: &App,
    tenant: &TenantId,
    r: &BatchRequest<'_>,
    template: &Resolved,
    planned: &Planned,
    now: Timestamp,
) -> RenderedBatch {
    let mut out = RenderedBatch {
        notifications: Vec::with_capacity(r.recipients.len()),
        ids: vec![None; r.recipients.len()],
        errors: Vec::new(),
    };
    for (i, entry) in r.recipients.iter().enumerate() {
        // `i` < 10,000: the cast is exact.
        let id = planned.id.nth(i as u32);
        match recipient(app, tenant, r, template, i, entry, id, now) {
            Ok(n) => {
                out.ids[i] = Some(n.id.clone());
                out.notifications.push(n);
            }
            Err(mut e) => {
                if e.is_empty() {
                    e.push(FieldError::new(
                        format!("recipients[{i}]"),
                        "invalid",
                        "is not valid",
                    ));
                }
                out.errors.extend(e);
            }
        }
    }
    out
}

/// One recipient's notification: its target, data and locale, rendered.
#[allow(clippy::too_many_arguments)]
fn recipient(
    app: &App,
    tenant: &TenantId,
    r: &BatchRequest<'_>,
    template: &Resolved,
    index: usize,
    entry: &Value,
    id: NotificationId,
    now: Timestamp,
) -> Result<Notification, Vec<FieldError>> {
    let own = request::parse_recipient(r.channel, &app.config.channel, index, entry)?;
    let (batch_locale, subject) = match &r.content {
        BatchContent::Saved {
            locale, subject, ..
        } => (locale.as_ref(), subject.as_deref()),
        BatchContent::Inline(_) => (None, None),
    };
    let rendered = content::render(
        template,
        r.channel,
        own.locale.as_ref().or(batch_locale),
        &content::merged(&r.data, own.data),
        subject,
        &app.config.channel,
        &Paths::recipient(index),
    )?;
    let content = channel::assemble(
        rendered.texts,
        &r.options,
        &format!("recipients[{index}].rendered"),
    )
    .map_err(|e| vec![e])?;
    let draft = r.common.draft(
        r.channel,
        own.recipient,
        content,
        rendered.reference,
        Some(r.batch_id.clone()),
        own.reference,
    );
    Ok(accepted(app, tenant, draft, id, now))
}

/// The notification a draft becomes, kept for the configured retention.
fn accepted(
    app: &App,
    tenant: &TenantId,
    draft: Draft,
    id: NotificationId,
    now: Timestamp,
) -> Notification {
    Notification::accept(id, draft, tenant.clone(), now, app.config.store.retention)
}
