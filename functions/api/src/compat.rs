//! The Event Planner API: the REST contract of the Event Planner notification service (its
//! "API REFERENCE"),
//! served as documented so its clients switch over unchanged:
//!
//! - `POST /api/notifications/email`, `POST /api/notifications/sms`,
//!   `POST /api/notifications/email/bulk`, `GET /api/notifications/{id}/status`;
//! - request fields as there (`options.priority` high/medium/low, `options.fromName`,
//!   `options.batchId`, `options.scheduledAt`; bulk recipients `{email, name, ...}`);
//! - answers in its envelope: `{"success": true, "message", "data": {...}}`, and
//!   `{"success": false, "message", "error": {"code", "details"}}` with the same 4xx/5xx the
//!   canonical route gives.
//!
//! Each route rewrites its body into the canonical one, runs the accept service on it (the
//! same steps as the canonical routes), and shapes the answer: one implementation, two
//! contracts.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{HistoryEntry, Notification, Status, TenantId},
    validate::FieldError,
};
use serde_json::{Map, Value, json};

use notify_shared::template::TemplateName;

use crate::{
    ApiError, App, accept, callers::Origin, catalog, idempotency::Planned, notifications, response,
};

/// The Event Planner API's priorities onto ours (`normal` is accepted too); anything else is passed on
/// for the canonical check to refuse.
fn priority(raw: &Value) -> Value {
    match raw.as_str() {
        Some("medium") => json!("normal"),
        _ => raw.clone(),
    }
}

/// `options` keys, each a canonical field of the same name.
const OPTIONS: &[&str] = &[
    "priority",
    "fromName",
    "scheduledAt",
    "batchId",
    "replyTo",
    "category",
    "locale",
    "metadata",
];

/// The top-level fields of each Event Planner request (the rest goes under `options`).
const EMAIL_FIELDS: &[&str] = &[
    "to", "subject", "template", "data", "text", "html", "options",
];
const SMS_FIELDS: &[&str] = &["to", "message", "template", "data", "options"];
const BULK_FIELDS: &[&str] = &[
    "recipients",
    "template",
    "data",
    "subject",
    "html",
    "text",
    "options",
];

/// The canonical body of an Event Planner request: its fields as they are, `options` flattened
/// into them, and `channel` set. A top-level field the route does not have (a canonical one
/// such as `priority`, which goes under `options` here) is refused as unknown. Returns the
/// body, and which canonical fields came from `options` (to name them back in errors). An
/// option the route does not know is passed on as `options.<key>`, which the canonical check
/// reports as an unknown field by that name.
fn canonical(
    body: &Value,
    channel: &str,
    (top, allowed): (&[&str], &[&str]),
    now: notify_shared::domain::time::Timestamp,
) -> Result<(Map<String, Value>, Vec<String>), ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "type",
            "must be a JSON object",
        )]));
    };
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|k| !top.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown_field", "is not a known field"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    let mut out = fields.clone();
    out.remove("options");
    out.insert("channel".into(), json!(channel));
    let mut from_options = Vec::new();
    match fields.get("options") {
        None => {}
        Some(Value::Object(options)) => {
            for (key, value) in options {
                if !(OPTIONS.contains(&key.as_str()) && allowed.contains(&key.as_str())) {
                    out.insert(format!("options.{key}"), value.clone());
                    continue;
                }
                let value = match key.as_str() {
                    "priority" => priority(value),
                    // The Event Planner service's queue ran a job whose time had passed at once; so do we.
                    "scheduledAt" => match value
                        .as_str()
                        .and_then(|v| v.parse::<notify_shared::domain::time::Timestamp>().ok())
                    {
                        Some(at) if at <= now => continue,
                        _ => value.clone(),
                    },
                    _ => value.clone(),
                };
                out.insert(key.clone(), value);
                from_options.push(key.clone());
            }
        }
        Some(other) => {
            out.insert("options".into(), other.clone());
        }
    }
    Ok((out, from_options))
}

/// Names canonical fields as the Event Planner request named them.
fn renamed(
    e: ApiError,
    from_options: &[String],
    rename: impl Fn(&str) -> Option<String>,
) -> ApiError {
    match e {
        ApiError::Validation(details) => ApiError::Validation(
            details
                .into_iter()
                .map(|mut d| {
                    let head = d
                        .field
                        .split(['.', '['])
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(new) = rename(&d.field) {
                        d.field = new;
                    } else if from_options.contains(&head) {
                        d.field = format!("options.{}", d.field);
                        if head == "priority" && d.rule == "one_of" {
                            d.message = "must be one of: high, medium, low".into();
                        }
                    } else if d.field == "options" {
                        d = FieldError::new("options", "type", "must be a JSON object");
                    }
                    d
                })
                .collect(),
        ),
        other => other,
    }
}

fn envelope(status: StatusCode, message: &str, data: Value) -> Response<Body> {
    response::json(
        status,
        &json!({ "success": true, "message": message, "data": data }),
    )
}

/// The Event Planner API's `data` of an accepted notification: its id, the queue it waits in, and when it
/// should go out (its schedule, or now).
fn accepted_data(n: &Notification) -> Value {
    json!({
        "notificationId": n.id,
        "queueId": format!("{}-{}", n.channel, n.priority),
        "status": n.status,
        "estimatedDelivery": n.scheduled_at.unwrap_or(n.created_at),
    })
}

/// `POST /api/notifications/email` and `POST /api/notifications/sms`.
pub async fn send(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    channel: &'static str,
    planned: Planned,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Response<Body>, ApiError> {
    let allowed = [
        "priority",
        "fromName",
        "scheduledAt",
        "replyTo",
        "category",
        "locale",
        "metadata",
    ];
    let top = if channel == "sms" {
        SMS_FIELDS
    } else {
        EMAIL_FIELDS
    };
    let (mut fields, from_options) = canonical(body, channel, (top, &allowed), app.clock.now())?;
    // The Event Planner API's SMS examples give both a message and a template: the template renders the
    // SMS when there is one of that name; otherwise the message is sent as it is.
    if channel == "sms" && fields.contains_key("template") && fields.contains_key("message") {
        let known = match fields
            .get("template")
            .and_then(Value::as_str)
            .map(TemplateName::parse)
        {
            Some(Ok(name)) => catalog::resolve_for_send(&app.catalog, tenant, &name, "template")
                .await
                .is_ok(),
            _ => true,
        };
        if known {
            fields.remove("message");
        } else {
            for field in ["template", "data", "locale"] {
                fields.remove(field);
            }
        }
    }
    let accepted = accept::one(
        app,
        tenant,
        &Value::Object(fields),
        planned.id,
        base,
        origin,
    )
    .await
    .map_err(|e| renamed(e, &from_options, |_| None))?;
    let message = if channel == "email" {
        "Email mis en file d'attente"
    } else {
        "SMS mis en file d'attente"
    };
    Ok(envelope(
        StatusCode::ACCEPTED,
        message,
        accepted_data(&accepted),
    ))
}

/// `POST /api/notifications/email/bulk`: `recipients: [{email, name, ...}]`; every field of
/// a recipient but `email` is its template data.
pub async fn bulk_email(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    planned: Planned,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Response<Body>, ApiError> {
    let (mut fields, from_options) =
        canonical(body, "email", (BULK_FIELDS, OPTIONS), app.clock.now())?;
    let emails: Vec<Value> = match fields.get("recipients") {
        Some(Value::Array(list)) => {
            let mut emails = Vec::with_capacity(list.len());
            let recipients: Vec<Value> = list
                .iter()
                .map(|r| match r {
                    Value::Object(entry) => {
                        let mut data = match entry.get("data") {
                            Some(Value::Object(d)) => d.clone(),
                            _ => Map::new(),
                        };
                        let mut out = Map::new();
                        for (k, v) in entry {
                            match k.as_str() {
                                "email" => {
                                    out.insert("to".into(), v.clone());
                                }
                                "data" if v.is_object() => {}
                                "locale" => {
                                    out.insert("locale".into(), v.clone());
                                }
                                _ => {
                                    data.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        emails.push(entry.get("email").cloned().unwrap_or(Value::Null));
                        out.insert("data".into(), Value::Object(data));
                        Value::Object(out)
                    }
                    other => {
                        emails.push(Value::Null);
                        other.clone()
                    }
                })
                .collect();
            fields.insert("recipients".into(), Value::Array(recipients));
            emails
        }
        _ => Vec::new(),
    };
    let rename = |field: &str| {
        // recipients[3].to -> recipients[3].email
        let (head, rest) = field.split_once("].")?;
        (head.starts_with("recipients[") && (rest == "to" || rest.starts_with("to.")))
            .then(|| format!("{head}].email{}", &rest[2..]))
    };
    let a = accept::batch(app, tenant, &Value::Object(fields), planned, base, origin)
        .await
        .map_err(|e| renamed(e, &from_options, rename))?;
    let notifications: Vec<Value> = a
        .ids
        .iter()
        .zip(&emails)
        .filter_map(|(id, email)| {
            id.as_ref()
                .map(|id| json!({ "email": email, "notificationId": id }))
        })
        .collect();
    let errors: Vec<Value> = a
        .errors
        .iter()
        .map(|e| {
            let mut e = json!(e);
            if let Some(new) = e["field"].as_str().and_then(rename) {
                e["field"] = json!(new);
            }
            e
        })
        .collect();
    let total = emails.len();
    Ok(envelope(
        StatusCode::ACCEPTED,
        "Emails mis en file d'attente",
        json!({
            "batchId": a.batch_id,
            "total": total,
            "queued": a.accepted,
            "failed": a.rejected,
            "status": a.status,
            "notifications": notifications,
            "errors": errors,
        }),
    ))
}

fn at_status(history: &[HistoryEntry], status: Status) -> Option<String> {
    history
        .iter()
        .rev()
        .find(|h| h.status == status)
        .map(|h| h.at.to_string())
}

/// `GET /api/notifications/{id}/status`.
pub async fn status(
    app: &App,
    tenant: &TenantId,
    raw_id: &str,
    test: bool,
) -> Result<Response<Body>, ApiError> {
    let n = notifications::find(app, tenant, raw_id, test).await?;
    Ok(envelope(
        StatusCode::OK,
        "Statut de la notification",
        json!({
            "notificationId": n.id,
            "status": n.status,
            "channel": n.channel,
            "createdAt": n.created_at,
            "sentAt": at_status(&n.history, Status::Sent),
            "deliveredAt": at_status(&n.history, Status::Delivered),
            "provider": n.provider,
            "providerMessageId": n.provider_message_id,
            "attempts": n.attempts,
            "error": n.error,
        }),
    ))
}

/// Every answer of an Event Planner route that is not a success, in its envelope (the status
/// code and headers stay).
pub fn error_envelope(mut resp: Response<Body>) -> Response<Body> {
    let canonical: Value = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    let mut body = json!({
        "success": false,
        "message": canonical["message"],
        "error": {
            "code": canonical["code"],
            "details": canonical.get("details").cloned().unwrap_or(Value::Null),
        },
    });
    if let Some(scope) = canonical.get("missingScope") {
        body["error"]["missingScope"] = scope.clone();
    }
    *resp.body_mut() = Body::Text(body.to_string());
    resp
}
