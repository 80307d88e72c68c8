//! The purge: DynamoDB TTL deletes expired items up to days late, so the hourly cleanup
//! deletes what it has not removed yet, resuming where the last run stopped.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    dynamo::{self, DynamoStore, Item, unavailable},
    error::StoreError,
    keys::{self, Kind},
};
use crate::domain::time::Timestamp;

/// What one purge run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub notifications: usize,
    pub idempotency_keys: usize,
    pub devices: usize,
    /// False when the run stopped at its deadline; the next run resumes where it stopped.
    pub complete: bool,
}

#[async_trait]
pub trait Purge: Send + Sync {
    /// Deletes every item past its `ttl` (notifications past retention, idempotency keys,
    /// devices not seen for their idle limit) that DynamoDB TTL, which deletes lazily, has not
    /// removed yet. Stops at `deadline` and resumes there on the next call.
    async fn purge(
        &self,
        now: Timestamp,
        deadline: std::time::Instant,
    ) -> Result<PurgeReport, StoreError>;
}

#[async_trait]
impl Purge for DynamoStore {
    async fn purge(
        &self,
        now: Timestamp,
        deadline: std::time::Instant,
    ) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        let mut start: Option<Item> = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::purge_cursor_key()))
            .send()
            .await
            .map_err(unavailable)?
            .item
            .and_then(|mut i| match i.remove("lastKey") {
                Some(AttributeValue::M(k)) => Some(k),
                _ => None,
            });
        let now_s = AttributeValue::N(now.as_seconds().to_string());
        loop {
            if std::time::Instant::now() >= deadline {
                // UpdateItem, not PutItem: the cleanup's role may not put items.
                let update = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::purge_cursor_key()));
                let update = match start {
                    Some(k) => update
                        .update_expression("SET lastKey = :k")
                        .expression_attribute_values(":k", AttributeValue::M(k)),
                    None => update.update_expression("REMOVE lastKey"),
                };
                update.send().await.map_err(unavailable)?;
                return Ok(report);
            }
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#ttl < :now")
                .projection_expression("PK, SK")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", now_s.clone())
                .set_exclusive_start_key(start.take())
                .limit(500)
                .send()
                .await
                .map_err(unavailable)?;
            for key in page.items.unwrap_or_default() {
                let kind = match keys::identity(&key) {
                    Some((pk, sk)) => keys::kind(&pk, &sk),
                    None => continue,
                };
                // Conditional: an item renewed since the scan read it (a device registered
                // again) stays.
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .condition_expression("#ttl < :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", now_s.clone())
                    .send()
                    .await;
                if dynamo::applied(deleted)? {
                    match kind {
                        Kind::Notification => report.notifications += 1,
                        Kind::IdempotencyKey => report.idempotency_keys += 1,
                        Kind::Device => report.devices += 1,
                        Kind::Other => {}
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(keys::purge_cursor_key()))
                        .send()
                        .await
                        .map_err(unavailable)?;
                    report.complete = true;
                    return Ok(report);
                }
            }
        }
    }
}
