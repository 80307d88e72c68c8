//! The in-app inbox, in the user's partition (so erasing the user takes it too): one item per
//! in-app notification, the user's counters, and a log of changes a delta is read from.
//!
//! Every write that moves a counter is one transaction with the items it changes, each
//! conditional on the state it was computed from: a repeated delivery adds nothing, a
//! repeated or concurrent mark counts once. The log is in the same partition and transaction,
//! so a delta read just after a change sees it (no index lag); its entries expire after
//! [`INBOX_LOG_RETENTION`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::{
    dynamo::{self, DynamoStore, Item, corrupt, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    NotificationId, TenantId, UserId,
    inbox::{InboxChange, InboxCounts, InboxFilter, InboxItem},
    time::Timestamp,
};

/// How long a change stays in the log: a client away longer resyncs from the feed itself.
pub const INBOX_LOG_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The changes one transaction applies (DynamoDB: 100 actions; two per change, one counter).
pub const MAX_CHANGES_PER_WRITE: usize = 49;
/// What one page read looks at, at most, when a filter discards most items.
const MAX_SCANNED_PER_PAGE: usize = 1_000;

/// One page of a feed, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// The last item's id when more may follow.
    pub next: Option<NotificationId>,
}

/// The changes after a point, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboxDelta {
    pub items: Vec<InboxItem>,
    /// The log position to continue from when the answer was cut at its limit.
    pub more_after: Option<Timestamp>,
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a new item and counts it; `false` (nothing written) when it is there already.
    async fn add(
        &self,
        tenant: &TenantId,
        user: &UserId,
        item: &InboxItem,
        expires: Timestamp,
    ) -> Result<bool, StoreError>;

    async fn item(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<InboxItem>, StoreError>;

    /// The items `filter` keeps, newest first, after the item `after`.
    async fn items(
        &self,
        tenant: &TenantId,
        user: &UserId,
        filter: &InboxFilter,
        after: Option<&NotificationId>,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxPage, StoreError>;

    async fn counts(&self, tenant: &TenantId, user: &UserId) -> Result<InboxCounts, StoreError>;

    /// Applies every change or none; `false` when an item changed since it was read (read
    /// again and recompute).
    async fn apply(
        &self,
        tenant: &TenantId,
        user: &UserId,
        changes: &[InboxChange],
    ) -> Result<bool, StoreError>;

    /// The items changed at or after `since`, in the order they changed, at most `limit`.
    async fn changed_since(
        &self,
        tenant: &TenantId,
        user: &UserId,
        since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxDelta, StoreError>;

    /// Records that the user's app has the item; `true` only the first time.
    async fn mark_delivered(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Takes item `id`, gone (expired, purged), out of the counters by what it counted
    /// (`counts`). Told twice within minutes (a stream batch handed again), it counts once.
    async fn uncount(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        counts: InboxCounts,
    ) -> Result<(), StoreError>;
}

fn from_item(item: Item) -> Result<InboxItem, StoreError> {
    dynamo::from_item(strip(item), "inbox item")
}

/// The item's own attributes, without the table's and the bookkeeping ones.
fn strip(mut item: Item) -> Item {
    item.remove("deliveredAt");
    keys::strip(item)
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The optional state attributes: removed when the item no longer has them.
const STATE_ATTRIBUTES: [&str; 3] = ["seenAt", "readAt", "archivedAt"];

impl DynamoStore {
    fn log_put(
        &self,
        tenant: &TenantId,
        user: &UserId,
        item: &InboxItem,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut entry = keys::inbox_log_key(tenant, user, item.changed_at.as_millis(), &item.id);
        entry.insert("id".into(), AttributeValue::S(item.id.as_str().to_owned()));
        let expires = item.changed_at.plus(INBOX_LOG_RETENTION);
        entry.insert(
            "ttl".into(),
            AttributeValue::N(expires.as_seconds().to_string()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(entry))
            .build()
            .map_err(|e| corrupt("inbox log", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn counts_update(
        &self,
        tenant: &TenantId,
        user: &UserId,
        delta: InboxCounts,
    ) -> Result<TransactWriteItem, StoreError> {
        self.counts_change(tenant, user, delta, None)
    }

    /// The counters moved by `delta`, under `condition` when given.
    fn counts_change(
        &self,
        tenant: &TenantId,
        user: &UserId,
        delta: InboxCounts,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::inbox_counts_key(tenant, user)))
            .update_expression("ADD unread :u, unseen :s")
            .set_condition_expression(condition.map(str::to_owned))
            .expression_attribute_values(":u", AttributeValue::N(delta.unread.to_string()))
            .expression_attribute_values(":s", AttributeValue::N(delta.unseen.to_string()))
            .build()
            .map_err(|e| corrupt("inbox counts", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The item's state written over what it was, if it still is what `change` was read from.
    fn change_update(
        &self,
        tenant: &TenantId,
        user: &UserId,
        change: &InboxChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let attributes = dynamo::to_item(&change.item, "inbox item")?;
        let mut set = Vec::new();
        let mut values = Item::new();
        let mut names = std::collections::HashMap::new();
        for (i, (k, v)) in attributes.into_iter().enumerate() {
            if k == "id" {
                continue;
            }
            set.push(format!("#a{i} = :a{i}"));
            names.insert(format!("#a{i}"), k);
            values.insert(format!(":a{i}"), v);
        }
        let removed: Vec<String> = STATE_ATTRIBUTES
            .iter()
            .filter(|a| !names.values().any(|n| n == *a))
            .map(|a| (*a).to_owned())
            .collect();
        let mut expression = format!("SET {}", set.join(", "));
        if !removed.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
        }
        values.insert(":before".into(), dynamo::value(&change.before)?);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::inbox_item_key(tenant, user, &change.item.id)))
            .update_expression(expression)
            .condition_expression("changedAt = :before")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| corrupt("inbox item", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a transaction (applied once per `token` for 10 minutes, when given); `false` when
    /// it was cancelled (a condition, or a concurrent one).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// How many times an add is tried while concurrent writes to the counters cancel it.
const ADD_ATTEMPTS: usize = 10;

#[async_trait]
impl InboxStore for DynamoStore {
    async fn add(
        &self,
        tenant: &TenantId,
        user: &UserId,
        item: &InboxItem,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut record = dynamo::to_item(item, "inbox item")?;
        record.extend(keys::inbox_item_key(tenant, user, &item.id));
        record.insert(
            "ttl".into(),
            AttributeValue::N(expires.as_seconds().to_string()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| corrupt("inbox item", e))?;
        for _ in 0..ADD_ATTEMPTS {
            let items = vec![
                TransactWriteItem::builder().put(put.clone()).build(),
                self.counts_update(tenant, user, item.counts())?,
                self.log_put(tenant, user, item)?,
            ];
            if self.transact(items, None).await? {
                return Ok(true);
            }
            // Cancelled: because the item is there (a repeated delivery), or because a
            // concurrent mark held the counters.
            let existing = self
                .read(keys::inbox_item_key(tenant, user, &item.id))
                .await?;
            if existing.is_some() {
                return Ok(false);
            }
        }
        Err(StoreError::Unavailable(
            "the inbox is being changed concurrently; retry".into(),
        ))
    }

    async fn item(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<InboxItem>, StoreError> {
        match self.read(keys::inbox_item_key(tenant, user, id)).await? {
            Some(item) if !dynamo::expired(&item, now) => from_item(item).map(Some),
            _ => Ok(None),
        }
    }

    async fn items(
        &self,
        tenant: &TenantId,
        user: &UserId,
        filter: &InboxFilter,
        after: Option<&NotificationId>,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxPage, StoreError> {
        let pk = keys::user_pk(tenant, user);
        let mut start = after.map(|id| keys::inbox_item_key(tenant, user, id));
        let mut page = InboxPage::default();
        let mut scanned = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(keys::INBOX_ITEM_PREFIX.to_owned()),
                )
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit(((limit + 1).saturating_sub(page.items.len())).max(1) as i32)
                .send()
                .await
                .map_err(unavailable)?;
            scanned += out.scanned_count.max(0) as usize;
            let mut last_seen = None;
            for raw in out.items.unwrap_or_default() {
                if dynamo::expired(&raw, now) {
                    continue;
                }
                let item = from_item(raw)?;
                last_seen = Some(item.id.clone());
                if item.matches(filter) {
                    page.items.push(item);
                }
            }
            if page.items.len() > limit {
                page.items.truncate(limit);
                page.next = page.items.last().map(|i| i.id.clone());
                return Ok(page);
            }
            match out.last_evaluated_key {
                None => return Ok(page),
                // A filter that keeps few items: answer what was found, and where to go on.
                Some(last) if scanned >= MAX_SCANNED_PER_PAGE => {
                    page.next = last
                        .get("SK")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|sk| sk.strip_prefix(keys::INBOX_ITEM_PREFIX))
                        .and_then(NotificationId::parse)
                        .or(last_seen);
                    return Ok(page);
                }
                Some(last) => start = Some(last),
            }
        }
    }

    async fn counts(&self, tenant: &TenantId, user: &UserId) -> Result<InboxCounts, StoreError> {
        let item = self
            .read(keys::inbox_counts_key(tenant, user))
            .await?
            .unwrap_or_default();
        Ok(InboxCounts {
            unread: number(&item, "unread"),
            unseen: number(&item, "unseen"),
        })
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        user: &UserId,
        changes: &[InboxChange],
    ) -> Result<bool, StoreError> {
        if changes.is_empty() {
            return Ok(true);
        }
        let mut items = Vec::with_capacity(changes.len() * 2 + 1);
        let mut delta = InboxCounts::default();
        for change in changes.iter().take(MAX_CHANGES_PER_WRITE) {
            items.push(self.change_update(tenant, user, change)?);
            items.push(self.log_put(tenant, user, &change.item)?);
            delta = delta.plus(change.delta);
        }
        if !delta.is_zero() {
            items.push(self.counts_update(tenant, user, delta)?);
        }
        self.transact(items, None).await
    }

    async fn changed_since(
        &self,
        tenant: &TenantId,
        user: &UserId,
        since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxDelta, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(tenant, user)))
            .expression_attribute_values(
                ":from",
                AttributeValue::S(keys::inbox_log_sk(since.as_millis(), None)),
            )
            // `~` sorts after every digit: the end of the log.
            .expression_attribute_values(
                ":to",
                AttributeValue::S(format!("{}~", keys::INBOX_LOG_PREFIX)),
            )
            .consistent_read(true)
            .limit(limit as i32 + 1)
            .send()
            .await
            .map_err(unavailable)?;
        let entries = out.items.unwrap_or_default();
        let cut = entries.len() > limit;
        let mut ids: Vec<(NotificationId, i64)> = Vec::new();
        for entry in entries.iter().take(limit) {
            let sk = entry.get("SK").and_then(|v| v.as_s().ok());
            let ms = sk
                .and_then(|sk| sk.strip_prefix(keys::INBOX_LOG_PREFIX))
                .and_then(|rest| rest.get(..13))
                .and_then(|ms| ms.parse::<i64>().ok())
                .unwrap_or_default();
            let id = entry
                .get("id")
                .and_then(|v| v.as_s().ok())
                .and_then(|id| NotificationId::parse(id));
            if let Some(id) = id {
                // An item changed twice is answered once, where it last changed.
                ids.retain(|(seen, _)| seen != &id);
                ids.push((id, ms));
            }
        }
        let more_after = if cut {
            ids.last().and_then(|(_, ms)| Timestamp::from_millis(*ms))
        } else {
            None
        };
        let mut delta = InboxDelta {
            items: Vec::with_capacity(ids.len()),
            more_after,
        };
        // The items in one batch read, answered in the order they changed.
        let item_keys: Vec<Item> = ids
            .iter()
            .map(|(id, _)| keys::inbox_item_key(tenant, user, id))
            .collect();
        let mut found: std::collections::HashMap<String, InboxItem> = self
            .get_all(&item_keys, None)
            .await?
            .into_iter()
            .filter(|item| !dynamo::expired(item, now))
            .map(|item| from_item(item).map(|i| (i.id.as_str().to_owned(), i)))
            .collect::<Result<_, _>>()?;
        delta.items = ids
            .iter()
            .filter_map(|(id, _)| found.remove(id.as_str()))
            .collect();
        Ok(delta)
    }

    async fn mark_delivered(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::inbox_item_key(tenant, user, id)))
            .update_expression("SET deliveredAt = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(deliveredAt)")
            .expression_attribute_values(":now", dynamo::value(&now)?)
            .send()
            .await;
        dynamo::applied(result)
    }

    async fn uncount(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        counts: InboxCounts,
    ) -> Result<(), StoreError> {
        if counts.is_zero() {
            return Ok(());
        }
        // Only counters that exist: an erased user's are gone, and stay gone.
        let update = self.counts_change(
            tenant,
            user,
            InboxCounts::default().minus(counts),
            Some("attribute_exists(PK)"),
        )?;
        // DynamoDB applies a transaction's token once for 10 minutes: a stream batch handed
        // again within them does not count the item out twice. Cancelled: no counters.
        let token = keys::token_digest(&format!("inbox-gone#{tenant}#{}#{id}", user.as_str()));
        self.transact(vec![update], Some(token)).await.map(|_| ())
    }
}
