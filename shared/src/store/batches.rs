//! Batches: many notifications written at once, and their summary.
//!
//! The records of a batch are written in bulk (`bulk`), each carrying the batch's key in a
//! sparse index (`GSI3`, projecting the status), so a summary counts the statuses without
//! reading the records; a header item counts what each request accepted.
//!
//! Each request's [`Outbox`] says which of its notifications' queue messages are not known to
//! be sent. It is written before the records and settled once the messages are out: two
//! writes per request, where confirming each record would cost one per notification. One the
//! request never settled (it died between the two, or the queue refused some messages) falls
//! due after the grace period, and the sweep sends the messages of those still `queued`.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::{
    dynamo::{DynamoStore, Item, unavailable, value},
    error::StoreError,
    keys,
};
use crate::domain::{BatchId, Channel, NotificationId, Status, TenantId, time::Timestamp};

/// What a batch's summary says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    pub batch_id: BatchId,
    pub channels: BTreeSet<Channel>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Requests that added to the batch.
    pub requests: u64,
    /// Notifications accepted, and recipients refused, over all its requests.
    pub accepted: u64,
    pub rejected: u64,
    /// How many of its (unexpired) notifications are in each status.
    pub statuses: BTreeMap<Status, u64>,
}

/// What one request added to a batch.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub channel: Channel,
    pub accepted: u64,
    pub rejected: u64,
    pub now: Timestamp,
    /// When the header may go: when the batch's last record does.
    pub expires_at: Timestamp,
}

/// Positions in a request's plan (recipient indexes), kept as ranges: `0-9999`, `0-2,4,6-9`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexes(Vec<(u32, u32)>);

impl Indexes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(a, b)| a..=b)
    }
}

impl FromIterator<u32> for Indexes {
    fn from_iter<I: IntoIterator<Item = u32>>(all: I) -> Self {
        let mut sorted: Vec<u32> = all.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for i in sorted {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == i => *end = i,
                _ => ranges.push((i, i)),
            }
        }
        Self(ranges)
    }
}

impl std::fmt::Display for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for Indexes {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            ranges.push((a.parse()?, b.parse()?));
        }
        Ok(Self(ranges))
    }
}

/// The notifications of one bulk request whose queue messages are not known to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// This request's (a retry of the same request has its own).
    pub id: String,
    pub tenant: TenantId,
    /// The first id of the request's plan: its notifications are `first.nth(i)`.
    pub first: NotificationId,
    pub pending: Indexes,
    /// When the sweep takes over: the grace period after the request began.
    pub due_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Outbox {
    /// The ids of the notifications still pending.
    pub fn pending_ids(&self) -> impl Iterator<Item = (u32, NotificationId)> + '_ {
        self.pending.iter().map(|i| (i, self.first.nth(i)))
    }
}

#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Writes a request's outbox (before its records).
    async fn open_outbox(&self, outbox: &Outbox) -> Result<(), StoreError>;

    /// What is still pending: nothing (the outbox goes) or the notifications whose messages
    /// the queue refused, for the sweep.
    async fn settle_outbox(&self, outbox: &Outbox, left: &Indexes) -> Result<(), StoreError>;

    /// Outboxes due by `until`, at most `limit`: their requests never settled them.
    async fn due_outboxes(&self, until: Timestamp, limit: usize)
    -> Result<Vec<Outbox>, StoreError>;

    /// Adds one request's counts to the batch's header (creating it).
    async fn record_batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        request: &BatchRequest,
    ) -> Result<(), StoreError>;

    /// The batch's summary, or `None` when no request created it (or it expired).
    async fn batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        now: Timestamp,
    ) -> Result<Option<BatchSummary>, StoreError>;
}

// ------------------------------------------------------------------------------ DynamoDB

fn outbox_item(o: &Outbox) -> Result<Item, StoreError> {
    let mut item = keys::outbox_key(&o.id);
    item.extend(keys::outbox_due_keys(&o.id, o.due_at));
    item.extend([
        ("id".to_owned(), AttributeValue::S(o.id.clone())),
        ("tenant".to_owned(), AttributeValue::S(o.tenant.to_string())),
        ("first".to_owned(), AttributeValue::S(o.first.to_string())),
        (
            "pending".to_owned(),
            AttributeValue::S(o.pending.to_string()),
        ),
        ("dueAt".to_owned(), value(&o.due_at)?),
        (
            "ttl".to_owned(),
            AttributeValue::N(o.expires_at.as_seconds().to_string()),
        ),
    ]);
    Ok(item)
}

fn outbox_of(item: &Item) -> Option<Outbox> {
    let s = |k: &str| item.get(k)?.as_s().ok();
    let time = |k: &str| serde_dynamo::from_attribute_value(item.get(k)?.clone()).ok();
    Some(Outbox {
        id: s("id")?.clone(),
        tenant: TenantId::new(s("tenant")?.clone()),
        first: NotificationId::parse(s("first")?)?,
        pending: s("pending")?.parse().ok()?,
        due_at: time("dueAt")?,
        expires_at: Timestamp::from_millis(
            item.get("ttl")?
                .as_n()
                .ok()?
                .parse::<i64>()
                .ok()?
                .checked_mul(1000)?,
        )?,
    })
}

#[async_trait]
impl BatchStore for DynamoStore {
    async fn open_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(outbox_item(outbox)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn settle_outbox(&self, outbox: &Outbox, left: &Indexes) -> Result<(), StoreError> {
        if left.is_empty() {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(keys::outbox_key(&outbox.id)))
                .send()
                .await
                .map_err(unavailable)?;
        } else {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::outbox_key(&outbox.id)))
                .condition_expression("attribute_exists(PK)")
                .update_expression("SET pending = :pending")
                .expression_attribute_values(":pending", AttributeValue::S(left.to_string()))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn due_outboxes(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Outbox>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::DUE_INDEX)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK <= :upper")
            .expression_attribute_values(":pk", AttributeValue::S(keys::OUTBOX_DUE_PK.into()))
            .expression_attribute_values(":upper", AttributeValue::S(keys::due_until(until)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let mut found = Vec::new();
        for entry in out.items.unwrap_or_default() {
            let Some(key) = keys::primary_key(entry) else {
                continue;
            };
            // The index is eventually consistent: the outbox may be gone already.
            if let Some(outbox) = self.read(key).await?.as_ref().and_then(outbox_of) {
                found.push(outbox);
            }
        }
        Ok(found)
    }

    async fn record_batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        request: &BatchRequest,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::batch_header_key(tenant, batch)))
            .update_expression(
                "SET batchId = :batch, createdAt = if_not_exists(createdAt, :now), updatedAt = :now, \
                 #ttl = :ttl ADD accepted :accepted, rejected :rejected, requests :one, channels :channel",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":batch", AttributeValue::S(batch.to_string()))
            .expression_attribute_values(":now", value(&request.now)?)
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(request.expires_at.as_seconds().to_string()),
            )
            .expression_attribute_values(":accepted", AttributeValue::N(request.accepted.to_string()))
            .expression_attribute_values(":rejected", AttributeValue::N(request.rejected.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":channel",
                AttributeValue::Ss(vec![request.channel.as_str().to_owned()]),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        now: Timestamp,
    ) -> Result<Option<BatchSummary>, StoreError> {
        let header = self.read(keys::batch_header_key(tenant, batch)).await?;
        let Some(header) = header else {
            return Ok(None);
        };
        let number = |k: &str| {
            header
                .get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if number("ttl") <= now.as_seconds().max(0) as u64 {
            return Ok(None);
        }
        let time = |k: &str| {
            header
                .get(k)
                .and_then(|v| serde_dynamo::from_attribute_value::<_, Timestamp>(v.clone()).ok())
                .unwrap_or(now)
        };
        let channels = header
            .get("channels")
            .and_then(|v| v.as_ss().ok())
            .map(|ss| ss.iter().filter_map(|s| s.parse().ok()).collect())
            .unwrap_or_default();

        let mut statuses: BTreeMap<Status, u64> = BTreeMap::new();
        let now_s = AttributeValue::N(now.as_seconds().to_string());
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::BATCH_INDEX)
                .key_condition_expression("GSI3PK = :pk")
                .filter_expression("#ttl > :now")
                .projection_expression("#status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::batch_pk(tenant, batch)),
                )
                .expression_attribute_values(":now", now_s.clone())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                if let Some(status) = item
                    .get("status")
                    .and_then(|v| serde_dynamo::from_attribute_value::<_, Status>(v.clone()).ok())
                {
                    *statuses.entry(status).or_default() += 1;
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(Some(BatchSummary {
            batch_id: batch.clone(),
            channels,
            created_at: time("createdAt"),
            updated_at: time("updatedAt"),
            requests: number("requests"),
            accepted: number("accepted"),
            rejected: number("rejected"),
            statuses,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_kept_as_ranges() {
        let all: Indexes = [7, 0, 1, 2, 4, 8, 9, 2].into_iter().collect();
        assert_eq!(all.to_string(), "0-2,4,7-9");
        assert_eq!(all.iter().collect::<Vec<_>>(), [0, 1, 2, 4, 7, 8, 9]);
        assert_eq!("0-2,4,7-9".parse::<Indexes>().unwrap(), all);
        assert!("".parse::<Indexes>().unwrap().is_empty());
        assert!("1-x".parse::<Indexes>().is_err());
    }

    #[test]
    fn an_outbox_item_round_trips() {
        let outbox = Outbox {
            id: "r1".into(),
            tenant: TenantId::new("acme"),
            first: NotificationId::generate(),
            pending: (0..10_000).collect(),
            due_at: Timestamp::from_millis(1_800_000_120_000).unwrap(),
            expires_at: Timestamp::from_millis(1_800_086_400_000).unwrap(),
        };
        let item = outbox_item(&outbox).unwrap();
        assert_eq!(item["pending"], AttributeValue::S("0-9999".into()));
        assert_eq!(outbox_of(&item), Some(outbox));
    }
}
