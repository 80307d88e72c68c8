//! The in-app feed: `GET /v1/users/{userId}/inbox` (a page, or with `since` the delta after a
//! reconnect), `POST …/inbox/{id}/{seen|read|unread|archive|unarchive}` and
//! `POST …/inbox/mark-all`. The tenant's backend calls them with its API key, the user's app
//! with a user token for that user. Every answer carries the user's `unreadCount` and
//! `unseenCount`.

use std::time::Duration;

use base64::Engine;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{
        NotificationId, TenantId, UserId,
        inbox::{InboxFilter, InboxItem, Mark},
        time::Timestamp,
    },
    inbox::{self, counts_view},
    store::{INBOX_LOG_RETENTION, StoreError},
    validate::{self, FieldError, Fields},
};
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, paging, response};

const CURSOR_KIND: &str = "inbox:";
const SINCE_KIND: &str = "since:";
/// A `since` position is taken this far back: a change written by a function whose clock is
/// a little behind this one's is still in the next delta. A delta may repeat the changes of
/// these seconds; clients apply them by id.
const SINCE_OVERLAP: Duration = Duration::from_secs(5);
/// Changes one delta answers at most (`more` says when others follow).
const MAX_DELTA: usize = 100;

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the inbox store is unavailable");
    ApiError::Unavailable("the inbox store is unavailable; retry the request".into())
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("userId", "pattern", e)]))
}

/// `since=` as the feed wrote it: the time (ms) a delta starts at.
fn since(raw: &str, now: Timestamp) -> Result<Timestamp, FieldError> {
    let bad = || {
        FieldError::new(
            "since",
            "cursor",
            "is not a `since` value this feed returned (use it as given)",
        )
    };
    let at = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.strip_prefix(SINCE_KIND)
                .and_then(|ms| ms.parse::<i64>().ok())
        })
        .and_then(Timestamp::from_millis)
        .ok_or_else(bad)?;
    if at.plus(INBOX_LOG_RETENTION) < now {
        return Err(FieldError::new(
            "since",
            "expired",
            "is older than the 7 days of changes kept: fetch the feed again without `since`",
        ));
    }
    Ok(at)
}

fn since_token(at: Timestamp) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{SINCE_KIND}{}", at.as_millis()))
}

struct FeedQuery {
    filter: InboxFilter,
    limit: usize,
    after: Option<NotificationId>,
    since: Option<Timestamp>,
}

fn feed_query(req: &Request, now: Timestamp) -> Result<FeedQuery, ApiError> {
    let mut q = FeedQuery {
        filter: InboxFilter::default(),
        limit: paging::DEFAULT_LIMIT,
        after: None,
        since: None,
    };
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "status" => match v.parse() {
                Ok(s) => q.filter.status = s,
                Err(e) => errors.push(FieldError::new("status", "enum", e.to_string())),
            },
            "archived" => match v.parse() {
                Ok(a) => q.filter.archived = a,
                Err(e) => errors.push(FieldError::new("archived", "enum", e.to_string())),
            },
            "category" => {
                let ok = !v.is_empty()
                    && v.chars().count() <= validate::MAX_CATEGORY_CHARS
                    && !v.chars().any(|c| c.is_control());
                if ok {
                    q.filter.category = Some(v.into_owned());
                } else {
                    errors.push(FieldError::new(
                        "category",
                        "pattern",
                        format!(
                            "must be 1 to {} characters without control characters",
                            validate::MAX_CATEGORY_CHARS
                        ),
                    ));
                }
            }
            "limit" => match paging::limit(&v) {
                Ok(n) => q.limit = n,
                Err(e) => errors.push(e),
            },
            "cursor" => match paging::cursor(CURSOR_KIND, &v).map(|p| NotificationId::parse(&p)) {
                Ok(Some(id)) => q.after = Some(id),
                Ok(None) => errors.push(FieldError::new(
                    "cursor",
                    "cursor",
                    "is not a cursor this list returned (use the `next` link as given)",
                )),
                Err(e) => errors.push(e),
            },
            "since" => match since(&v, now) {
                Ok(at) => q.since = Some(at),
                Err(e) => errors.push(e),
            },
            // Other parameters are not the feed's: left alone, as proxies and caches add some.
            _ => {}
        }
    }
    if q.since.is_some() && q.after.is_some() {
        errors.push(FieldError::new(
            "since",
            "exclusive",
            "a delta (`since`) has no pages: not with `cursor`",
        ));
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /v1/users/{userId}/inbox`.
pub async fn feed(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let now = app.clock.now();
    let q = feed_query(req, now)?;
    // Where the next delta starts: read before the items, so nothing written meanwhile is
    // missed.
    let next_since =
        Timestamp::from_millis(now.as_millis() - SINCE_OVERLAP.as_millis() as i64).unwrap_or(now);
    let (items, next, more, since_at) = match q.since {
        Some(since) => {
            let delta = app
                .inbox
                .changed_since(tenant, &user, since, MAX_DELTA, now)
                .await
                .map_err(unavailable)?;
            let more = delta.more_after.is_some();
            let since_at = delta.more_after.unwrap_or(next_since);
            (delta.items, None, more, since_at)
        }
        None => {
            let page = app
                .inbox
                .items(tenant, &user, &q.filter, q.after.as_ref(), q.limit, now)
                .await
                .map_err(unavailable)?;
            let next = page.next.as_ref().map(|id| {
                paging::next_link(
                    &format!("/v1/users/{}/inbox", urlencode(user.as_str())),
                    &filters(&q.filter),
                    q.limit,
                    CURSOR_KIND,
                    id.as_str(),
                )
            });
            let more = next.is_some();
            (page.items, next, more, next_since)
        }
    };
    inbox::delivered(
        app.inbox.as_ref(),
        app.store.as_ref(),
        tenant,
        &user,
        &items,
        now,
    )
    .await;
    let counts = app.inbox.counts(tenant, &user).await.map_err(unavailable)?;
    let mut answer = json!({
        "items": items,
        "next": next,
        "more": more,
        "since": since_token(since_at),
    });
    merge(&mut answer, counts_view(counts));
    Ok(response::json(StatusCode::OK, &answer))
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn filters(f: &InboxFilter) -> Vec<(String, String)> {
    use notify_shared::domain::inbox::{ArchivedFilter, StatusFilter};
    let mut out = Vec::new();
    let status = match f.status {
        StatusFilter::All => None,
        StatusFilter::Unread => Some("unread"),
        StatusFilter::Unseen => Some("unseen"),
        StatusFilter::Read => Some("read"),
    };
    if let Some(s) = status {
        out.push(("status".to_owned(), s.to_owned()));
    }
    let archived = match f.archived {
        ArchivedFilter::Exclude => None,
        ArchivedFilter::Include => Some("include"),
        ArchivedFilter::Only => Some("only"),
    };
    if let Some(a) = archived {
        out.push(("archived".to_owned(), a.to_owned()));
    }
    if let Some(c) = &f.category {
        out.push(("category".to_owned(), c.clone()));
    }
    out
}

fn merge(answer: &mut Value, more: Value) {
    if let (Value::Object(a), Value::Object(m)) = (answer, more) {
        a.extend(m);
    }
}

/// `POST /v1/users/{userId}/inbox/{id}/{mark}`: the item as it now is, with the counters.
/// Reading an item also reads its notification (dropping the route's `unless: read` steps).
pub async fn mark(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
    raw_id: &str,
    mark: Mark,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let not_found = || ApiError::NotFound(format!("no inbox item {raw_id} for user {raw_user}"));
    let id = NotificationId::parse(raw_id).ok_or_else(not_found)?;
    let now = app.clock.now();
    let marked = inbox::mark(app.inbox.as_ref(), tenant, &user, &id, mark, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    if mark == Mark::Read {
        read_notifications(app, tenant, &user, std::slice::from_ref(&marked.item), now).await?;
    }
    info!(notification_id = %id, %mark, changed = marked.changed, "inbox item marked");
    let counts = app.inbox.counts(tenant, &user).await.map_err(unavailable)?;
    let mut answer = json!({ "item": marked.item });
    merge(&mut answer, counts_view(counts));
    Ok(response::json(StatusCode::OK, &answer))
}

/// Marks the notifications of read items read, as `POST /v1/notifications/{id}/read` does.
async fn read_notifications(
    app: &App,
    tenant: &TenantId,
    user: &UserId,
    items: &[InboxItem],
    now: Timestamp,
) -> Result<(), ApiError> {
    let one = async |item: &InboxItem| {
        notify_shared::routing::read(
            app.store.as_ref(),
            app.routes.as_ref(),
            tenant,
            &item.id,
            Some(user),
            now,
        )
        .await
    };
    // A few at a time: a bulk read may name a thousand.
    for chunk in items.chunks(25) {
        let results = futures::future::join_all(chunk.iter().map(one)).await;
        for r in results {
            // An expired notification leaves its item readable: nothing to record.
            r.map_err(unavailable)?;
        }
    }
    Ok(())
}

/// `POST /v1/users/{userId}/inbox/mark-all` with `{"action": "seen"|"read"|"archived",
/// "category"?}`.
pub async fn mark_all(
    app: &App,
    tenant: &TenantId,
    raw_user: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let user = user_id(raw_user)?;
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let action = match f.required_str("action") {
        Some(a @ ("seen" | "read" | "archived")) => a.parse::<Mark>().ok(),
        Some(_) => {
            f.error("action", "enum", "must be seen, read or archived");
            None
        }
        None => None,
    };
    let category = f.optional_label("category", validate::MAX_CATEGORY_CHARS);
    f.finish().map_err(ApiError::Validation)?;
    let Some(action) = action else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "action",
            "required",
            "is required",
        )]));
    };
    let now = app.clock.now();
    let done = inbox::mark_all(
        app.inbox.as_ref(),
        tenant,
        &user,
        action,
        category.as_deref(),
        now,
    )
    .await
    .map_err(unavailable)?;
    if action == Mark::Read {
        read_notifications(app, tenant, &user, &done.items, now).await?;
    }
    info!(%action, marked = done.items.len(), more = done.more, "inbox marked in bulk");
    let counts = app.inbox.counts(tenant, &user).await.map_err(unavailable)?;
    let mut answer = json!({ "marked": done.items.len(), "more": done.more });
    merge(&mut answer, counts_view(counts));
    Ok(response::json(StatusCode::OK, &answer))
}
