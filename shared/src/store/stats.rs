//! Counters of status changes, per tenant, hour (and day), channel and status, kept by the
//! `changes` function from the table's stream (never by scanning records). One item per
//! tenant and bucket, in the tenant's `STATS#` partition, one number attribute per channel
//! and status (`email_delivered`), so a range of buckets is one `Query`.
//!
//! A stream batch's counts are added in one transaction per 50 buckets with a client token
//! derived from the batch: DynamoDB applies a retried transaction with the same token only
//! once (within 10 minutes), so a batch Lambda retries is not counted twice.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::{
    dynamo::{DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    Channel, TenantId,
    stats::{Counted, Granularity},
};

/// One bucket's key: whose, which granularity, starting when (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub tenant: TenantId,
    pub granularity: Granularity,
    pub start: i64,
}

/// Counts by channel and what was counted.
pub type Counts = BTreeMap<(Channel, Counted), u64>;

/// The counts to add, by bucket.
pub type Additions = BTreeMap<BucketKey, Counts>;

#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Adds the counts, once per `token` (a retry with the same token and the same counts
    /// adds nothing more).
    async fn add(&self, additions: &Additions, token: &str) -> Result<(), StoreError>;

    /// The non-empty buckets of the tenant at `granularity` starting in `[from, to)`
    /// (epoch milliseconds), by start.
    async fn buckets(
        &self,
        tenant: &TenantId,
        granularity: Granularity,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError>;
}

/// Buckets per transaction: DynamoDB takes at most 100 actions in one.
const BUCKETS_PER_TRANSACTION: usize = 50;

fn attribute(channel: Channel, counted: Counted) -> String {
    format!("{}_{}", channel.as_str(), counted.as_str())
}

fn counts_of(item: &super::dynamo::Item) -> Counts {
    let mut counts = Counts::new();
    for channel in Channel::ALL {
        for counted in Counted::ALL {
            if let Some(AttributeValue::N(n)) = item.get(&attribute(channel, counted))
                && let Ok(n) = n.parse::<u64>()
                && n > 0
            {
                counts.insert((channel, counted), n);
            }
        }
    }
    counts
}

#[async_trait]
impl StatsStore for DynamoStore {
    async fn add(&self, additions: &Additions, token: &str) -> Result<(), StoreError> {
        let buckets: Vec<(&BucketKey, &Counts)> = additions.iter().collect();
        for (chunk_index, chunk) in buckets.chunks(BUCKETS_PER_TRANSACTION).enumerate() {
            let mut items = Vec::new();
            for (key, counts) in chunk {
                let mut update =
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(keys::stats_key(
                            &key.tenant,
                            key.granularity,
                            key.start,
                        )));
                let mut adds = Vec::new();
                for (i, ((channel, counted), n)) in counts.iter().enumerate() {
                    update = update
                        .expression_attribute_names(format!("#a{i}"), attribute(*channel, *counted))
                        .expression_attribute_values(
                            format!(":n{i}"),
                            AttributeValue::N(n.to_string()),
                        );
                    adds.push(format!("#a{i} :n{i}"));
                }
                let update = update
                    .update_expression(format!("ADD {}", adds.join(", ")))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
            let chunk_token = keys::token_digest(&format!("{token}#{chunk_index}"));
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(chunk_token)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn buckets(
        &self,
        tenant: &TenantId,
        granularity: Granularity,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let (low, high) = (
            keys::stats_sk(granularity, from),
            keys::stats_sk(granularity, to - 1),
        );
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
                .expression_attribute_values(":pk", AttributeValue::S(keys::stats_pk(tenant)))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                let Some(at) = item
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| keys::stats_start(granularity, sk))
                else {
                    continue;
                };
                let counts = counts_of(&item);
                if !counts.is_empty() {
                    found.push((at, counts));
                }
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }
}
