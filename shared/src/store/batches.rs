//! Batches: many notifications written at once, and their summary.
//!
//! The records of a batch are written in bulk (`bulk`), each carrying the batch's key in a
//! sparse index (`GSI3`, projecting the status), so a summary counts the statuses without
//! reading the records; a header item counts what each request accepted.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::{
    dynamo::{DynamoStore, unavailable, value},
    error::StoreError,
    keys,
};
use crate::domain::{BatchId, Channel, Status, TenantId, time::Timestamp};

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

// ------------------------------------------------------------------------------ DynamoDB

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
