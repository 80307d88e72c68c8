//! `GET /v1/stats`: how many notifications were accepted, and entered each status, per
//! channel and hour (or day), from the counters the changes function keeps.

use std::collections::BTreeMap;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{Channel, TenantId, stats::Granularity, time::Timestamp},
    validate::FieldError,
};
use serde_json::{Map, Value, json};
use tracing::error;

use crate::{ApiError, App, paging, response};

/// Buckets one answer may hold.
pub const MAX_BUCKETS: i64 = 200;

struct StatsQuery {
    granularity: Granularity,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    channel: Option<Channel>,
}

fn stats_query(req: &Request) -> Result<StatsQuery, ApiError> {
    let mut q = StatsQuery {
        granularity: Granularity::Hour,
        since: None,
        until: None,
        channel: None,
    };
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "granularity" => match v.parse::<Granularity>() {
                Ok(g) => q.granularity = g,
                Err(e) => errors.push(FieldError::new("granularity", "enum", e.to_string())),
            },
            "channel" => match v.parse::<Channel>() {
                Ok(c) => q.channel = Some(c),
                Err(e) => errors.push(FieldError::new("channel", "enum", e.to_string())),
            },
            name @ ("since" | "until") => match paging::timestamp(name, &v) {
                Ok(t) if name == "since" => q.since = Some(t),
                Ok(t) => q.until = Some(t),
                Err(e) => errors.push(e),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /v1/stats?since=&until=&granularity=hour|day[&channel=]`.
pub async fn get(app: &App, tenant: &TenantId, req: &Request) -> Result<Response<Body>, ApiError> {
    let q = stats_query(req)?;
    let size = q.granularity.millis();
    let now = app.clock.now().as_millis();
    let until = q.until.map_or(now, |u| u.as_millis());
    // By default the last day in hours, or the last 30 days.
    let since = q.since.map_or(
        until
            - size
                * if q.granularity == Granularity::Hour {
                    24
                } else {
                    30
                },
        |s| s.as_millis(),
    );
    if since >= until {
        return Err(ApiError::Validation(vec![FieldError::new(
            "until",
            "after_since",
            "must be after `since`",
        )]));
    }
    // Every bucket the window touches.
    let from = since.div_euclid(size) * size;
    let to = (until - 1).div_euclid(size) * size + size;
    if (to - from) / size > MAX_BUCKETS {
        return Err(ApiError::Validation(vec![FieldError::new(
            "since",
            "max_buckets",
            format!(
                "the window spans more than {MAX_BUCKETS} buckets: narrow it, or use granularity=day"
            ),
        )]));
    }
    let found: BTreeMap<i64, _> = app
        .stats
        .buckets(tenant, q.granularity, from, to)
        .await
        .map_err(|e| {
            error!(error = %e, "the stats are unavailable");
            ApiError::Unavailable("the stats are unavailable; retry the request".into())
        })?
        .into_iter()
        .collect();
    let mut buckets = Vec::new();
    let mut start = from;
    while start < to {
        let mut counts = Map::new();
        if let Some(found) = found.get(&start) {
            for ((channel, counted), n) in found {
                if q.channel.is_some_and(|c| c != *channel) {
                    continue;
                }
                let per = counts
                    .entry(channel.as_str())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(per) = per {
                    per.insert(counted.as_str().to_owned(), json!(n));
                }
            }
        }
        let at = Timestamp::from_millis(start).map(|t| t.to_string());
        buckets.push(json!({ "start": at, "counts": counts }));
        start += size;
    }
    let granularity = match q.granularity {
        Granularity::Hour => "hour",
        Granularity::Day => "day",
    };
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "granularity": granularity,
            "since": Timestamp::from_millis(from).map(|t| t.to_string()),
            "until": Timestamp::from_millis(to).map(|t| t.to_string()),
            "buckets": buckets,
        }),
    ))
}
