//! `POST /v1/notifications/batch`: one content (a template, or inline text rendered as one)
//! to up to 10,000 recipients, each with its own data; and `GET /v1/batches/{batchId}`.
//!
//! Invalid recipients are reported by index and the valid ones accepted. Records go to the
//! store in bulk (`BatchWriteItem`), then messages to the queues in bulk (`SendMessageBatch`):
//! a record the store could not write is reported as not accepted; a message the queue could
//! not take keeps its record's `enqueue` marker, so the sweep sends it. Either way, nothing
//! the answer calls accepted is lost.

use std::collections::HashSet;

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    dispatch,
    domain::{BatchId, Channel, Notification, NotificationId, Status, TenantId, schedule::DueKind},
    metrics::Metrics,
    store::{BatchRequest, StoreError},
    template::{Locale, TemplateName, TemplateSource},
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing::{error, info, warn};

use crate::{
    ApiError, App,
    content::{self, Paths},
    draft::{self, Common},
    idempotency::Planned,
    response,
    templates::{self, Resolved},
};

/// Recipients per request.
pub const MAX_RECIPIENTS: usize = 10_000;
/// Errors an answer lists (it counts them all).
const MAX_LISTED_ERRORS: usize = 1_000;

/// The inline fields of a channel in a batch: each is a template source.
const INLINE_PARTS: [(Channel, &[&str]); 3] = [
    (Channel::Email, &["subject", "html", "text"]),
    (Channel::Sms, &["message"]),
    (Channel::Push, &["title", "body"]),
];

fn parts_of(channel: Channel) -> &'static [&'static str] {
    INLINE_PARTS
        .iter()
        .find(|(c, _)| *c == channel)
        .map_or(&[][..], |(_, p)| *p)
}

/// The batch's content: a saved (or built-in) template, or its inline text compiled as one.
enum Spec {
    Saved {
        name: TemplateName,
        locale: Option<Locale>,
        subject: Option<String>,
    },
    Inline(Map<String, Value>),
}

struct Parsed<'a> {
    channel: Channel,
    common: Common,
    batch_id: BatchId,
    spec: Spec,
    options: content::Options,
    data: Map<String, Value>,
    recipients: &'a [Value],
}

fn parse<'a>(body: &'a Value, app: &App, planned: &Planned) -> Result<Parsed<'a>, ApiError> {
    let now = app.clock.now();
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let common = Common::read(&mut f, now);
    let batch_id = match f.optional_str("batchId").map(BatchId::parse) {
        // The first notification's id: a retried request (same Idempotency-Key) names the
        // same batch.
        None => BatchId::parse(planned.id.as_str()).ok(),
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            f.error("batchId", "pattern", e);
            None
        }
    };
    let data = content::object(&mut f, "data");
    let recipients = match f.optional_value("recipients") {
        None => {
            f.error("recipients", "required", "is required");
            None
        }
        Some(Value::Array(r)) if r.is_empty() => {
            f.error(
                "recipients",
                "min_items",
                "must list at least one recipient",
            );
            None
        }
        Some(Value::Array(r)) if r.len() > MAX_RECIPIENTS => {
            f.error(
                "recipients",
                "max_items",
                format!("must list at most {MAX_RECIPIENTS} recipients; send several requests with the same batchId"),
            );
            None
        }
        Some(Value::Array(r)) => Some(r.as_slice()),
        Some(_) => {
            f.error("recipients", "type", "must be an array");
            None
        }
    };
    let Some(channel) = channel else {
        f.skip_unread();
        f.finish().map_err(ApiError::Validation)?;
        return Err(ApiError::Validation(Vec::new()));
    };
    let options = content::options(&mut f, channel);
    let spec = if f.has("template") {
        let name = content::template_name(&mut f, "template");
        let locale = content::locale(&mut f, "locale");
        let subject = match channel {
            Channel::Email => {
                f.header_text("subject", notify_shared::validate::MAX_SUBJECT_CHARS, false)
            }
            _ => None,
        };
        for &part in parts_of(channel).iter().filter(|p| **p != "subject") {
            if f.has(part) {
                f.optional_value(part);
                f.error(
                    part,
                    "exclusive",
                    "give a template or inline content, not both",
                );
            }
        }
        name.map(|name| Spec::Saved {
            name,
            locale,
            subject,
        })
    } else {
        let mut part = Map::new();
        for &name in parts_of(channel) {
            if let Some(v) = f.optional_value(name) {
                part.insert(name.to_owned(), v.clone());
            }
        }
        if part.is_empty() {
            f.error(
                "template",
                "required",
                "a template, or the channel's inline content, is required",
            );
            None
        } else {
            Some(Spec::Inline(part))
        }
    };
    f.finish().map_err(ApiError::Validation)?;
    match (batch_id, spec, recipients) {
        (Some(batch_id), Some(spec), Some(recipients)) => Ok(Parsed {
            channel,
            common,
            batch_id,
            spec,
            options,
            data,
            recipients,
        }),
        _ => Err(ApiError::Validation(Vec::new())),
    }
}

/// Inline content compiled as a template of one locale; its errors name the request's fields.
fn compile_inline(channel: Channel, part: Map<String, Value>) -> Result<Resolved, ApiError> {
    let definition = json!({ "locales": { "en": { channel.as_str(): part } } });
    let prefix = format!("locales.en.{channel}");
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
                            .unwrap_or_else(|| parts_of(channel)[0].to_owned());
                        e
                    })
                    .collect(),
            )
        })
}

/// One recipient's entry: its target, data and locale, rendered.
fn prepare(
    app: &App,
    tenant: &TenantId,
    parsed: &Parsed<'_>,
    template: &Resolved,
    index: usize,
    entry: &Value,
    id: NotificationId,
) -> Result<Notification, Vec<FieldError>> {
    let prefix = format!("recipients[{index}]");
    let mut f = Fields::of(entry, &prefix).map_err(|e| vec![e])?;
    let recipient = draft::recipient(&mut f, parsed.channel);
    let own = content::object(&mut f, "data");
    let locale = content::locale(&mut f, "locale");
    f.finish()?;
    let recipient = recipient.ok_or_else(Vec::new)?;
    let (batch_locale, subject) = match &parsed.spec {
        Spec::Saved {
            locale, subject, ..
        } => (locale.as_ref(), subject.as_deref()),
        Spec::Inline(_) => (None, None),
    };
    let rendered = content::render(
        template,
        parsed.channel,
        locale.as_ref().or(batch_locale),
        &content::merged(&parsed.data, own),
        subject,
        app.config.sms_max_chars,
        &Paths::recipient(index),
    )?;
    let content = content::assemble(
        rendered.texts,
        &parsed.options,
        &format!("{prefix}.rendered"),
    )
    .map_err(|e| vec![e])?;
    let draft = parsed.common.draft(
        parsed.channel,
        recipient,
        content,
        rendered.reference,
        Some(parsed.batch_id.clone()),
    );
    Ok(Notification::accept(
        id,
        draft,
        tenant.clone(),
        app.clock.now(),
        app.config.store.retention,
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    batch_id: &'a BatchId,
    channel: Channel,
    priority: notify_shared::domain::Priority,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a notify_shared::domain::TemplateRef>,
    accepted: usize,
    rejected: usize,
    /// One per recipient, in order: the notification's id, or null when it was refused.
    ids: Vec<Option<&'a NotificationId>>,
    errors: &'a [FieldError],
    /// True when there were more errors than the answer lists.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    errors_truncated: bool,
}

pub async fn create(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    planned: Planned,
) -> Result<Response<Body>, ApiError> {
    let parsed = parse(body, app, &planned)?;
    let template = match &parsed.spec {
        Spec::Saved { name, .. } => {
            templates::resolve_for_send(app, tenant, name, "template").await?
        }
        Spec::Inline(part) => compile_inline(parsed.channel, part.clone())?,
    };

    let mut errors: Vec<FieldError> = Vec::new();
    let mut slots: Vec<Option<NotificationId>> = vec![None; parsed.recipients.len()];
    let mut fresh: Vec<Notification> = Vec::with_capacity(parsed.recipients.len());
    for (i, entry) in parsed.recipients.iter().enumerate() {
        // `i` < 10,000: the cast is exact.
        let id = planned.id.nth(i as u32);
        match prepare(app, tenant, &parsed, &template, i, entry, id) {
            Ok(n) => {
                slots[i] = Some(n.id.clone());
                fresh.push(n);
            }
            Err(mut e) => {
                if e.is_empty() {
                    e.push(FieldError::new(
                        format!("recipients[{i}]"),
                        "invalid",
                        "is not valid",
                    ));
                }
                errors.extend(e);
            }
        }
    }
    if fresh.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    // A retry of a request that died half-way (same Idempotency-Key): what it wrote stays as
    // it is (a worker may be sending it); its messages are the sweep's to re-send.
    let already: HashSet<NotificationId> = if planned.resumed {
        let ids: Vec<NotificationId> = fresh.iter().map(|n| n.id.clone()).collect();
        app.store.existing(&ids).await.map_err(|e| {
            error!(error = %e, "could not read which records of the batch exist");
            ApiError::Unavailable("the notification store is unavailable; retry the request".into())
        })?
    } else {
        HashSet::new()
    };
    let (done, to_write): (Vec<Notification>, Vec<Notification>) =
        fresh.into_iter().partition(|n| already.contains(&n.id));

    let unwritten: HashSet<NotificationId> =
        app.store.insert_many(&to_write).await.into_iter().collect();
    let now = app.clock.now();
    let written: Vec<Notification> = to_write
        .into_iter()
        .filter(|n| !unwritten.contains(&n.id))
        .collect();
    for (i, slot) in slots.iter_mut().enumerate() {
        if slot.as_ref().is_some_and(|id| unwritten.contains(id)) {
            *slot = None;
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "unavailable",
                "could not be recorded and was not accepted; send it again",
            ));
        }
    }
    let accepted = written.len() + done.len();
    if accepted == 0 {
        error!(
            count = unwritten.len(),
            "no record of the batch could be written"
        );
        return Err(ApiError::Unavailable(
            "the notification store is unavailable; nothing was accepted; retry the request".into(),
        ));
    }

    let to_queue: Vec<Notification> = written
        .iter()
        .filter(|n| n.due.is_some_and(|d| d.kind == DueKind::Enqueue))
        .cloned()
        .collect();
    let left = dispatch::enqueue_many(
        app.store.as_ref(),
        app.queue.as_ref(),
        &to_queue,
        now,
        app.config.store.lifetime,
    )
    .await;

    let sample = written.first().or(done.first());
    let expires_at = sample.map_or(now, |n| n.expires_at);
    let rejected = parsed.recipients.len() - accepted;
    if let Err(e) = app
        .batches
        .record_batch(
            tenant,
            &parsed.batch_id,
            &BatchRequest {
                channel: parsed.channel,
                accepted: accepted as u64,
                rejected: rejected as u64,
                now,
                expires_at,
            },
        )
        .await
    {
        // The records carry the batch id: its summary still counts their statuses.
        warn!(error = %e, batch_id = %parsed.batch_id, "could not update the batch's counts");
    }
    info!(
        batch_id = %parsed.batch_id,
        channel = %parsed.channel,
        accepted,
        rejected,
        left_to_sweep = left,
        "batch accepted"
    );
    Metrics::new()
        .dimension("Channel", parsed.channel.as_str())
        .dimension("Priority", parsed.common.priority.as_str())
        .count("Accepted", written.len())
        .emit();

    let truncated = errors.len() > MAX_LISTED_ERRORS;
    errors.truncate(MAX_LISTED_ERRORS);
    let answer = Answer {
        batch_id: &parsed.batch_id,
        channel: parsed.channel,
        priority: parsed.common.priority,
        status: sample.map(|n| n.status),
        template: sample.and_then(|n| n.template.as_ref()),
        accepted,
        rejected,
        ids: slots.iter().map(Option::as_ref).collect(),
        errors: &errors,
        errors_truncated: truncated,
    };
    let mut resp = response::json(StatusCode::ACCEPTED, &answer);
    if let Ok(location) = format!("/v1/batches/{}", parsed.batch_id).parse() {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
}

/// `GET /v1/batches/{batchId}`: how many notifications of the batch are in each status.
pub async fn get(app: &App, tenant: &TenantId, raw: &str) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no batch {raw}"));
    let batch = BatchId::parse(raw).map_err(|_| not_found())?;
    let summary = app
        .batches
        .batch(tenant, &batch, app.clock.now())
        .await
        .map_err(|e: StoreError| {
            error!(error = %e, "the batch summary could not be read");
            ApiError::Unavailable("the notification store is unavailable; retry the request".into())
        })?
        .ok_or_else(not_found)?;
    let pending: u64 = summary
        .statuses
        .iter()
        .filter(|(s, _)| !s.is_settled())
        .map(|(_, n)| n)
        .sum();
    let mut body = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
    body["pending"] = json!(pending);
    body["complete"] = json!(pending == 0);
    Ok(response::json(StatusCode::OK, &body))
}
