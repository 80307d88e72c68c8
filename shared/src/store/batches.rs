//! Batches: many notifications written at once, and their summary.
//!
//! The records of a batch are written with `BatchWriteItem` (25 puts a call, several calls in
//! flight), retrying what DynamoDB leaves unprocessed. Each record of a batch carries the
//! batch's key in a sparse index (`GSI3`, projecting the status), so a summary counts the
//! statuses without reading the records; a header item counts what each request accepted.
//!
//! | item | `PK` | `SK` | `GSI3PK` | `GSI3SK` |
//! |---|---|---|---|---|
//! | header | `BATCH#<tenant>#<batch>` | `BATCH` | | |
//! | notification of the batch | `NOTIFICATION#<id>` | `NOTIFICATION` | `BATCH#<tenant>#<batch>` | `<id>` |

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    time::Duration,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use futures::{StreamExt, stream};
use serde::Serialize;
use tracing::warn;

use super::{
    DynamoStore, MemoryStore, StoreError,
    dynamo::{Item, notification_key, to_item, unavailable, value},
};
use crate::domain::{BatchId, Channel, NotificationId, Status, TenantId, time::Timestamp};

/// The index of the records of a batch (sparse: only records sent in a batch).
pub const BATCH_INDEX: &str = "GSI3";
/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
const WRITE_CHUNK: usize = 25;
const GET_CHUNK: usize = 100;
/// Calls in flight at once: enough to hide the round trips, few enough not to throttle a
/// new on-demand table.
const IN_FLIGHT: usize = 16;
/// How long a bulk write keeps retrying what DynamoDB leaves unprocessed (a new on-demand
/// table throttles a burst until it scales), within the API's timeout.
pub const DEFAULT_BULK_BUDGET: Duration = Duration::from_secs(15);
/// Backoff between retries: doubling from the first, up to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub fn batch_pk(tenant: &TenantId, batch: &BatchId) -> String {
    format!("BATCH#{tenant}#{batch}")
}

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

#[async_trait]
pub trait BatchStore: Send + Sync {
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

// ------------------------------------------------------------------------------ in memory

#[async_trait]
impl BatchStore for MemoryStore {
    async fn record_batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        request: &BatchRequest,
    ) -> Result<(), StoreError> {
        self.check_up()?;
        let mut batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        let entry = batches
            .entry((tenant.clone(), batch.clone()))
            .or_insert_with(|| BatchSummary {
                batch_id: batch.clone(),
                channels: BTreeSet::new(),
                created_at: request.now,
                updated_at: request.now,
                requests: 0,
                accepted: 0,
                rejected: 0,
                statuses: BTreeMap::new(),
            });
        entry.channels.insert(request.channel);
        entry.updated_at = request.now;
        entry.requests += 1;
        entry.accepted += request.accepted;
        entry.rejected += request.rejected;
        Ok(())
    }

    async fn batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        now: Timestamp,
    ) -> Result<Option<BatchSummary>, StoreError> {
        self.check_up()?;
        let Some(mut summary) = self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant.clone(), batch.clone()))
            .cloned()
        else {
            return Ok(None);
        };
        for n in self.lock().values() {
            if &n.tenant == tenant && n.batch_id.as_ref() == Some(batch) && !n.is_expired(now) {
                *summary.statuses.entry(n.status).or_default() += 1;
            }
        }
        Ok(Some(summary))
    }
}

// ------------------------------------------------------------------------------ DynamoDB

impl DynamoStore {
    /// Puts the items, 25 a call with up to [`IN_FLIGHT`] calls at once, retrying unprocessed
    /// ones with backoff. Returns the ids whose records could not be written.
    pub(super) async fn put_all(&self, items: Vec<(NotificationId, Item)>) -> Vec<NotificationId> {
        let chunks: Vec<Vec<(NotificationId, Item)>> = {
            let mut chunks = Vec::new();
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                chunks.push(items.by_ref().take(WRITE_CHUNK).collect());
            }
            chunks
        };
        stream::iter(chunks)
            .map(|chunk| self.put_chunk(chunk))
            .buffer_unordered(IN_FLIGHT)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn put_chunk(&self, chunk: Vec<(NotificationId, Item)>) -> Vec<NotificationId> {
        let mut ids: HashMap<String, NotificationId> = HashMap::new();
        let mut requests = Vec::with_capacity(chunk.len());
        for (id, item) in chunk {
            let Ok(put) = PutRequest::builder().set_item(Some(item)).build() else {
                continue;
            };
            ids.insert(notification_key_string(&id), id);
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.write_batch(requests)
            .await
            .iter()
            .filter_map(|r| r.put_request()?.item().get("PK")?.as_s().ok())
            .filter_map(|pk| ids.remove(pk))
            .collect()
    }

    /// Sends up to 25 writes in one `BatchWriteItem`, then again what DynamoDB left
    /// unprocessed (or all of it, when the call failed), with backoff, within the bulk
    /// budget. Returns what is still not written.
    pub(super) async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Vec<WriteRequest> {
        let mut backoff = Backoff::new(self.bulk_budget);
        for round in 0u32.. {
            if requests.is_empty() || (round > 0 && !backoff.wait().await) {
                break;
            }
            match self
                .client
                .batch_write_item()
                .request_items(&self.table, requests.clone())
                .send()
                .await
            {
                Ok(out) => {
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                }
                Err(e) => {
                    warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), round, "BatchWriteItem failed; retrying");
                }
            }
        }
        requests
    }

    /// The keys of `ids` that exist, 100 a call.
    pub(super) async fn existing_ids(
        &self,
        ids: &[NotificationId],
    ) -> Result<HashSet<NotificationId>, StoreError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(GET_CHUNK) {
            let mut keys: Vec<Item> = chunk.iter().map(notification_key).collect();
            let mut backoff = Backoff::new(self.bulk_budget);
            for round in 0u32.. {
                if keys.is_empty() || (round > 0 && !backoff.wait().await) {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys.clone()))
                    .projection_expression("id")
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if let Some(id) = item
                        .get("id")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|s| NotificationId::parse(s))
                    {
                        found.insert(id);
                    }
                }
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable(
                    "BatchGetItem left keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }
}

/// The waits between the retries of one bulk call: doubling, jittered (half to all of the
/// delay, so retries of many concurrent calls spread out instead of colliding), within a
/// budget.
struct Backoff {
    started: std::time::Instant,
    delay: Duration,
    budget: Duration,
}

impl Backoff {
    fn new(budget: Duration) -> Self {
        Self {
            started: std::time::Instant::now(),
            delay: FIRST_BACKOFF,
            budget,
        }
    }

    /// Waits before the next retry; false, at once, when the budget does not allow one.
    async fn wait(&mut self) -> bool {
        if self.started.elapsed() + self.delay > self.budget {
            return false;
        }
        tokio::time::sleep(self.delay.mul_f64(rand::random_range(0.5..=1.0))).await;
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
        true
    }
}

fn notification_key_string(id: &NotificationId) -> String {
    match notification_key(id).remove("PK") {
        Some(AttributeValue::S(pk)) => pk,
        _ => String::new(),
    }
}

/// The batch index keys of a record sent in a batch.
pub(super) fn batch_keys(tenant: &TenantId, batch: &BatchId, id: &NotificationId) -> Item {
    HashMap::from([
        (
            "GSI3PK".to_owned(),
            AttributeValue::S(batch_pk(tenant, batch)),
        ),
        ("GSI3SK".to_owned(), AttributeValue::S(id.to_string())),
    ])
}

/// The records of `notifications`, ready for [`DynamoStore::put_all`].
pub(super) fn items(
    notifications: &[crate::domain::Notification],
) -> Result<Vec<(NotificationId, Item)>, StoreError> {
    notifications
        .iter()
        .map(|n| Ok((n.id.clone(), to_item(n)?)))
        .collect()
}

fn header_key(tenant: &TenantId, batch: &BatchId) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(batch_pk(tenant, batch))),
        ("SK".to_owned(), AttributeValue::S("BATCH".to_owned())),
    ])
}

#[async_trait]
impl BatchStore for DynamoStore {
    async fn record_batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        request: &BatchRequest,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(header_key(tenant, batch)))
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
        let header = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(header_key(tenant, batch)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .item;
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
                .index_name(BATCH_INDEX)
                .key_condition_expression("GSI3PK = :pk")
                .filter_expression("#ttl > :now")
                .projection_expression("#status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", AttributeValue::S(batch_pk(tenant, batch)))
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
    use aws_sdk_dynamodb::{Client, operation::batch_write_item::BatchWriteItemOutput};
    use aws_smithy_mocks::{Rule, RuleMode, mock};

    use super::*;
    use crate::{
        domain::Notification,
        store::{NotificationStore, tests::queued_email},
    };

    fn store(mode: RuleMode, rules: &[&Rule]) -> DynamoStore {
        let config = crate::test_support::mocked_config!(aws_sdk_dynamodb, mode, rules);
        DynamoStore::new(Client::from_conf(config), "t")
            .with_bulk_budget(Duration::from_millis(300))
    }

    fn three() -> Vec<Notification> {
        (0..3).map(|_| queued_email()).collect()
    }

    /// The put of `n` as DynamoDB hands it back unprocessed.
    fn unprocessed(n: &Notification) -> WriteRequest {
        let put = PutRequest::builder()
            .set_item(Some(to_item(n).unwrap()))
            .build()
            .unwrap();
        WriteRequest::builder().put_request(put).build()
    }

    fn sent(req: &aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput) -> usize {
        req.request_items().map_or(0, |items| items["t"].len())
    }

    #[tokio::test]
    async fn unprocessed_items_are_written_again_and_only_they() {
        let batch = three();
        let left = unprocessed(&batch[1]);
        let first = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == 3)
            .then_output(move || {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", vec![left.clone()])
                    .build()
            });
        let second = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == 1)
            .then_output(|| BatchWriteItemOutput::builder().build());
        let unwritten = store(RuleMode::Sequential, &[&first, &second])
            .insert_many(&batch)
            .await;
        assert!(unwritten.is_empty(), "{unwritten:?}");
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_item_left_unprocessed_every_round_is_reported_unwritten() {
        let batch = three();
        let stuck = batch[2].clone();
        let rule = mock!(Client::batch_write_item)
            .sequence()
            .output(move || {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", vec![unprocessed(&stuck)])
                    .build()
            })
            .repeatedly()
            .build();
        let started = std::time::Instant::now();
        let unwritten = store(RuleMode::MatchAny, &[&rule])
            .insert_many(&batch)
            .await;
        assert_eq!(unwritten, vec![batch[2].id.clone()]);
        assert!(
            rule.num_calls() >= 3,
            "retried with backoff: {}",
            rule.num_calls()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "within its budget"
        );
    }

    #[tokio::test]
    async fn records_are_cut_in_calls_of_at_most_25() {
        let batch: Vec<Notification> = (0..60).map(|_| queued_email()).collect();
        // A call of any other size matches no rule and fails: its records come back unwritten.
        let rule = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == WRITE_CHUNK || sent(r) == 10)
            .sequence()
            .output(|| BatchWriteItemOutput::builder().build())
            .repeatedly()
            .build();
        let unwritten = store(RuleMode::MatchAny, &[&rule])
            .insert_many(&batch)
            .await;
        assert!(unwritten.is_empty(), "{unwritten:?}");
        assert_eq!(rule.num_calls(), 3);
    }
}
