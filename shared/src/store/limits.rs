//! Counters that enforce a tenant's limits: requests per one-minute window and notifications
//! per channel per UTC day. Each is one item, changed only by a conditional `ADD`, so the cap
//! holds exactly however many API functions count at once: DynamoDB applies the writes to one
//! item one after the other, and one that would pass the limit changes nothing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{
    dynamo::{self, DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::TenantId;

/// How often [`LimitCounters::add_what_fits`] tries again while other writers move the counter.
const FIT_ATTEMPTS: usize = 10;

#[async_trait]
pub trait LimitCounters: Send + Sync {
    /// Adds `cost` to the tenant's `counter` unless the total would pass `limit`: the new
    /// total, or `None` (nothing added). The counter leaves the table after `expires_at`
    /// (epoch seconds).
    async fn add_within(
        &self,
        tenant: &TenantId,
        counter: &str,
        cost: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<Option<u32>, StoreError>;

    /// Adds as much of `want` as fits under `limit`: how much it added (0 when full).
    async fn add_what_fits(
        &self,
        tenant: &TenantId,
        counter: &str,
        want: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<u32, StoreError>;
}

/// The counter's value, when it exists.
fn count_of(item: &dynamo::Item) -> Option<u32> {
    item.get("n")?.as_n().ok()?.parse().ok()
}

impl DynamoStore {
    /// `ADD n :cost` if `n` is what `expected` says (`None`: absent), else `n <= limit - cost`
    /// when `expected` is not given: the new total, or `None` when the condition failed.
    async fn add_counter(
        &self,
        tenant: &TenantId,
        counter: &str,
        cost: u32,
        condition: (&str, Option<u32>),
        expires_at: i64,
    ) -> Result<Option<u32>, StoreError> {
        let (expression, bound) = condition;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::limit_counter_key(tenant, counter)))
            .update_expression("ADD n :cost SET #ttl = :ttl")
            .condition_expression(expression)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":cost", AttributeValue::N(cost.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew);
        if let Some(bound) = bound {
            update =
                update.expression_attribute_values(":bound", AttributeValue::N(bound.to_string()));
        }
        match update.send().await {
            Ok(out) => Ok(out.attributes().and_then(count_of).or(Some(cost))),
            Err(e) if dynamo::condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl LimitCounters for DynamoStore {
    async fn add_within(
        &self,
        tenant: &TenantId,
        counter: &str,
        cost: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<Option<u32>, StoreError> {
        let Some(room) = limit.checked_sub(cost) else {
            return Ok(None);
        };
        self.add_counter(
            tenant,
            counter,
            cost,
            ("attribute_not_exists(n) OR n <= :bound", Some(room)),
            expires_at,
        )
        .await
    }

    async fn add_what_fits(
        &self,
        tenant: &TenantId,
        counter: &str,
        want: u32,
        limit: u32,
        expires_at: i64,
    ) -> Result<u32, StoreError> {
        if want == 0 {
            return Ok(0);
        }
        if self
            .add_within(tenant, counter, want, limit, expires_at)
            .await?
            .is_some()
        {
            return Ok(want);
        }
        // Not all of it: read what is left, and take that unless another writer moved first.
        for _ in 0..FIT_ATTEMPTS {
            let seen = self
                .read(keys::limit_counter_key(tenant, counter))
                .await?
                .as_ref()
                .and_then(count_of);
            let fits = want.min(limit.saturating_sub(seen.unwrap_or(0)));
            if fits == 0 {
                return Ok(0);
            }
            let condition = match seen {
                Some(n) => ("n = :bound", Some(n)),
                None => ("attribute_not_exists(n)", None),
            };
            if self
                .add_counter(tenant, counter, fits, condition, expires_at)
                .await?
                .is_some()
            {
                return Ok(fits);
            }
        }
        Err(StoreError::Unavailable(
            "the quota counter kept moving; retry the request".into(),
        ))
    }
}
