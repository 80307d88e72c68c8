use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    Address, BatchId, Channel, EmailAddress, Priority, Recipient, Status, UserId, WebhookUrl,
    schedule::{self, Due},
    sms::SmsSegments,
    time::Timestamp,
};

/// The longest `reference` a client may give a notification.
pub const MAX_REFERENCE_CHARS: usize = 128;

/// A notification's id: a UUIDv7, so ids sort roughly by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(String);

impl NotificationId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Accepts only the canonical hyphenated UUID form, so a path segment can never smuggle
    /// a key prefix or other characters into a store key.
    pub fn parse(raw: &str) -> Option<Self> {
        let uuid = uuid::Uuid::try_parse(raw).ok()?;
        (uuid.hyphenated().to_string() == raw).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the `index`-th notification of a batch whose first id is `self`: the same
    /// inputs give the same id, so a retried batch request (same Idempotency-Key) finds the
    /// records it already wrote. Only the low 48 random bits change, so the ids of one
    /// batch stay UUIDv7s in index order.
    pub fn nth(&self, index: u32) -> Self {
        let Ok(uuid) = uuid::Uuid::try_parse(&self.0) else {
            return self.clone();
        };
        let mut bytes = *uuid.as_bytes();
        let mut low = [0u8; 8];
        low[2..].copy_from_slice(&bytes[10..16]);
        let next = (u64::from_be_bytes(low).wrapping_add(u64::from(index))) & 0xFFFF_FFFF_FFFF;
        bytes[10..16].copy_from_slice(&next.to_be_bytes()[2..]);
        Self(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
    }
}

impl NotificationId {
    /// The index this id has among the ids [`nth`](Self::nth) gives from `first`, if it is
    /// one of them.
    pub fn index_in(&self, first: &NotificationId) -> Option<u32> {
        let low = |id: &NotificationId| {
            let uuid = uuid::Uuid::try_parse(&id.0).ok()?;
            let mut low = [0u8; 8];
            low[2..].copy_from_slice(&uuid.as_bytes()[10..16]);
            Some(u64::from_be_bytes(low))
        };
        let offset = low(self)?.wrapping_sub(low(first)?) & 0xFFFF_FFFF_FFFF;
        let index = u32::try_from(offset).ok()?;
        (first.nth(index) == *self).then_some(index)
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The team (API key owner) a notification belongs to. Reads are scoped to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is sent, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Content {
    Email(EmailContent),
    Sms(SmsContent),
    Push(PushContent),
    Webhook(WebhookContent),
    InApp(InAppContent),
    Chat(ChatContent),
}

/// A chat message: its text, and Slack's blocks or a Teams Adaptive Card when given, kept
/// as JSON text (as a webhook's payload) so what is sent is exactly what was accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatContent {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
}

/// An in-app inbox item's content: what the user's app shows. Its category is the
/// notification's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InAppContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    /// Where the app takes the user when the item is opened (an https URL or an app path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// A webhook's body: compact JSON text, kept as text so every attempt sends (and signs) the
/// very same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookContent {
    pub payload: String,
}

/// What an HTTP receiver answered (webhooks): its status and the start of its body, bounded
/// and with anything that looks like a credential redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailContent {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<EmailAddress>,
    /// The display name in the From header (the address is the deployment's sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// The one-click unsubscribe URL (RFC 8058) of an email in a category the recipient may
    /// leave: sent as `List-Unsubscribe` with `List-Unsubscribe-Post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsContent {
    pub message: String,
    pub segments: SmsSegments,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
}

/// Where one delivery of a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet accepted by the provider (never tried, or a transient failure).
    Pending,
    Sent,
    Failed,
    Suppressed,
}

/// One target of a notification (the email address; the phone number; each device of a user)
/// and how its delivery went. A retry sends only to the targets still pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub to: Address,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// What the receiver answered, for channels that have one (webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
}

impl Delivery {
    pub fn pending(to: Address) -> Self {
        Self {
            to,
            status: DeliveryStatus::Pending,
            provider_message_id: None,
            error: None,
            response: None,
        }
    }
}

/// The saved template a notification was rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    pub name: String,
    /// The tenant's saved version; 0 for a built-in template.
    pub version: u32,
    /// The locale that was rendered (after falling back from the requested one).
    pub locale: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
}

/// One recorded status change, or (with `event`) something the provider reported that left
/// the status as it was (a complaint, a delivery delay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: Status,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// Why a delivery attempt failed, as the provider (or the service) put it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable, machine-readable: a provider error code or one of the service's own.
    pub code: String,
    pub message: String,
}

/// A worker's claim on a notification while it sends. Another delivery of the same message
/// may take the notification over only once the lease has run out (the holder crashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub token: String,
    #[serde(rename = "untilMs")]
    pub until_ms: i64,
}

/// A notification and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: NotificationId,
    pub tenant: TenantId,
    pub channel: Channel,
    pub priority: Priority,
    pub status: Status,
    pub recipient: Recipient,
    pub content: Content,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// After this the record is gone: reads ignore it and DynamoDB TTL deletes it.
    pub expires_at: Timestamp,
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// One entry per target, filled on the first delivery attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
    /// When the client wants it delivered, if not at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
    /// What the scheduled sweep must do next for it, if anything (see [`schedule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Due>,
    /// The batch it was sent in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<BatchId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    /// The client's own reference for it (at most [`MAX_REFERENCE_CHARS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Where its status callbacks go instead of the tenant's subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<WebhookUrl>,
    /// The user it was sent to, when the request named one (`userId`): whose preferences
    /// apply when it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// Its place in a routed send (`routing`): what follows when it settles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<super::route::RouteLink>,
    /// When the recipient read it (`POST /v1/notifications/{id}/read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    /// When the recipient marked it as spam, as the provider reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complained_at: Option<Timestamp>,
    /// The provider events recorded without a status change, by key, so a repeated one is
    /// recorded once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub reports: std::collections::BTreeSet<String>,
    /// Sent with a test key: the workers' simulator stands in for the provider, and only test
    /// keys see it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// The key that made a draft (its visible prefix, or `static`), for four-eyes approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What a client asked to send, validated, before the service accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub channel: Channel,
    pub priority: Priority,
    pub recipient: Recipient,
    pub content: Content,
    pub category: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Deliver at this time rather than at once.
    pub scheduled_at: Option<Timestamp>,
    pub batch_id: Option<BatchId>,
    pub template: Option<TemplateRef>,
    /// The client's own reference for it, to find it by.
    pub reference: Option<String>,
    pub callback_url: Option<WebhookUrl>,
    /// The user the request named, if any.
    pub user_id: Option<UserId>,
}

impl Notification {
    /// A newly accepted notification with the id `id`, kept for `retention`: `queued` (its
    /// message possibly delayed), or `scheduled` when it must wait longer than a queue message
    /// can.
    pub fn accept(
        id: NotificationId,
        draft: Draft,
        tenant: TenantId,
        now: Timestamp,
        retention: Duration,
    ) -> Self {
        let (status, due) = schedule::initial(now, draft.scheduled_at);
        Self {
            id,
            tenant,
            channel: draft.channel,
            priority: draft.priority,
            status,
            recipient: draft.recipient,
            content: draft.content,
            category: draft.category,
            metadata: draft.metadata,
            created_at: now,
            updated_at: now,
            expires_at: now.plus(retention),
            history: vec![HistoryEntry {
                event: None,
                status,
                at: now,
                reason: None,
            }],
            attempts: 0,
            provider: None,
            provider_message_id: None,
            error: None,
            lease: None,
            deliveries: Vec::new(),
            scheduled_at: draft.scheduled_at,
            due: Some(due),
            batch_id: draft.batch_id,
            template: draft.template,
            reference: draft.reference,
            callback_url: draft.callback_url,
            user_id: draft.user_id,
            route: None,
            read_at: None,
            complained_at: None,
            test: false,
            created_by: None,
            reports: Default::default(),
        }
    }

    /// Compared in whole seconds, the unit of the DynamoDB TTL attribute, so every store
    /// agrees on the boundary.
    /// Settles a notification as it is accepted, before any queue: it will not be sent
    /// (`suppressed` by preferences or a frequency cap), `reason` saying why.
    pub fn refuse(&mut self, status: Status, reason: &str, message: String) {
        self.status = status;
        self.due = None;
        self.history = vec![HistoryEntry {
            status,
            at: self.created_at,
            reason: Some(reason.to_owned()),
            event: None,
        }];
        self.error = Some(Failure {
            code: reason.to_owned(),
            message,
        });
    }

    /// The user whose preferences apply: the one the request named, or a push's user.
    pub fn user(&self) -> Option<&UserId> {
        match &self.recipient {
            Recipient::User(u) => Some(u),
            Recipient::Email(_)
            | Recipient::Phone(_)
            | Recipient::Device(_)
            | Recipient::Endpoint(_)
            | Recipient::Url(_)
            | Recipient::ChatTarget(_)
            | Recipient::Erased(_) => self.user_id.as_ref(),
        }
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.as_seconds() <= now.as_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_uuids() {
        let id = NotificationId::generate();
        assert_eq!(NotificationId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(NotificationId::parse("not-an-id"), None);
        assert_eq!(NotificationId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(NotificationId::parse(&id.as_str().replace('-', "")), None);
    }

    #[test]
    fn the_ids_of_a_batch_are_distinct_canonical_and_reproducible() {
        let first = NotificationId::generate();
        let ids: std::collections::BTreeSet<NotificationId> =
            (0..10_000).map(|i| first.nth(i)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(first.nth(0), first);
        assert_eq!(first.nth(42), first.nth(42));
        for id in [first.nth(1), first.nth(9_999)] {
            assert_eq!(NotificationId::parse(id.as_str()), Some(id.clone()));
            assert_eq!(
                id.as_str()[..23],
                first.as_str()[..23],
                "time and version kept"
            );
        }
        for i in [0, 1, 4_242, 9_999] {
            assert_eq!(first.nth(i).index_in(&first), Some(i));
        }
        assert_eq!(NotificationId::generate().index_in(&first), None);
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let a = NotificationId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = NotificationId::generate();
        assert!(a < b);
    }
}
