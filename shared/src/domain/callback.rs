//! Status callbacks: what a client hears of its notifications after it sent them. A tenant
//! subscribes URLs to kinds of event (optionally per channel), or a notification names its
//! own `callbackUrl`; each event is POSTed, signed like a webhook, at least once.

use std::{collections::BTreeSet, fmt};

use serde::{Deserialize, Serialize};

use super::{
    Channel, Failure, HttpResponse, NotificationId, Status, TenantId, WebhookUrl, time::Timestamp,
};

/// The most subscriptions a tenant may have: each event is one POST per matching URL.
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// What a callback reports: a status entered, or a complaint on a delivered email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackEvent {
    Sent,
    Delivered,
    Failed,
    Suppressed,
    Cancelled,
    Expired,
    Complained,
}

impl CallbackEvent {
    pub const ALL: [CallbackEvent; 7] = [
        CallbackEvent::Sent,
        CallbackEvent::Delivered,
        CallbackEvent::Failed,
        CallbackEvent::Suppressed,
        CallbackEvent::Cancelled,
        CallbackEvent::Expired,
        CallbackEvent::Complained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackEvent::Sent => "sent",
            CallbackEvent::Delivered => "delivered",
            CallbackEvent::Failed => "failed",
            CallbackEvent::Suppressed => "suppressed",
            CallbackEvent::Cancelled => "cancelled",
            CallbackEvent::Expired => "expired",
            CallbackEvent::Complained => "complained",
        }
    }

    /// The event a status change into `status` is, if clients hear of it: the steps before
    /// the provider has the message are the service's own business.
    pub fn entering(status: Status) -> Option<CallbackEvent> {
        match status {
            Status::Draft | Status::Scheduled | Status::Queued | Status::Sending => None,
            Status::Sent => Some(CallbackEvent::Sent),
            Status::Delivered => Some(CallbackEvent::Delivered),
            Status::Failed => Some(CallbackEvent::Failed),
            Status::Cancelled => Some(CallbackEvent::Cancelled),
            Status::Suppressed => Some(CallbackEvent::Suppressed),
            Status::Expired => Some(CallbackEvent::Expired),
        }
    }
}

impl std::str::FromStr for CallbackEvent {
    type Err = super::UnknownName;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        CallbackEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == raw)
            .ok_or_else(|| super::UnknownName {
                value: raw.to_owned(),
                allowed: "sent, delivered, failed, suppressed, cancelled, expired, complained",
            })
    }
}

impl fmt::Display for CallbackEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One URL and what it wants to hear of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub url: WebhookUrl,
    pub events: BTreeSet<CallbackEvent>,
    /// Every channel when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<BTreeSet<Channel>>,
}

impl Subscription {
    pub fn wants(&self, event: CallbackEvent, channel: Channel) -> bool {
        self.events.contains(&event) && self.channels.as_ref().is_none_or(|c| c.contains(&channel))
    }
}

/// A tenant's subscriptions, replaced as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriptions {
    pub subscriptions: Vec<Subscription>,
    pub updated_at: Timestamp,
}

impl Subscriptions {
    /// The URLs that hear of `event` on `channel`, each once.
    pub fn urls_for(&self, event: CallbackEvent, channel: Channel) -> Vec<&WebhookUrl> {
        let mut urls: Vec<&WebhookUrl> = Vec::new();
        for s in &self.subscriptions {
            if s.wants(event, channel) && !urls.contains(&&s.url) {
                urls.push(&s.url);
            }
        }
        urls
    }
}

/// The `webhook-id` of an event: the notification, the event and when it happened, so one
/// event is one id across retries (and across a stream batch handed twice), and a status
/// entered again later (a redriven notification failing again) is a new one.
pub fn webhook_id(id: &NotificationId, event: CallbackEvent, at: Timestamp) -> String {
    format!("{id}.{event}.{}", at.as_millis())
}

/// Where a callback that did not succeed at once stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackDeliveryStatus {
    Retrying,
    Failed,
    Delivered,
}

impl CallbackDeliveryStatus {
    pub const ALL: [CallbackDeliveryStatus; 3] = [
        CallbackDeliveryStatus::Retrying,
        CallbackDeliveryStatus::Failed,
        CallbackDeliveryStatus::Delivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackDeliveryStatus::Retrying => "retrying",
            CallbackDeliveryStatus::Failed => "failed",
            CallbackDeliveryStatus::Delivered => "delivered",
        }
    }
}

impl std::str::FromStr for CallbackDeliveryStatus {
    type Err = super::UnknownName;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        CallbackDeliveryStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| super::UnknownName {
                value: raw.to_owned(),
                allowed: "retrying, failed, delivered",
            })
    }
}

/// The record of a callback whose first attempt failed: what a client lists to see what it
/// missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackDelivery {
    pub tenant: TenantId,
    pub webhook_id: String,
    pub notification_id: NotificationId,
    pub event: CallbackEvent,
    pub url: WebhookUrl,
    pub status: CallbackDeliveryStatus,
    pub attempts: u32,
    /// When the callback was queued.
    pub created_at: Timestamp,
    pub last_attempt_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(
        url: &str,
        events: &[CallbackEvent],
        channels: Option<&[Channel]>,
    ) -> Subscription {
        Subscription {
            url: WebhookUrl::parse(url).unwrap(),
            events: events.iter().copied().collect(),
            channels: channels.map(|c| c.iter().copied().collect()),
        }
    }

    #[test]
    fn a_url_hears_the_events_and_channels_it_subscribed_to_once() {
        let subs = Subscriptions {
            subscriptions: vec![
                subscription("https://a.example/cb", &[CallbackEvent::Delivered], None),
                subscription(
                    "https://b.example/cb",
                    &[CallbackEvent::Delivered, CallbackEvent::Failed],
                    Some(&[Channel::Sms]),
                ),
                subscription("https://a.example/cb", &CallbackEvent::ALL, None),
            ],
            updated_at: Timestamp::from_millis(0).unwrap(),
        };
        let urls = |e, c| -> Vec<String> {
            subs.urls_for(e, c)
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect()
        };
        assert_eq!(
            urls(CallbackEvent::Delivered, Channel::Email),
            ["https://a.example/cb"]
        );
        assert_eq!(
            urls(CallbackEvent::Delivered, Channel::Sms),
            ["https://a.example/cb", "https://b.example/cb"]
        );
        assert_eq!(
            urls(CallbackEvent::Failed, Channel::Email),
            ["https://a.example/cb"]
        );
    }

    #[test]
    fn only_statuses_after_the_provider_are_events() {
        let events: Vec<_> = Status::ALL
            .into_iter()
            .filter_map(CallbackEvent::entering)
            .collect();
        assert_eq!(events.len(), 6);
        assert!(!events.contains(&CallbackEvent::Complained));
        for e in CallbackEvent::ALL {
            assert_eq!(e.as_str().parse::<CallbackEvent>(), Ok(e));
        }
    }
}
