//! `GET /health` (no I/O: is the function up) and `GET /health/detailed` (does the table
//! answer, how full is every queue and dead-letter queue), in the shape the Event Planner API documents,
//! with the details our stack has.

use std::{collections::BTreeMap, time::Instant};

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::health::QueueDepth;
use serde_json::{Value, json};
use tracing::warn;

use crate::{App, response};

pub fn basic(app: &App) -> Response<Body> {
    response::json(
        StatusCode::OK,
        &json!({
            "status": "healthy",
            "timestamp": app.clock.now(),
            "service": "notification",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime": app.started.elapsed().as_secs(),
        }),
    )
}

/// 200 when the table and every queue answer, 503 otherwise.
pub async fn detailed(app: &App) -> Response<Body> {
    let started = Instant::now();
    let (table, queues) =
        futures::join!(app.table_health.table_status(), app.queue_health.depths());
    let database = table
        .as_ref()
        .is_ok_and(|s| s == "ACTIVE" || s == "UPDATING");
    let queues_ok = !queues.is_empty() && queues.iter().all(QueueDepth::healthy);
    let mut services: BTreeMap<&str, Value> = BTreeMap::new();
    for channel in crate::CHANNELS {
        let mine: Vec<&QueueDepth> = queues.iter().filter(|q| q.channel == channel).collect();
        let by_priority: BTreeMap<&str, Value> = mine
            .iter()
            .map(|q| {
                // The SDK's error may name the account and the queue: logged, not shown.
                let mut view = json!(q);
                if let Some(e) = &q.error {
                    warn!(channel = %q.channel, priority = %q.priority, error = %e, "a queue failed its health check");
                    view["error"] = json!("unavailable");
                }
                (q.priority.as_str(), view)
            })
            .collect();
        services.insert(
            channel.as_str(),
            json!({
                "healthy": database && !mine.is_empty() && mine.iter().all(|q| q.healthy()),
                "provider": channel.provider(),
                "queues": by_priority,
            }),
        );
    }
    let healthy = database && queues_ok;
    response::json(
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "timestamp": app.clock.now(),
            "service": "notification",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime": app.started.elapsed().as_secs(),
            "dependencies": {
                "database": database,
                "queues": queues_ok,
            },
            "database": match &table {
                Ok(status) => json!({ "status": status }),
                Err(e) => {
                    warn!(error = %e, "the table failed its health check");
                    json!({ "error": "unavailable" })
                }
            },
            "services": services,
            "checkMs": started.elapsed().as_millis() as u64,
        }),
    )
}
