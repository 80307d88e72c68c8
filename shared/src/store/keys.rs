//! The table's layout: every key format of every item kind, in one place. Other modules
//! build keys only through the functions below.
//!
//! | item | `PK` | `SK` | `GSI1PK` / `GSI1SK` | `GSI2PK` / `GSI2SK` | `GSI3PK` / `GSI3SK` | `ttl` |
//! |---|---|---|---|---|---|---|
//! | notification | `NOTIFICATION#<id>` | `NOTIFICATION` | | `DUE#<0-63>` / `<due at>#<id>` (while due) | `BATCH#<tenant>#<batch>` / `<id>` (in a batch) | `expiresAt`: creation + retention |
//! | … and, once sent by a provider whose receipts name only its message id (SMS) | | | | | | `GSI4PK` / `GSI4SK`: `MSG#<provider>#<message id>` / `MSG` |
//! | … and for listing, each with its `id` as the index's sort key | | | | | | `GSI5PK`: `L#<tenant>#<0-f>`; `GSI6PK`: `R#<tenant>#<hash of the recipient>`; `GSI7PK` (with a reference): `F#<tenant>#<hash of the reference>` |
//! | route (the parent of a routed send) | `NOTIFICATION#<route id>` | `ROUTE` | | | | `expiresAt` |
//! | notification content (when large) | `NOTIFICATION#<id>` | `CONTENT` | | | | as its record |
//! | device | `USER#<tenant>#<user>` | `DEVICE#<token>` | `TOKEN#<tenant>#<token>` / `USER#<user>` | | | `expiresAt`: last registration + idle limit |
//! | user profile | `USER#<tenant>#<user>` | `PROFILE` | | | | |
//! | user preferences | `USER#<tenant>#<user>` | `PREFERENCES` | | | | |
//! | in-app inbox item | `USER#<tenant>#<user>` | `INBOX#I#<notification id>` | | | | its notification's `expiresAt` |
//! | in-app inbox change (the delta's log) | `USER#<tenant>#<user>` | `INBOX#L#<changed at, ms, 13 digits>#<id>` | | | | change + 7 days |
//! | in-app inbox counters | `USER#<tenant>#<user>` | `INBOX#COUNTS` | | | | |
//! | live WebSocket connection of a user | `USER#<tenant>#<user>` | `CONN#<connection id>` | | | | connected + 2 h |
//! | … and by its id alone (`$disconnect` names only that) | `CONNECTION#<connection id>` | `CONNECTION` | | | | connected + 2 h |
//! | frequency-cap counter | `USER#<tenant>#<user>` | `CAP#<category>` | | | | last count + the cap's window |
//! | preferences of an address (unsubscribed from a send without a user) | `ADDRESS#<tenant>#<address, lower case>` | `PREFERENCES` | | | | |
//! | tenant preference defaults | `PREFERENCES#<tenant>` | `DEFAULTS` | | | | |
//! | tenant unsubscribe-link key | `PREFERENCES#<tenant>` | `UNSUBSCRIBE_KEY` | | | | |
//! | tenant user-token secret | `PREFERENCES#<tenant>` | `USER_TOKEN_SECRET` | | | | |
//! | idempotency key | `IDEMPOTENCY#<tenant>#<sha256(key) hex>` | `IDEMPOTENCY` | | | | claim + `keep` (24 h) |
//! | batch header | `BATCH#<tenant>#<batch>` | `BATCH` | | | | its last record's `expiresAt` |
//! | bulk request outbox | `OUTBOX#<request>` | `OUTBOX` | | `DUE#OUTBOX` / `<due at>#<request>` | | its records' `expiresAt` |
//! | template head | `TEMPLATES#<tenant>` | `TEMPLATE#<name>` | | | | |
//! | template version | `TEMPLATE#<tenant>#<name>` | `V#<version, 10 digits>` | | | | |
//! | tenant (the operators' directory) | `TENANTS` | `TENANT#<id>` | | | | |
//! | API key, by its SHA-256 (what authentication reads) | `APIKEY#<sha256 hex>` | `KEY` | | | | |
//! | … and in its tenant's list, by its visible prefix | `TENANT#<tenant>` | `KEY#<prefix>` | | | | |
//! | audit entry, the tenant's view | `AUDIT#<tenant>` | `<at, ms, 13 digits>#<uuid>` | | | | at + `NOTIFY_AUDIT_RETENTION_DAYS` |
//! | … and the operator's view (every tenant, one partition a day) | `AUDIT#*#<days since the epoch>` | as above | | | | as above |
//! | request-rate counter (one a minute) | `LIMITS#<tenant>` | `RATE#<minute since the epoch>` | | | | window end + 1 min |
//! | a user token's request-rate counter | `LIMITS#<tenant>` | `RATE#<minute since the epoch>#U#<user>` | | | | window end + 1 min |
//! | daily quota counter | `LIMITS#<tenant>` | `QUOTA#<yyyy-mm-dd>#<channel>` | | | | day end + 1 day |
//! | chat target | `CHAT#<tenant>` | `TARGET#<name>` | | | | |
//! | a Slack channel's send slot (one message a second per channel) | `CHAT#<tenant>` | `SLOT#<sha256(webhook URL or channel) 12 bytes hex>` | | | | last slot + 1 h |
//! | webhook endpoint | `WEBHOOKS#<tenant>` | `ENDPOINT#<name>` | | | | |
//! | webhook signing secret (inline URLs) | `WEBHOOKS#<tenant>` | `SIGNING_SECRET` | | | | |
//! | suppressed address | `SUPPRESSIONS#<tenant>` | `<channel>#<address>` | | | | |
//! | status callback subscriptions | `CALLBACKS#<tenant>` | `SUBSCRIPTIONS` | | | | |
//! | status callback not delivered at once | `CALLBACKS#<tenant>` | `D#<webhook-id>#<sha256(url) 8 hex>` | | | | last attempt + 14 days |
//! | stats counters | `STATS#<tenant>` | `H#<yyyy-mm-ddThh>` / `D#<yyyy-mm-dd>` | | | | |
//! | purge cursor | `CLEANUP#purge` | `CURSOR` | | | | |
//!
//! | index | finds | projects |
//! |---|---|---|
//! | `GSI1` ([`TOKEN_INDEX`]) | every registration of a device token | keys only |
//! | `GSI2` ([`DUE_INDEX`], sparse) | notifications whose marker fell due, over `DUE_SHARDS` partitions | keys only |
//! | `GSI3` ([`BATCH_INDEX`], sparse) | the notifications of a batch | `status`, `ttl` |
//! | `GSI4` ([`PROVIDER_INDEX`], sparse) | a notification by its provider's message id (SMS receipts) | keys only |
//! | `GSI5` ([`LIST_INDEX`]) | a tenant's notifications, newest first, over `LIST_SHARDS` partitions | keys only |
//! | `GSI6` ([`RECIPIENT_INDEX`]) | a tenant's notifications to one recipient, newest first | keys only |
//! | `GSI7` ([`REFERENCE_INDEX`], sparse) | a tenant's notifications with one `reference` | keys only |
//!
//! `ttl` is in epoch seconds; DynamoDB TTL deletes lazily, so reads also filter on it and the
//! purge deletes what it missed. A future aggregate (preferences, inbox, suppressions, webhook
//! endpoints) adds its row to the first table and its key functions here; a new index also
//! goes in `template.yaml`, `infra/cdk` and `local/src/resources.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::Item;
use crate::{
    domain::{
        BatchId, Channel, DeviceToken, EndpointName, NotificationId, SuppressedAddress, TenantId,
        UserId, schedule::Due, stats::Granularity,
    },
    template::TemplateName,
    unsubscribe::Subscriber,
};

/// The index that finds every registration of a device token.
pub const TOKEN_INDEX: &str = "GSI1";
/// The index that finds notifications whose marker fell due (sparse: only items with `due`).
pub const DUE_INDEX: &str = "GSI2";
/// The index of the records of a batch (sparse: only records sent in a batch).
pub const BATCH_INDEX: &str = "GSI3";
/// The index of notifications by their provider's message id (sparse: only SMS, once sent).
pub const PROVIDER_INDEX: &str = "GSI4";
/// A tenant's notifications, sorted by id (so by creation time).
pub const LIST_INDEX: &str = "GSI5";
/// A tenant's notifications to one recipient ([`crate::domain::search_form`]), by id.
pub const RECIPIENT_INDEX: &str = "GSI6";
/// A tenant's notifications with one client `reference`, by id.
pub const REFERENCE_INDEX: &str = "GSI7";

/// A tenant's listing entries spread over this many partitions (the last hex digit of the
/// id), so a burst does not make one index partition hot: each takes 1,000 writes a second,
/// and a notification writes its entry once, so 16 carry 16,000 notifications a second per
/// tenant. A listing reads them all at once and merges them.
pub const LIST_SHARDS: u32 = 16;

/// Due entries spread over this many partitions, so a burst of notifications does not make
/// one index partition hot: a partition takes 1,000 write units a second, and a notification
/// writes its entry twice (added with the record, removed when it settles), so 64 carry 32,000
/// notifications a second. The sweep reads them all each minute. Raising it later is safe (a
/// shard below the new count is still read); lowering it would strand entries.
const DUE_SHARDS: u32 = 64;

/// The `GSI2` attributes, removed when a notification stops being due.
pub(super) const DUE_KEY_ATTRIBUTES: [&str; 2] = ["GSI2PK", "GSI2SK"];

/// What the table adds to an aggregate's own attributes.
const TABLE_ATTRIBUTES: [&str; 14] = [
    "PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK",
    "GSI5PK", "GSI6PK", "GSI7PK", "ttl",
];

/// A primary key from its parts (a listing that resumes at a sort key builds one too).
pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(pk)),
        ("SK".to_owned(), AttributeValue::S(sk)),
    ])
}

fn index_keys(index: &str, pk: String, sk: String) -> Item {
    HashMap::from([
        (format!("{index}PK"), AttributeValue::S(pk)),
        (format!("{index}SK"), AttributeValue::S(sk)),
    ])
}

/// The item without the table's attributes (keys, index keys, `ttl`), ready to deserialise.
pub(super) fn strip(mut item: Item) -> Item {
    for k in TABLE_ATTRIBUTES {
        item.remove(k);
    }
    item
}

/// The `PK` and `SK` of an item, to tell items apart.
pub(super) fn identity(item: &Item) -> Option<(String, String)> {
    let s = |k: &str| item.get(k)?.as_s().ok().cloned();
    Some((s("PK")?, s("SK")?))
}

/// The primary key of an item read from a keys-only index.
pub(super) fn primary_key(mut item: Item) -> Option<Item> {
    Some(HashMap::from([
        ("PK".to_owned(), item.remove("PK")?),
        ("SK".to_owned(), item.remove("SK")?),
    ]))
}

/// The kinds of item the purge counts, told by their `PK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Notification,
    IdempotencyKey,
    Device,
    Other,
}

pub(super) fn kind(pk: &str, sk: &str) -> Kind {
    match pk.split('#').next().unwrap_or_default() {
        // A large notification's content item goes with its record, which is what counts.
        "NOTIFICATION" if sk == CONTENT_SK => Kind::Other,
        "NOTIFICATION" => Kind::Notification,
        "IDEMPOTENCY" => Kind::IdempotencyKey,
        "USER" if sk.starts_with(DEVICE_SK_PREFIX) => Kind::Device,
        _ => Kind::Other,
    }
}

// ------------------------------------------------------------------------------ notifications

pub(super) fn notification_key(id: &NotificationId) -> Item {
    key(notification_pk(id), RECORD_SK.to_owned())
}

/// A routed send's parent, in the partition its id would have as a notification (the id is
/// one: a client reads either at `/v1/notifications/{id}`).
pub(super) fn route_key(id: &NotificationId) -> Item {
    key(notification_pk(id), "ROUTE".to_owned())
}

/// The sort key of a notification's record (status, history), and of its content when that
/// is too large to share the record's item.
pub(super) const RECORD_SK: &str = "NOTIFICATION";
pub(super) const CONTENT_SK: &str = "CONTENT";

pub(super) fn notification_content_key(id: &NotificationId) -> Item {
    key(notification_pk(id), CONTENT_SK.to_owned())
}

/// The notification whose item (or index entry) this is, by its `PK`.
pub(super) fn notification_of(item: &Item) -> Option<NotificationId> {
    let pk = item.get("PK")?.as_s().ok()?;
    NotificationId::parse(pk.strip_prefix("NOTIFICATION#")?)
}

/// The `PK` of a notification's items (its record, and its content item if any).
pub(super) fn notification_pk(id: &NotificationId) -> String {
    format!("NOTIFICATION#{id}")
}

fn due_shard(id: &NotificationId) -> u32 {
    // UUIDv7 ends in random bits: its last two hex digits, uniform over 0..256.
    let s = id.as_str();
    s.get(s.len().saturating_sub(2)..)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .map_or(0, |b| b % DUE_SHARDS)
}

fn due_pk(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// The due index keys of a notification with a marker.
pub(super) fn due_keys(id: &NotificationId, due: &Due) -> Item {
    index_keys("GSI2", due_pk(due_shard(id)), format!("{}#{id}", due.at))
}

/// Where the listing indexes find a new notification: [`LIST_INDEX`], [`RECIPIENT_INDEX`],
/// and [`REFERENCE_INDEX`] when it has a reference. Their sort key is the record's `id`.
pub(super) fn listing_keys(
    tenant: &TenantId,
    id: &NotificationId,
    recipient: &str,
    reference: Option<&str>,
) -> Item {
    let mut keys = HashMap::from([
        (
            "GSI5PK".to_owned(),
            AttributeValue::S(list_pk(tenant, list_shard(id))),
        ),
        (
            "GSI6PK".to_owned(),
            AttributeValue::S(recipient_pk(tenant, recipient)),
        ),
    ]);
    if let Some(reference) = reference {
        keys.insert(
            "GSI7PK".to_owned(),
            AttributeValue::S(reference_pk(tenant, reference)),
        );
    }
    keys
}

fn list_shard(id: &NotificationId) -> u32 {
    // UUIDv7 ends in random bits (and a batch's ids in consecutive ones).
    id.as_str()
        .chars()
        .last()
        .and_then(|c| c.to_digit(16))
        .unwrap_or(0)
        % LIST_SHARDS
}

/// The tenant a notification is listed under: test notifications (sent with a test key) have
/// index partitions of their own, `<tenant>~test` (a tenant id has no `~`).
pub(super) fn listed_tenant(tenant: &TenantId, test: bool) -> std::borrow::Cow<'_, TenantId> {
    if test {
        std::borrow::Cow::Owned(TenantId::new(format!("{tenant}~test")))
    } else {
        std::borrow::Cow::Borrowed(tenant)
    }
}

pub(super) fn list_pk(tenant: &TenantId, shard: u32) -> String {
    format!("L#{tenant}#{shard:x}")
}

/// Every `GSI5PK` of a tenant.
pub(super) fn list_pks(tenant: &TenantId) -> impl Iterator<Item = String> + '_ {
    (0..LIST_SHARDS).map(move |shard| list_pk(tenant, shard))
}

/// The first `bytes` bytes of `text`'s SHA-256, in hex: a key part for text that may hold
/// any character, or is too long.
fn sha256_hex(text: &str, bytes: usize) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    d.as_ref()[..bytes.min(32)]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 96 bits: the key stays short (the record's size is what each status change costs), and a
/// collision only adds candidates, which the listing filters out.
fn digest(text: &str) -> String {
    sha256_hex(text, 12)
}

/// `recipient` in its [`crate::domain::search_form`].
pub(super) fn recipient_pk(tenant: &TenantId, recipient: &str) -> String {
    format!("R#{tenant}#{}", digest(recipient))
}

pub(super) fn reference_pk(tenant: &TenantId, reference: &str) -> String {
    format!("F#{tenant}#{}", digest(reference))
}

/// Where [`PROVIDER_INDEX`] finds a notification by its provider's message id.
pub(super) fn provider_message_keys(provider: &str, message_id: &str) -> Item {
    index_keys(
        "GSI4",
        provider_message_pk(provider, message_id),
        "MSG".to_owned(),
    )
}

pub(super) fn provider_message_pk(provider: &str, message_id: &str) -> String {
    format!("MSG#{provider}#{message_id}")
}

/// The `GSI2PK` of every due shard.
pub(super) fn due_shards() -> impl Iterator<Item = String> {
    (0..DUE_SHARDS).map(due_pk)
}

/// The highest `GSI2SK` of a marker due by `until`: `<until>#` and the highest character.
pub(super) fn due_until(until: crate::domain::time::Timestamp) -> String {
    format!("{until}#\u{10FFFF}")
}

/// The notification a `GSI2SK` names.
pub(super) fn due_notification(sk: &str) -> Option<NotificationId> {
    sk.rsplit_once('#')
        .and_then(|(_, id)| NotificationId::parse(id))
}

// ------------------------------------------------------------------------------ batches

/// The batch's header `PK`, and the `GSI3PK` of its records.
pub(super) fn batch_pk(tenant: &TenantId, batch: &BatchId) -> String {
    format!("BATCH#{tenant}#{batch}")
}

pub(super) fn batch_header_key(tenant: &TenantId, batch: &BatchId) -> Item {
    key(batch_pk(tenant, batch), "BATCH".to_owned())
}

/// A bulk request's outbox (see `batches`).
pub(super) fn outbox_key(id: &str) -> Item {
    key(format!("OUTBOX#{id}"), "OUTBOX".to_owned())
}

/// The due-index partition of outboxes, apart from the notifications' shards.
pub(super) const OUTBOX_DUE_PK: &str = "DUE#OUTBOX";

pub(super) fn outbox_due_keys(id: &str, at: crate::domain::time::Timestamp) -> Item {
    index_keys("GSI2", OUTBOX_DUE_PK.to_owned(), format!("{at}#{id}"))
}

/// The batch index keys of a record sent in a batch.
pub(super) fn batch_member_keys(tenant: &TenantId, batch: &BatchId, id: &NotificationId) -> Item {
    index_keys("GSI3", batch_pk(tenant, batch), id.to_string())
}

// ------------------------------------------------------------------------------ devices

/// The partition of a user's devices.
pub(super) fn user_pk(tenant: &TenantId, user: &UserId) -> String {
    format!("USER#{tenant}#{}", user.as_str())
}

// ------------------------------------------------------------------------------ inbox

pub(super) const INBOX_ITEM_PREFIX: &str = "INBOX#I#";
pub(super) const INBOX_LOG_PREFIX: &str = "INBOX#L#";

pub(super) fn inbox_item_key(tenant: &TenantId, user: &UserId, id: &NotificationId) -> Item {
    key(
        user_pk(tenant, user),
        format!("{INBOX_ITEM_PREFIX}{}", id.as_str()),
    )
}

/// The change log's entry: sorted by when the item changed, so a delta is one range read.
pub(super) fn inbox_log_key(
    tenant: &TenantId,
    user: &UserId,
    changed_ms: i64,
    id: &NotificationId,
) -> Item {
    key(user_pk(tenant, user), inbox_log_sk(changed_ms, Some(id)))
}

/// The log's sort key at `changed_ms` (without an id: the first key at that time).
pub(super) fn inbox_log_sk(changed_ms: i64, id: Option<&NotificationId>) -> String {
    let ms = changed_ms.max(0);
    match id {
        Some(id) => format!("{INBOX_LOG_PREFIX}{ms:013}#{}", id.as_str()),
        None => format!("{INBOX_LOG_PREFIX}{ms:013}"),
    }
}

pub(super) fn inbox_counts_key(tenant: &TenantId, user: &UserId) -> Item {
    key(user_pk(tenant, user), "INBOX#COUNTS".to_owned())
}

/// A user's live connection, in their partition (the worker reads them all with one Query).
pub(super) const CONNECTION_SK_PREFIX: &str = "CONN#";

pub(super) fn user_connection_key(tenant: &TenantId, user: &UserId, connection: &str) -> Item {
    key(
        user_pk(tenant, user),
        format!("{CONNECTION_SK_PREFIX}{connection}"),
    )
}

/// A connection by its id alone, which is all `$disconnect` and a client's message name.
pub(super) fn connection_key(connection: &str) -> Item {
    key(format!("CONNECTION#{connection}"), "CONNECTION".to_owned())
}

/// What every device's `SK` begins with.
pub(super) const DEVICE_SK_PREFIX: &str = "DEVICE#";

pub(super) fn device_key(tenant: &TenantId, user: &UserId, token: &DeviceToken) -> Item {
    key(
        user_pk(tenant, user),
        format!("{DEVICE_SK_PREFIX}{}", token.as_str()),
    )
}

/// The `GSI1PK` of every registration of a token.
pub(super) fn token_pk(tenant: &TenantId, token: &DeviceToken) -> String {
    format!("TOKEN#{tenant}#{}", token.as_str())
}

/// The token index keys of a device.
pub(super) fn token_keys(tenant: &TenantId, user: &UserId, token: &DeviceToken) -> Item {
    index_keys(
        "GSI1",
        token_pk(tenant, token),
        format!("USER#{}", user.as_str()),
    )
}

// ------------------------------------------------------------------------------ users

/// The sort keys of a user's profile and preferences: adjacent, so one Query reads both.
pub(super) const PROFILE_SK: &str = "PROFILE";
pub(super) const PREFERENCES_SK: &str = "PREFERENCES";

pub(super) fn profile_key(tenant: &TenantId, user: &UserId) -> Item {
    key(user_pk(tenant, user), PROFILE_SK.to_owned())
}

/// A user's preferences, or those of an address sends named without a user (one-click
/// unsubscribe from such a send), in a partition of its own.
pub(super) fn preferences_key(tenant: &TenantId, subscriber: &Subscriber) -> Item {
    let pk = match subscriber {
        Subscriber::User(user) => user_pk(tenant, user),
        Subscriber::Address(address) => {
            format!("ADDRESS#{tenant}#{}", address.as_str().to_lowercase())
        }
    };
    key(pk, PREFERENCES_SK.to_owned())
}

pub(super) fn user_token_secret_key(tenant: &TenantId) -> Item {
    key(
        format!("PREFERENCES#{tenant}"),
        "USER_TOKEN_SECRET".to_owned(),
    )
}

pub(super) fn unsubscribe_key(tenant: &TenantId) -> Item {
    key(
        format!("PREFERENCES#{tenant}"),
        "UNSUBSCRIBE_KEY".to_owned(),
    )
}

pub(super) fn cap_key(tenant: &TenantId, user: &UserId, category: &str) -> Item {
    key(user_pk(tenant, user), format!("CAP#{category}"))
}

pub(super) fn defaults_key(tenant: &TenantId) -> Item {
    key(format!("PREFERENCES#{tenant}"), "DEFAULTS".to_owned())
}

// ------------------------------------------------------------------------------ idempotency

pub(super) fn idempotency_key(tenant: &TenantId, client_key: &str) -> Item {
    // The client's key may hold any printable character: hash it into the partition key.
    key(
        format!("IDEMPOTENCY#{tenant}#{}", sha256_hex(client_key, 32)),
        "IDEMPOTENCY".to_owned(),
    )
}

// ------------------------------------------------------------------------------ templates

/// The partition of a tenant's template heads.
pub(super) fn template_heads_pk(tenant: &TenantId) -> String {
    format!("TEMPLATES#{tenant}")
}

pub(super) fn template_head_key(tenant: &TenantId, name: &TemplateName) -> Item {
    key(
        template_heads_pk(tenant),
        format!("TEMPLATE#{}", name.as_str()),
    )
}

/// The partition of a template's versions.
pub(super) fn template_versions_pk(tenant: &TenantId, name: &TemplateName) -> String {
    format!("TEMPLATE#{tenant}#{}", name.as_str())
}

pub(super) fn template_version_key(tenant: &TenantId, name: &TemplateName, version: u32) -> Item {
    key(
        template_versions_pk(tenant, name),
        format!("V#{version:010}"),
    )
}

// ------------------------------------------------------------------------------ tenants

pub(super) const TENANTS_PK: &str = "TENANTS";
pub(super) const TENANT_SK_PREFIX: &str = "TENANT#";
pub(super) const TENANT_API_KEY_PREFIX: &str = "KEY#";

pub(super) fn tenant_key(id: &TenantId) -> Item {
    key(TENANTS_PK.to_owned(), format!("{TENANT_SK_PREFIX}{id}"))
}

pub(super) fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub(super) fn api_key_key(hash: &str) -> Item {
    key(format!("APIKEY#{hash}"), "KEY".to_owned())
}

pub(super) fn tenant_api_key_key(tenant: &TenantId, prefix: &str) -> Item {
    key(
        tenant_pk(tenant),
        format!("{TENANT_API_KEY_PREFIX}{prefix}"),
    )
}

/// A tenant's audit entries, newest last (`SK`: the entry's id, its time first).
pub(super) fn audit_tenant_pk(tenant: &TenantId) -> String {
    format!("AUDIT#{tenant}")
}

/// Every tenant's audit entries of one UTC day (days since the epoch): the operator's view.
pub(super) fn audit_all_pk(day: i64) -> String {
    format!("AUDIT#*#{day}")
}

/// A tenant's limit counter: `RATE#<minute since the epoch>` (a user's: `…#U#<user>`) or
/// `QUOTA#<yyyy-mm-dd>#<channel>`.
pub(super) fn limit_counter_key(tenant: &TenantId, counter: &str) -> Item {
    key(format!("LIMITS#{tenant}"), counter.to_owned())
}

// ------------------------------------------------------------------------------ chat

pub(super) fn chat_pk(tenant: &TenantId) -> String {
    format!("CHAT#{tenant}")
}

pub(super) const CHAT_TARGET_PREFIX: &str = "TARGET#";

pub(super) fn chat_target_key(tenant: &TenantId, name: &EndpointName) -> Item {
    key(
        chat_pk(tenant),
        format!("{CHAT_TARGET_PREFIX}{}", name.as_str()),
    )
}

/// A pace lane's send slot: the lane (a Slack channel, or a webhook URL, which is a secret)
/// only as a digest.
pub(super) fn chat_slot_key(tenant: &TenantId, lane: &str) -> Item {
    key(chat_pk(tenant), format!("SLOT#{}", digest(lane)))
}

// ------------------------------------------------------------------------------ webhooks

/// The partition of a tenant's webhook endpoints and signing secret (one Query lists them).
pub(super) fn webhooks_pk(tenant: &TenantId) -> String {
    format!("WEBHOOKS#{tenant}")
}

pub(super) const ENDPOINT_SK_PREFIX: &str = "ENDPOINT#";

pub(super) fn endpoint_key(tenant: &TenantId, name: &EndpointName) -> Item {
    key(
        webhooks_pk(tenant),
        format!("{ENDPOINT_SK_PREFIX}{}", name.as_str()),
    )
}

pub(super) fn signing_secret_key(tenant: &TenantId) -> Item {
    key(webhooks_pk(tenant), "SIGNING_SECRET".to_owned())
}

// ------------------------------------------------------------------------------ suppressions

/// The partition of a tenant's suppression list (one Query lists it, by channel).
pub(super) fn suppressions_pk(tenant: &TenantId) -> String {
    format!("SUPPRESSIONS#{tenant}")
}

/// The sort keys of one channel's entries, or of all of them.
pub(super) fn suppression_sk_prefix(channel: Option<Channel>) -> String {
    channel.map_or_else(String::new, |c| format!("{c}#"))
}

pub(super) fn suppression_key(tenant: &TenantId, address: &SuppressedAddress) -> Item {
    key(
        suppressions_pk(tenant),
        format!("{}#{}", address.channel(), address.as_str()),
    )
}

// ------------------------------------------------------------------------------ callbacks

pub(super) fn callbacks_pk(tenant: &TenantId) -> String {
    format!("CALLBACKS#{tenant}")
}

pub(super) fn callback_subscriptions_key(tenant: &TenantId) -> Item {
    key(callbacks_pk(tenant), "SUBSCRIPTIONS".to_owned())
}

/// What the sort key of every callback delivery starts with.
pub(super) const CALLBACK_DELIVERY_PREFIX: &str = "D#";

/// One event to one URL (an event may go to several subscribed URLs).
pub(super) fn callback_delivery_key(tenant: &TenantId, webhook_id: &str, url: &str) -> Item {
    key(
        callbacks_pk(tenant),
        format!(
            "{CALLBACK_DELIVERY_PREFIX}{webhook_id}#{}",
            sha256_hex(url, 4)
        ),
    )
}

// ------------------------------------------------------------------------------ stats

pub(super) fn stats_pk(tenant: &TenantId) -> String {
    format!("STATS#{tenant}")
}

/// `H#2026-12-02T10` (an hour's bucket) or `D#2026-12-02` (a day's), in UTC: they sort as
/// their times do.
pub(super) fn stats_sk(granularity: Granularity, start_ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(start_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    match granularity {
        Granularity::Hour => format!("H#{}", at.strftime("%Y-%m-%dT%H")),
        Granularity::Day => format!("D#{}", at.strftime("%Y-%m-%d")),
    }
}

/// The start (epoch milliseconds) of the bucket a [`stats_sk`] names.
pub(super) fn stats_start(granularity: Granularity, sk: &str) -> Option<i64> {
    let (prefix, rest) = sk.split_once('#')?;
    let text = match (granularity, prefix) {
        (Granularity::Hour, "H") => format!("{rest}:00:00Z"),
        (Granularity::Day, "D") => format!("{rest}T00:00:00Z"),
        _ => return None,
    };
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

pub(super) fn stats_key(tenant: &TenantId, granularity: Granularity, start_ms: i64) -> Item {
    key(stats_pk(tenant), stats_sk(granularity, start_ms))
}

/// A request token DynamoDB accepts (at most 36 characters) standing for `text`.
pub(super) fn token_digest(text: &str) -> String {
    sha256_hex(text, 16)
}

// ------------------------------------------------------------------------------ purge

/// Where the purge stopped (a scan's `LastEvaluatedKey`), so the next run resumes there.
pub(super) fn purge_cursor_key() -> Item {
    key("CLEANUP#purge".to_owned(), "CURSOR".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::schedule::DueKind, store::tests::at};

    #[test]
    fn a_due_sort_key_names_its_notification_and_sorts_by_when_it_is_due() {
        let id = NotificationId::generate();
        let due = Due {
            kind: DueKind::Expire,
            at: at(2_000),
        };
        let index = due_keys(&id, &due);
        let sk = index["GSI2SK"].as_s().unwrap();
        assert_eq!(due_notification(sk), Some(id));
        assert!(sk.as_str() <= due_until(at(2_000)).as_str());
        assert!(sk.as_str() > due_until(at(1_999)).as_str());
        assert!(due_shards().any(|pk| AttributeValue::S(pk) == index["GSI2PK"]));
    }

    #[test]
    fn due_entries_spread_over_every_shard() {
        let shards: std::collections::HashSet<u32> = (0..2_000)
            .map(|_| due_shard(&NotificationId::generate()))
            .collect();
        assert_eq!(shards.len(), DUE_SHARDS as usize);
    }

    #[test]
    fn the_purge_tells_what_it_deletes_by_the_key() {
        let tenant = TenantId::new("acme");
        let kind_of = |item: Item| {
            let (pk, sk) = identity(&item).unwrap();
            kind(&pk, &sk)
        };
        let user = UserId::parse("ann").unwrap();
        let token = DeviceToken::parse("d1").unwrap();
        let batch = BatchId::parse("b1").unwrap();
        let id = NotificationId::generate();
        assert_eq!(kind_of(notification_key(&id)), Kind::Notification);
        assert_eq!(kind_of(notification_content_key(&id)), Kind::Other);
        assert_eq!(
            kind_of(idempotency_key(&tenant, "key")),
            Kind::IdempotencyKey
        );
        assert_eq!(kind_of(device_key(&tenant, &user, &token)), Kind::Device);
        assert_eq!(kind_of(batch_header_key(&tenant, &batch)), Kind::Other);
    }
}
