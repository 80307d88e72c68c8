//! The record store: where notifications, their history and every other aggregate live.
//!
//! One module per aggregate (`notifications`, `devices`, `idempotency`, `batches`,
//! `templates`, `webhooks`, `suppressions`, `callbacks`, `users`, `purge`), each with its port (a narrow trait) and its DynamoDB adapter.
//! What they share: `transition` (status changes as data, applied alike by both stores),
//! `keys` (the table's layout), `dynamo` (the client and item helpers), `bulk` (batched
//! writes and reads), `error`. `memory` holds the in-memory fakes.
//!
//! Files depend one way: an aggregate uses the shared modules, never another aggregate;
//! `memory` uses the aggregates; this file only declares and re-exports.

mod audit;
mod batches;
mod bulk;
mod callbacks;
mod changes;
mod chat;
mod connections;
mod devices;
mod dynamo;
mod error;
mod idempotency;
mod inbox;
mod keys;
mod limits;
mod listing;
mod memory;
mod notifications;
mod purge;
mod routes;
mod stats;
mod suppressions;
mod templates;
mod tenants;
mod transition;
mod users;
mod webhooks;

pub use audit::{AuditEntry, AuditLog, AuditPage, AuditScope, MemoryAudit};
pub use batches::{BatchRequest, BatchStore, BatchSummary, Indexes, Outbox};
pub use callbacks::{
    CALLBACK_DELIVERY_RETENTION, CallbackDeliveries, CallbackDeliveryPage, CallbackSubscriptions,
};
pub use changes::{
    CHANGES_STREAM_FILTER, InboxRemoval, NotificationEvent, StatusChange, additions, inbox_removal,
    notification_events, status_change, wanted_by_changes,
};
pub use chat::{ChatTargets, MAX_CHAT_TARGETS};
pub use connections::{Connection, Connections, MAX_CONNECTION_LIFE};
pub use devices::{Device, DeviceRegistry, MAX_DEVICES_PER_USER};
pub use dynamo::{DEFAULT_DEVICE_IDLE, DynamoStore, item_size, write_units};
pub use error::StoreError;
pub use idempotency::{Begin, IdempotencyStore, StoredResponse};
pub use inbox::{INBOX_LOG_RETENTION, InboxDelta, InboxPage, InboxStore, MAX_CHANGES_PER_WRITE};
pub use keys::{
    BATCH_INDEX, DUE_INDEX, LIST_INDEX, LIST_SHARDS, PROVIDER_INDEX, RECIPIENT_INDEX,
    REFERENCE_INDEX, TOKEN_INDEX,
};
pub use limits::LimitCounters;
pub use listing::{ListFilter, ListPage, NotificationSearch};
pub use memory::{
    MemoryCallbacks, MemoryChatTargets, MemoryConnections, MemoryCounters, MemoryDevices,
    MemoryInbox, MemoryStats, MemoryStore, MemorySuppressions, MemoryTemplates, MemoryTenants,
    MemoryUsers, MemoryWebhooks,
};
pub use notifications::NotificationStore;
pub use purge::{Purge, PurgeReport};
pub use routes::RouteStore;
pub use stats::{Additions, BucketKey, Counts, StatsStore};
pub use suppressions::{SuppressionFilter, SuppressionList, SuppressionPage};
pub use templates::{StoredTemplate, TemplateStore, TemplateSummary};
pub use tenants::TenantStore;
pub use transition::{
    Annotation, DEAD_LETTERED, DueChange, FailureChange, LeaseChange, ProviderRef, REDRIVABLE,
    RETRIES_EXHAUSTED, Transition, TransitionOutcome,
};
pub use users::{UserRecord, UserStore};
pub use webhooks::WebhookEndpoints;

/// Fixtures the unit tests of the store and of its users share.
#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use crate::domain::{
        Channel, Content, Draft, EmailAddress, EmailContent, Lease, Notification, NotificationId,
        Priority, Recipient, TenantId, time::Timestamp,
    };

    pub fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms).unwrap()
    }

    pub fn lease(token: &str, until: Timestamp) -> Lease {
        Lease {
            token: token.into(),
            until_ms: until.as_millis(),
        }
    }

    pub fn queued_email() -> Notification {
        let draft = Draft {
            channel: Channel::Email,
            priority: Priority::Normal,
            recipient: Recipient::Email(EmailAddress::parse("bob@example.com").unwrap()),
            content: Content::Email(EmailContent {
                subject: "Hello".into(),
                text: Some("Hi Bob".into()),
                html: None,
                reply_to: None,
                from_name: None,
                unsubscribe_url: None,
            }),
            category: None,
            metadata: BTreeMap::new(),
            scheduled_at: None,
            batch_id: None,
            template: None,
            reference: None,
            callback_url: None,
            user_id: None,
        };
        Notification::accept(
            NotificationId::generate(),
            draft,
            TenantId::new("acme"),
            at(0),
            std::time::Duration::from_secs(86_400),
        )
    }
}
