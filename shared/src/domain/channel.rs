use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::UnknownName;

/// A delivery channel. Each channel has its own queues, worker and provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Webhook,
    /// The user's in-app inbox (the feed API), and their app's live connections.
    #[serde(rename = "in_app")]
    InApp,
    /// A Slack channel (incoming webhook or bot token) or a Microsoft Teams workflow.
    Chat,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::Webhook,
        Channel::InApp,
        Channel::Chat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
            Channel::InApp => "in_app",
            Channel::Chat => "chat",
        }
    }

    /// The provider behind the channel, as recorded on its notifications.
    pub fn provider(self) -> &'static str {
        match self {
            Channel::Email => "ses",
            Channel::Sms => "sns",
            Channel::Push => "fcm",
            Channel::Webhook => "webhook",
            Channel::InApp => "inbox",
            Channel::Chat => "chat",
        }
    }

    /// The worker function that delivers it (its binary and its `<name>-worker` crate).
    pub fn worker(self) -> &'static str {
        match self {
            Channel::Email => "email-worker",
            Channel::Sms => "sms-worker",
            Channel::Push => "push-worker",
            Channel::Webhook => "webhook-worker",
            Channel::InApp => "in-app-worker",
            Channel::Chat => "chat-worker",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                value: s.to_owned(),
                allowed: "email, sms, push, webhook, in_app, chat",
            })
    }
}
