//! Chat targets, a tenant's in one partition, and each target's send slot: Slack takes about
//! one message a second per channel, so every worker instance takes the next free second of
//! the target with a conditional write before it posts, and messages beyond the moment wait
//! (delayed, never failed).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    dynamo::{self, DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{EndpointName, TenantId, chat::ChatTarget, time::Timestamp};

/// A tenant keeps at most this many chat targets.
pub const MAX_CHAT_TARGETS: usize = 100;

#[async_trait]
pub trait ChatTargets: Send + Sync {
    async fn put_target(&self, tenant: &TenantId, target: &ChatTarget) -> Result<(), StoreError>;

    async fn target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<ChatTarget>, StoreError>;

    async fn targets(&self, tenant: &TenantId) -> Result<Vec<ChatTarget>, StoreError>;

    /// `false` when there was none.
    async fn delete_target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError>;

    /// Takes the next send slot of a pace lane (a Slack channel:
    /// [`ChatDestination::pace_lane`](crate::domain::chat::ChatDestination::pace_lane)),
    /// `interval` after the last one taken and not before `now`, if it begins within
    /// `max_wait`: its time. `Err(wait)` (nothing taken) when the next free slot is further
    /// away.
    async fn take_slot(
        &self,
        tenant: &TenantId,
        lane: &str,
        now: Timestamp,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<Result<Timestamp, Duration>, StoreError>;
}

/// How many times a slot is tried while other instances take the ones it read.
const SLOT_ATTEMPTS: usize = 20;

/// The slot after `last` (ms), given `now`: the later of the two.
pub(crate) fn next_slot(last: Option<i64>, now: Timestamp, interval: Duration) -> i64 {
    let after = last.map_or(i64::MIN, |l| l + interval.as_millis() as i64);
    after.max(now.as_millis())
}

#[async_trait]
impl ChatTargets for DynamoStore {
    async fn put_target(&self, tenant: &TenantId, target: &ChatTarget) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(target, "chat target")?;
        item.extend(keys::chat_target_key(tenant, &target.name));
        self.put(item).await
    }

    async fn target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<ChatTarget>, StoreError> {
        self.read(keys::chat_target_key(tenant, name))
            .await?
            .map(|item| dynamo::from_item(keys::strip(item), "chat target"))
            .transpose()
    }

    async fn targets(&self, tenant: &TenantId) -> Result<Vec<ChatTarget>, StoreError> {
        self.query_prefix(keys::chat_pk(tenant), keys::CHAT_TARGET_PREFIX)
            .await?
            .into_iter()
            .map(|item| dynamo::from_item(keys::strip(item), "chat target"))
            .collect()
    }

    async fn delete_target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::chat_target_key(tenant, name)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn take_slot(
        &self,
        tenant: &TenantId,
        lane: &str,
        now: Timestamp,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<Result<Timestamp, Duration>, StoreError> {
        let key = keys::chat_slot_key(tenant, lane);
        for _ in 0..SLOT_ATTEMPTS {
            let last = self
                .read(key.clone())
                .await?
                .and_then(|item| item.get("lastMs")?.as_n().ok()?.parse::<i64>().ok());
            let slot = next_slot(last, now, interval);
            let wait = Duration::from_millis((slot - now.as_millis()).max(0) as u64);
            if wait > max_wait {
                return Ok(Err(wait));
            }
            let ttl = (slot / 1000) + 3600;
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("SET lastMs = :slot, #ttl = :ttl")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":slot", AttributeValue::N(slot.to_string()))
                .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()));
            let update = match last {
                Some(l) => update
                    .condition_expression("lastMs = :last")
                    .expression_attribute_values(":last", AttributeValue::N(l.to_string())),
                None => update.condition_expression("attribute_not_exists(lastMs)"),
            };
            if dynamo::applied(update.send().await)? {
                return Ok(Ok(Timestamp::from_millis(slot).unwrap_or(now)));
            }
        }
        Err(StoreError::Unavailable(
            "the chat target's send slots are contended; retry".into(),
        ))
    }
}
