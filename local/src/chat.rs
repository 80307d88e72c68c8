//! Stand-ins for Slack and Microsoft Teams on loopback: they record what each would have
//! received and answer as the real services do.
//!
//! - `POST /slack/webhook/<anything>`: a Slack incoming webhook. `200 ok`; a path naming one
//!   of Slack's webhook errors answers it (`…/channel_not_found` → `404 channel_not_found`,
//!   `no_service` → 404, `channel_is_archived` → 410, `action_prohibited` → 403,
//!   `invalid_payload` → 400, `rate_limited` → 429 with `Retry-After: 1`);
//! - `POST /slack/api/chat.postMessage`: Slack's Web API. `{"ok": true, "ts": …}`; the bot
//!   token `xoxb-invalid` answers `invalid_auth`, `xoxb-inactive` `account_inactive`, a
//!   channel starting with `missing` `channel_not_found`; no token, `not_authed`;
//! - `POST /teams/workflow/<anything>`: a Teams Workflows webhook. `202`; a path containing
//!   `deleted` answers `404`, `throttled` `429`;
//! - `GET /_chat/messages`: everything received, oldest first.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{Recorder, json};

/// One message a chat service received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// `slack_webhook`, `slack_api` or `teams_workflow`.
    pub service: String,
    pub path: String,
    /// The channel a `chat.postMessage` named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub body: Value,
    pub answered: u16,
    /// When it arrived, in Unix milliseconds.
    pub at_ms: i64,
}

#[derive(Clone, Default)]
pub struct ChatStandIn {
    log: Arc<Recorder<ChatMessage, ()>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Slack's incoming-webhook errors, by the path segment that asks for them.
const SLACK_WEBHOOK_ERRORS: [(&str, u16); 6] = [
    ("channel_not_found", 404),
    ("no_service", 404),
    ("channel_is_archived", 410),
    ("action_prohibited", 403),
    ("invalid_payload", 400),
    ("rate_limited", 429),
];

impl ChatStandIn {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn received(&self) -> Vec<ChatMessage> {
        self.log.received()
    }

    pub async fn serve(
        self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let app = Router::new()
            .route("/_chat/messages", get(messages))
            .fallback(receive)
            .with_state(self);
        crate::http::serve(addr, app, "the Slack and Teams stand-in").await
    }

    fn record(
        &self,
        service: &str,
        path: &str,
        channel: Option<String>,
        body: &Value,
        answered: u16,
    ) {
        self.log.record(ChatMessage {
            service: service.into(),
            path: path.into(),
            channel,
            body: body.clone(),
            answered,
            at_ms: now_ms(),
        });
    }
}

async fn messages(State(s): State<ChatStandIn>) -> Response {
    json(StatusCode::OK, json!({ "messages": s.received() }), None)
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        body.to_owned(),
    )
        .into_response()
}

async fn receive(
    State(s): State<ChatStandIn>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    if path.starts_with("/slack/webhook/") {
        let error = SLACK_WEBHOOK_ERRORS
            .iter()
            .find(|(name, _)| path.split('/').any(|segment| segment == *name));
        let (status, answer) = match error {
            Some((name, status)) => (*status, *name),
            None if body["text"].as_str().is_none_or(str::is_empty) => (400, "no_text"),
            None => (200, "ok"),
        };
        s.record("slack_webhook", &path, None, &body, status);
        let mut r = text(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            answer,
        );
        if status == 429
            && let Ok(v) = "1".parse()
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if path == "/slack/api/chat.postMessage" {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let channel = body["channel"].as_str().map(str::to_owned);
        let error = match (token, channel.as_deref()) {
            (None, _) => Some("not_authed"),
            (Some("xoxb-invalid"), _) => Some("invalid_auth"),
            (Some("xoxb-inactive"), _) => Some("account_inactive"),
            (_, None) => Some("channel_not_found"),
            (_, Some(c)) if c.starts_with("missing") => Some("channel_not_found"),
            _ => None,
        };
        s.record("slack_api", &path, channel.clone(), &body, 200);
        let answer = match error {
            Some(e) => json!({"ok": false, "error": e}),
            None => {
                let ms = now_ms();
                json!({"ok": true, "channel": channel, "ts": format!("{}.{:06}", ms / 1000, (ms % 1000) * 1000)})
            }
        };
        return json(StatusCode::OK, answer, None);
    }
    if path.starts_with("/teams/workflow/") {
        let status = if path.contains("deleted") {
            404
        } else if path.contains("throttled") {
            429
        } else {
            202
        };
        s.record("teams_workflow", &path, None, &body, status);
        return text(
            StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
            "",
        );
    }
    text(StatusCode::NOT_FOUND, "no such chat service here")
}
