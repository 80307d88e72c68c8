//! Chat targets: where a tenant's `chat` notifications go, registered by name. A Slack
//! incoming webhook (its URL is its secret), a Slack bot token and a channel id
//! (`chat.postMessage`), or a Microsoft Teams workflow's webhook URL (Workflows' "post to a
//! channel when a webhook request is received"; the old Office 365 connectors are retired).
//! The secrets are shown to no one after creation.

use serde::{Deserialize, Serialize};

use super::{EndpointName, WebhookUrl, time::Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatDestination {
    SlackWebhook { url: WebhookUrl },
    SlackBot { token: String, channel: String },
    TeamsWorkflow { url: WebhookUrl },
}

impl ChatDestination {
    pub fn kind(&self) -> ChatKind {
        match self {
            ChatDestination::SlackWebhook { .. } => ChatKind::SlackWebhook,
            ChatDestination::SlackBot { .. } => ChatKind::SlackBot,
            ChatDestination::TeamsWorkflow { .. } => ChatKind::TeamsWorkflow,
        }
    }

    /// What Slack paces by, its channel: an incoming webhook posts to the one channel its URL
    /// stands for; a bot names it. Two targets with the same webhook URL, or the same channel,
    /// share one pace. `None` for Teams, which documents no per-channel rate.
    pub fn pace_lane(&self) -> Option<String> {
        match self {
            ChatDestination::SlackWebhook { url } => Some(format!("webhook {}", url.as_str())),
            ChatDestination::SlackBot { channel, .. } => Some(format!("channel {channel}")),
            ChatDestination::TeamsWorkflow { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    SlackWebhook,
    SlackBot,
    TeamsWorkflow,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::SlackWebhook => "slack_webhook",
            ChatKind::SlackBot => "slack_bot",
            ChatKind::TeamsWorkflow => "teams_workflow",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatTarget {
    pub name: EndpointName,
    pub destination: ChatDestination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
