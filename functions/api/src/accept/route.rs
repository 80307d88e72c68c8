//! Routing across channels (`POST /v1/notifications` with `userId` and `routing` instead of
//! `channel`): each step becomes the request of one channel, checked and decided on exactly
//! as a single send is; the steps the user cannot be reached on (no address, no device,
//! opted out) are skipped with their reason; the others become the route's children, started
//! as [`route::plan`] says. The children are written first, then the route, then the
//! messages of the children that start now.

use notify_shared::{
    domain::{
        Channel, HistoryEntry, Notification, NotificationId, Status, TenantId, UserId, preferences,
        route::{self, MAX_AFTER, MAX_STEPS, Route, RouteMethod, RouteStep, Start},
        schedule,
        time::Timestamp,
    },
    store::StoreError,
    validate::FieldError,
};
use serde_json::{Map, Value, json};
use tracing::{error, info};

use super::{policy, recipients, record, render, request};
use crate::{ApiError, App, callers::Origin, limits};

/// The fields of a routed request that every step shares (the rest are per channel).
const SHARED: &[&str] = &[
    "priority",
    "category",
    "metadata",
    "scheduledAt",
    "callbackUrl",
    "reference",
    "template",
    "data",
    "locale",
];

fn invalid(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, rule, message)
}

/// A step as the request gives it.
struct Asked {
    channel: Channel,
    after: Option<u64>,
    unless_read: bool,
}

fn parse_steps(routing: &Value, errors: &mut Vec<FieldError>) -> Option<(RouteMethod, Vec<Asked>)> {
    let Value::Object(r) = routing else {
        errors.push(invalid(
            "routing",
            "type",
            "must be an object {method, channels}",
        ));
        return None;
    };
    for k in r
        .keys()
        .filter(|k| !matches!(k.as_str(), "method" | "channels"))
    {
        errors.push(invalid(
            format!("routing.{k}"),
            "unknown_field",
            "is not a field of routing",
        ));
    }
    let method = match r
        .get("method")
        .and_then(Value::as_str)
        .map(str::parse::<RouteMethod>)
    {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            errors.push(invalid("routing.method", "enum", e.to_string()));
            None
        }
        None => {
            errors.push(invalid(
                "routing.method",
                "required",
                "is required: all or first",
            ));
            None
        }
    };
    let list = match r.get("channels") {
        Some(Value::Array(l)) if !l.is_empty() && l.len() <= MAX_STEPS => l,
        Some(Value::Array(_)) => {
            errors.push(invalid(
                "routing.channels",
                "items",
                format!("must list 1 to {MAX_STEPS} steps"),
            ));
            return None;
        }
        _ => {
            errors.push(invalid(
                "routing.channels",
                "required",
                "is required: the channels to try, like [\"push\", \"sms\", \"email\"]",
            ));
            return None;
        }
    };
    let mut steps = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let field = format!("routing.channels[{i}]");
        let (channel, after, unless) = match entry {
            Value::String(c) => (Some(c.as_str()), None, None),
            Value::Object(o) => {
                for k in o
                    .keys()
                    .filter(|k| !matches!(k.as_str(), "channel" | "after" | "unless"))
                {
                    errors.push(invalid(
                        format!("{field}.{k}"),
                        "unknown_field",
                        "is not a field of a step",
                    ));
                }
                (
                    o.get("channel").and_then(Value::as_str),
                    o.get("after"),
                    o.get("unless"),
                )
            }
            _ => (None, None, None),
        };
        let channel = match channel.map(str::parse::<Channel>) {
            Some(Ok(c)) if !routable(c) => {
                errors.push(invalid(
                    &field,
                    "channel",
                    format!("{c} is not a channel of a user: {}", routable_names()),
                ));
                None
            }
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(invalid(&field, "enum", e.to_string()));
                None
            }
            None => {
                errors.push(invalid(
                    &field,
                    "type",
                    "must be a channel or {channel, after?, unless?}",
                ));
                None
            }
        };
        let after = match after {
            None => None,
            Some(Value::String(raw)) => match route::parse_duration(raw) {
                Ok(d) if d <= MAX_AFTER && i > 0 => Some(d.as_secs()),
                Ok(_) if i == 0 => {
                    errors.push(invalid(
                        format!("{field}.after"),
                        "first_step",
                        "the first step starts at once",
                    ));
                    None
                }
                Ok(_) => {
                    errors.push(invalid(
                        format!("{field}.after"),
                        "max",
                        "must be at most P1D",
                    ));
                    None
                }
                Err(e) => {
                    errors.push(invalid(format!("{field}.after"), "duration", e));
                    None
                }
            },
            Some(_) => {
                errors.push(invalid(
                    format!("{field}.after"),
                    "type",
                    "must be an ISO 8601 duration like PT5M",
                ));
                None
            }
        };
        let unless_read = match unless {
            None => false,
            Some(Value::String(s)) if s == "read" => true,
            Some(_) => {
                errors.push(invalid(format!("{field}.unless"), "enum", "must be read"));
                false
            }
        };
        if unless_read && after.is_none() {
            errors.push(invalid(
                format!("{field}.unless"),
                "needs_after",
                "unless: read waits for the earlier step to be read, so it needs after",
            ));
        }
        if let Some(channel) = channel {
            steps.push(Asked {
                channel,
                after,
                unless_read,
            });
        }
    }
    Some((method?, steps))
}

/// The body of step `channel`'s own request: the shared fields, and its content (the
/// template, or `content.<channel>`).
fn step_body(body: &Map<String, Value>, user: &str, channel: Channel) -> Value {
    let mut child = Map::new();
    child.insert("channel".into(), json!(channel));
    child.insert("userId".into(), json!(user));
    for k in SHARED {
        if let Some(v) = body.get(*k) {
            child.insert((*k).into(), v.clone());
        }
    }
    if let Some(Value::Object(fields)) = body.get("content").and_then(|c| c.get(channel.as_str())) {
        for (k, v) in fields {
            child.insert(k.clone(), v.clone());
        }
    }
    Value::Object(child)
}

/// An error of a step's own request, named as the routed request names it: a field every
/// step shares as it is, one of the channel's content under `content.<channel>`.
fn rename(mut e: FieldError, channel: Channel) -> FieldError {
    let top = e.field.split(['.', '[']).next().unwrap_or_default();
    // `body` too is a channel's own (push's, in-app's).
    let shared = SHARED.contains(&top) || matches!(top, "userId" | "channel");
    if !shared {
        e.field = format!("content.{channel}.{}", e.field);
    }
    e
}

/// Whether a route may have a step on `channel`: the channels that reach a user.
fn routable(channel: Channel) -> bool {
    match channel {
        Channel::Email | Channel::Sms | Channel::Push | Channel::InApp => true,
        Channel::Webhook | Channel::Chat => false,
    }
}

/// `email, sms, push or in_app`.
fn routable_names() -> String {
    let names: Vec<&str> = Channel::ALL
        .into_iter()
        .filter(|c| routable(*c))
        .map(Channel::as_str)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(", "),
    }
}

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the store is unavailable");
    ApiError::Unavailable(
        "the notification store is unavailable; nothing was accepted; retry".into(),
    )
}

/// Accepts a routed send; `id` is the route's.
pub async fn accept(
    app: &App,
    tenant: &TenantId,
    body: &Value,
    id: NotificationId,
    base: Option<&str>,
    origin: &Origin,
) -> Result<Route, ApiError> {
    let now = app.clock.now();
    let Value::Object(fields) = body else {
        return Err(ApiError::Validation(vec![invalid(
            "body",
            "type",
            "must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for k in ["channel", "to", "token"] {
        if fields.contains_key(k) {
            errors.push(invalid(
                k,
                "exclusive",
                "a routed send names userId and routing, not a channel or address",
            ));
        }
    }
    let user = match fields
        .get("userId")
        .and_then(Value::as_str)
        .map(UserId::parse)
    {
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => {
            errors.push(invalid("userId", "pattern", e));
            None
        }
        None => {
            errors.push(invalid(
                "userId",
                "required",
                "a routed send goes to a user",
            ));
            None
        }
    };
    let parsed = parse_steps(&fields["routing"], &mut errors);
    match fields.get("content") {
        None => {}
        Some(Value::Object(c)) => {
            for k in c.keys().filter(|k| {
                !Channel::ALL
                    .into_iter()
                    .any(|ch| routable(ch) && ch.as_str() == k.as_str())
            }) {
                errors.push(invalid(
                    format!("content.{k}"),
                    "enum",
                    format!("is not a channel of a route: {}", routable_names()),
                ));
            }
        }
        Some(_) => {
            errors.push(invalid(
                "content",
                "type",
                "must be an object of each channel's content",
            ));
        }
    };
    for k in fields.keys() {
        if !SHARED.contains(&k.as_str())
            && !matches!(
                k.as_str(),
                "userId" | "routing" | "content" | "channel" | "to" | "token"
            )
        {
            errors.push(invalid(
                k.clone(),
                "unknown_field",
                "is not a field of a routed send",
            ));
        }
    }
    let (Some(user), Some((method, asked))) = (user, parsed) else {
        return Err(ApiError::Validation(errors));
    };

    // Each step's request, checked as a single send; a user it cannot reach is a skip. The
    // user, the tenant's defaults and the devices are read once for every step.
    let known = policy::read(app, tenant, &user).await?;
    let mut devices = None;
    let mut requests = Vec::new();
    let mut steps: Vec<RouteStep> = Vec::new();
    for (i, a) in asked.iter().enumerate() {
        let mut step = RouteStep {
            channel: a.channel,
            after_seconds: a.after,
            unless_read: a.unless_read,
            notification_id: None,
            skipped: None,
        };
        let child = step_body(fields, user.as_str(), a.channel);
        let parsed = request::parse_request(&child, app.config.draft_limits(now));
        let mut r = match parsed {
            Ok(r) => r,
            Err(ApiError::Validation(e)) => {
                for e in e.into_iter().map(|e| rename(e, a.channel)) {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
                steps.push(step);
                continue;
            }
            Err(other) => return Err(other),
        };
        match policy::decide(&known, &mut r, now) {
            Ok(ctx) => {
                if a.channel == Channel::Push && devices.is_none() {
                    let live = app.devices.devices(tenant, &user, now).await;
                    devices = Some(!live.map_err(unavailable)?.is_empty());
                }
                if let Some(declined) = &ctx.declined {
                    step.skipped = Some(format!("preference: {}", declined.0));
                } else if a.channel == Channel::Push && devices == Some(false) {
                    step.skipped = Some("no_device: the user has no registered device".into());
                } else {
                    step.notification_id = Some(id.nth(i as u32 + 1));
                    requests.push((i, r, ctx));
                }
            }
            Err(ApiError::Validation(e)) if e.iter().all(|e| e.field == "userId") => {
                step.skipped = e.first().map(|e| format!("{}: {}", e.rule, e.message));
            }
            Err(other) => return Err(other),
        }
        steps.push(step);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let plan = route::plan(method, &steps, &id, now);
    let mut children: Vec<Notification> = Vec::new();
    let mut first = true;
    let mut capped: Option<String> = None;
    // The channels the route sends on now or at a set time count against the daily quotas;
    // a step held for a failure does not.
    let mut counted: Vec<Channel> = Vec::new();
    for (i, mut r, ctx) in requests {
        let Some((start, link)) = plan[i].clone() else {
            continue;
        };
        if let Start::At(at) = start {
            r.common.scheduled_at = Some(r.common.scheduled_at.map_or(at, |s| s.max(at)));
        }
        let child_id = id.nth(i as u32 + 1);
        let mut n = render::one(app, tenant, r, child_id, now)
            .await
            .map_err(|e| match e {
                ApiError::Validation(e) => ApiError::Validation(
                    e.into_iter().map(|e| rename(e, steps[i].channel)).collect(),
                ),
                other => other,
            })?;
        recipients::check(app, tenant, &n).await?;
        // The route counts once against a frequency cap, on its first step; over the cap,
        // every step is.
        policy::apply(app, tenant, &mut n, &ctx, first).await?;
        first = false;
        if let Some(why) = &capped {
            n.refuse(Status::Suppressed, preferences::FREQUENCY_CAP, why.clone());
        } else if n
            .error
            .as_ref()
            .is_some_and(|e| e.code == preferences::FREQUENCY_CAP)
        {
            capped = n.error.as_ref().map(|e| e.message.clone());
        }
        if start == Start::Held && n.status != Status::Suppressed {
            hold(&mut n, link.step, app.config.store.lifetime, now);
        } else if limits::counts(&n) {
            counted.push(n.channel);
        }
        n.route = Some(link);
        n.test = origin.test;
        if let Some(links) = policy::unsubscribing(
            app,
            tenant,
            base,
            std::slice::from_ref(&n),
            Some(&ctx.defaults),
        )
        .await?
        {
            links.link(&mut n, now);
        }
        children.push(n);
    }

    // A test key's notifications never count against the live quotas.
    for channel in counted.into_iter().filter(|_| !origin.test) {
        limits::take_quota(app, tenant, channel, 1, now).await?;
    }
    for n in &children {
        record::record_one(app, tenant, n.clone(), now).await?;
    }
    let route = Route {
        id: id.clone(),
        tenant: tenant.clone(),
        user_id: user,
        method,
        steps,
        created_at: now,
        expires_at: now.plus(app.config.store.retention),
        read_at: None,
        cancelled_at: None,
        reference: fields
            .get("reference")
            .and_then(Value::as_str)
            .map(str::to_owned),
        test: origin.test,
    };
    let route = match app.routes.insert_route(&route).await {
        Ok(()) => route,
        // A retry of the same request (Idempotency-Key): what it wrote stands.
        Err(StoreError::AlreadyExists(_)) => app
            .routes
            .route(&id, now)
            .await
            .map_err(unavailable)?
            .filter(|r| &r.tenant == tenant)
            .ok_or_else(|| {
                ApiError::Unavailable("the route could not be recorded; retry".into())
            })?,
        Err(e) => return Err(unavailable(e)),
    };
    for n in &children {
        record::enqueue_one(app, n, now).await;
    }
    info!(route_id = %route.id, steps = route.steps.len(), children = children.len(), "routed send accepted");
    Ok(route)
}

/// A step that waits for the one before it to fail: `scheduled`, with only its expiry due
/// (the changes function makes it due now when it is needed).
fn hold(n: &mut Notification, step: u32, lifetime: std::time::Duration, now: Timestamp) {
    n.status = Status::Scheduled;
    // Its own time (quiet hours, `scheduledAt`) still holds once it is released.
    n.due = Some(schedule::expiry(now, n.scheduled_at, lifetime));
    n.history = vec![HistoryEntry {
        status: Status::Scheduled,
        at: now,
        reason: Some(format!(
            "held: step {step} goes if the step before it fails"
        )),
        event: None,
    }];
}

/// Whether a `POST /v1/notifications` body is a routed send.
pub fn is_routed(body: &Value) -> bool {
    body.get("routing").is_some()
}
