//! Chat: Slack (an incoming webhook, or `chat.postMessage` with a bot token) and Microsoft
//! Teams (a Workflows webhook taking an Adaptive Card), over the webhooks' guarded HTTP client
//! (only addresses the network guard passed, no redirects, bounded time).
//!
//! Slack takes about one message a second per channel: each send first takes its target's
//! next one-second slot (a conditional write shared by every worker instance) and waits for
//! it when it is near; further away, the message is put back until then, its receives
//! untouched ([`ErrorKind::Paced`]). What the services answer decides the rest:
//!
//! - `429` (with `Retry-After`), `5xx`, Slack's `ratelimited`, `internal_error`,
//!   `service_unavailable`, `request_timeout`, `fatal_error`: transient;
//! - Slack's `channel_not_found`, `invalid_auth`, `account_inactive`, `token_revoked`,
//!   `not_in_channel`, `is_archived`, `invalid_blocks`…, a webhook's `404 no_service` /
//!   `channel_not_found`, `410 channel_is_archived`, `403 action_prohibited`, a deleted Teams
//!   workflow's `404`, any other `4xx`: permanent.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    ErrorKind, Provider, ProviderError, Receipt,
    webhook::{PlainAnswer, WebhookSender, WebhookSettings},
};
use crate::{
    clock::Clock,
    config::{ConfigError, Env},
    domain::{
        Address, Channel, ChatContent, Content, Notification, WebhookUrl,
        chat::{ChatDestination, ChatTarget},
    },
    store::ChatTargets,
    webhook::Lookup,
};

/// Slack's pace per channel.
pub const SLACK_INTERVAL: Duration = Duration::from_secs(1);
/// A slot this near is waited for in the worker; further, the message goes back to the queue.
pub const MAX_SLOT_WAIT: Duration = Duration::from_secs(10);
/// SQS delays a message at most 15 minutes.
const MAX_PACE: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub webhook: WebhookSettings,
    /// Slack's Web API (`NOTIFY_SLACK_API_URL`, `https://slack.com/api`).
    pub slack_api_url: String,
}

impl ChatSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let slack_api_url = env
            .optional("NOTIFY_SLACK_API_URL")
            .unwrap_or("https://slack.com/api")
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            webhook: WebhookSettings::from_env(env)?,
            slack_api_url,
        })
    }
}

/// The JSON Slack takes: `text` (the notification's fallback too), `blocks` when given, and
/// the channel for `chat.postMessage`.
pub fn slack_payload(content: &ChatContent, channel: Option<&str>) -> String {
    let mut body = json!({ "text": content.text });
    if let Some(blocks) = content
        .blocks
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
    {
        body["blocks"] = blocks;
    }
    if let Some(channel) = channel {
        body["channel"] = json!(channel);
    }
    body.to_string()
}

/// The JSON a Teams Workflows webhook takes: a message with one Adaptive Card attachment,
/// the card given or one made of the text.
pub fn teams_payload(content: &ChatContent) -> String {
    let card = content
        .card
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .unwrap_or_else(|| {
            json!({
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.5",
                "body": [{"type": "TextBlock", "text": content.text, "wrap": true}]
            })
        });
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
    .to_string()
}

fn excerpt(body: &str) -> String {
    super::webhook::excerpt(body.as_bytes())
}

/// An HTTP status's kind, as every chat service answers them.
fn by_status(service: &str, a: &PlainAnswer, code: String) -> ProviderError {
    let message = format!("{service} answered HTTP {}: {}", a.status, excerpt(&a.body));
    let kind = match a.status {
        408 | 429 | 500..=599 => ErrorKind::Transient {
            retry_after: a.retry_after,
        },
        _ => ErrorKind::Permanent,
    };
    ProviderError {
        kind,
        code,
        message,
    }
}

/// A Slack incoming webhook's answer: `200 ok`, or an HTTP error whose body names it
/// (`no_service`, `channel_not_found`, `invalid_payload`, …).
pub fn classify_slack_webhook(a: &PlainAnswer) -> Result<(), ProviderError> {
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    let named = a.body.trim();
    let code = if !named.is_empty()
        && named.len() <= 64
        && named.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        named.to_owned()
    } else {
        format!("http_{}", a.status)
    };
    Err(by_status("Slack", a, code))
}

/// Slack Web API errors worth another try.
const SLACK_TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// `chat.postMessage`'s answer: `{"ok": true, "ts": …}` (the message's id), or
/// `{"ok": false, "error": …}` (with HTTP 200), or an HTTP error.
pub fn classify_slack_api(a: &PlainAnswer) -> Result<String, ProviderError> {
    if !(200..300).contains(&a.status) {
        return Err(by_status("Slack", a, format!("http_{}", a.status)));
    }
    let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    if body["ok"] == true {
        return Ok(body["ts"].as_str().unwrap_or_default().to_owned());
    }
    let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
    let kind = if SLACK_TRANSIENT.contains(&error.as_str()) {
        ErrorKind::Transient {
            retry_after: a.retry_after,
        }
    } else {
        ErrorKind::Permanent
    };
    Err(ProviderError {
        kind,
        message: format!("Slack's chat.postMessage answered {error}"),
        code: error,
    })
}

/// A Teams Workflows webhook's answer: `202` (or `200`) taken; a deleted workflow is `404`.
pub fn classify_teams(a: &PlainAnswer) -> Result<(), ProviderError> {
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    let code = match a.status {
        404 => "workflow_not_found".to_owned(),
        s => format!("http_{s}"),
    };
    Err(by_status("Teams", a, code))
}

pub struct ChatProvider {
    sender: WebhookSender,
    targets: Arc<dyn ChatTargets>,
    slack_api: WebhookUrl,
    clock: Arc<dyn Clock>,
}

impl ChatProvider {
    pub fn new(
        settings: &ChatSettings,
        lookup: Arc<dyn Lookup>,
        targets: Arc<dyn ChatTargets>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderError> {
        let post_message = format!("{}/chat.postMessage", settings.slack_api_url);
        let slack_api = WebhookUrl::parse(&post_message).map_err(|e| {
            ProviderError::permanent("ClientSetup", format!("NOTIFY_SLACK_API_URL: {e}"))
        })?;
        Ok(Self {
            sender: WebhookSender::new(&settings.webhook, lookup)?,
            targets,
            slack_api,
            clock,
        })
    }

    async fn target(&self, n: &Notification, to: &Address) -> Result<ChatTarget, ProviderError> {
        let Address::Chat(name) = to else {
            return Err(ProviderError::permanent(
                "UnsupportedRecipient",
                format!("chat cannot deliver to {}", to.masked()),
            ));
        };
        self.targets
            .target(&n.tenant, name)
            .await
            .map_err(|e| ProviderError::transient("StoreUnavailable", e.to_string()))?
            .ok_or_else(|| {
                ProviderError::permanent(
                    "target_not_found",
                    format!("no chat target named {} (it was deleted)", name.as_str()),
                )
            })
    }

    /// Waits for the next send slot of the target's Slack channel, or says how long to put
    /// the message back for.
    async fn pace(
        &self,
        n: &Notification,
        target: &ChatTarget,
        lane: &str,
    ) -> Result<(), ProviderError> {
        let now = self.clock.now();
        let slot = self
            .targets
            .take_slot(&n.tenant, lane, now, SLACK_INTERVAL, MAX_SLOT_WAIT)
            .await
            .map_err(|e| ProviderError::transient("StoreUnavailable", e.to_string()))?;
        match slot {
            Ok(at) => {
                let wait = now.until(at);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Err(wait) => Err(ProviderError {
                kind: ErrorKind::Paced {
                    after: wait.min(MAX_PACE),
                },
                code: "paced".into(),
                message: format!(
                    "Slack takes one message a second per channel: the next free second of {} is {} s away",
                    target.name.as_str(),
                    wait.as_secs()
                ),
            }),
        }
    }
}

#[async_trait]
impl Provider for ChatProvider {
    fn channel(&self) -> Channel {
        Channel::Chat
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let Content::Chat(content) = &n.content else {
            return Err(ProviderError::permanent(
                "WrongChannel",
                "not a chat notification",
            ));
        };
        let target = self.target(n, to).await?;
        if let Some(lane) = target.destination.pace_lane() {
            self.pace(n, &target, &lane).await?;
        }
        let now = self.clock.now();
        let message_id = match &target.destination {
            ChatDestination::SlackWebhook { url } => {
                let a = self
                    .sender
                    .post_json(url, &slack_payload(content, None), &[], now)
                    .await?;
                classify_slack_webhook(&a)?;
                format!("slack-webhook:{}", n.id)
            }
            ChatDestination::SlackBot { token, channel } => {
                let auth = [("authorization", format!("Bearer {token}"))];
                let a = self
                    .sender
                    .post_json(
                        &self.slack_api,
                        &slack_payload(content, Some(channel)),
                        &auth,
                        now,
                    )
                    .await?;
                classify_slack_api(&a)?
            }
            ChatDestination::TeamsWorkflow { url } => {
                let a = self
                    .sender
                    .post_json(url, &teams_payload(content), &[], now)
                    .await?;
                classify_teams(&a)?;
                format!("teams:{}", n.id)
            }
        };
        Ok(Receipt {
            message_id,
            response: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> PlainAnswer {
        PlainAnswer {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    fn kind(r: Result<(), ProviderError>) -> (ErrorKind, String) {
        let e = r.unwrap_err();
        (e.kind, e.code)
    }

    #[test]
    fn slack_payloads_carry_text_blocks_and_the_channel() {
        let content = ChatContent {
            text: "db-1 is down".into(),
            blocks: Some(
                r#"[{"type":"section","text":{"type":"mrkdwn","text":"*db-1* is down"}}]"#.into(),
            ),
            card: None,
        };
        let body: Value = serde_json::from_str(&slack_payload(&content, Some("C0123"))).unwrap();
        assert_eq!(body["text"], "db-1 is down");
        assert_eq!(body["channel"], "C0123");
        assert_eq!(body["blocks"][0]["text"]["text"], "*db-1* is down");
        let plain: Value = serde_json::from_str(&slack_payload(&content, None)).unwrap();
        assert!(plain.get("channel").is_none());
    }

    #[test]
    fn a_teams_message_is_one_adaptive_card_made_of_the_text_when_none_is_given() {
        let content = ChatContent {
            text: "db-1 is down".into(),
            ..ChatContent::default()
        };
        let body: Value = serde_json::from_str(&teams_payload(&content)).unwrap();
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        assert_eq!(attachment["content"]["body"][0]["text"], "db-1 is down");
        let given = ChatContent {
            card: Some(r#"{"type":"AdaptiveCard","version":"1.4","body":[]}"#.into()),
            ..content
        };
        let body: Value = serde_json::from_str(&teams_payload(&given)).unwrap();
        assert_eq!(body["attachments"][0]["content"]["version"], "1.4");
    }

    #[test]
    fn slack_webhook_answers_are_classified() {
        assert!(classify_slack_webhook(&answer(200, "ok")).is_ok());
        assert_eq!(
            kind(classify_slack_webhook(&answer(404, "channel_not_found"))),
            (ErrorKind::Permanent, "channel_not_found".into())
        );
        assert_eq!(
            kind(classify_slack_webhook(&answer(404, "no_service"))),
            (ErrorKind::Permanent, "no_service".into())
        );
        assert_eq!(
            kind(classify_slack_webhook(&answer(410, "channel_is_archived"))),
            (ErrorKind::Permanent, "channel_is_archived".into())
        );
        let mut throttled = answer(429, "rate_limited");
        throttled.retry_after = Some(Duration::from_secs(30));
        assert_eq!(
            kind(classify_slack_webhook(&throttled)),
            (
                ErrorKind::Transient {
                    retry_after: Some(Duration::from_secs(30))
                },
                "rate_limited".into()
            )
        );
        assert_eq!(
            kind(classify_slack_webhook(&answer(503, "<html>oops</html>"))),
            (
                ErrorKind::Transient { retry_after: None },
                "http_503".into()
            )
        );
    }

    #[test]
    fn slack_api_errors_are_classified_by_name() {
        assert_eq!(
            classify_slack_api(&answer(200, r#"{"ok":true,"ts":"1712345678.000100"}"#)).unwrap(),
            "1712345678.000100"
        );
        for permanent in [
            "channel_not_found",
            "invalid_auth",
            "account_inactive",
            "token_revoked",
        ] {
            let e = classify_slack_api(&answer(
                200,
                &format!(r#"{{"ok":false,"error":"{permanent}"}}"#),
            ))
            .unwrap_err();
            assert_eq!((e.kind, e.code.as_str()), (ErrorKind::Permanent, permanent));
        }
        let e =
            classify_slack_api(&answer(200, r#"{"ok":false,"error":"ratelimited"}"#)).unwrap_err();
        assert!(e.is_transient());
        let mut throttled = answer(429, "");
        throttled.retry_after = Some(Duration::from_secs(3));
        let e = classify_slack_api(&throttled).unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn teams_answers_are_classified() {
        assert!(classify_teams(&answer(202, "")).is_ok());
        assert_eq!(
            kind(classify_teams(&answer(404, "WorkflowNotFound"))),
            (ErrorKind::Permanent, "workflow_not_found".into())
        );
        assert!(classify_teams(&answer(429, "")).unwrap_err().is_transient());
        assert!(classify_teams(&answer(502, "")).unwrap_err().is_transient());
        assert_eq!(
            kind(classify_teams(&answer(400, "bad card"))).0,
            ErrorKind::Permanent
        );
    }
}
