//! The suppression list: one item per tenant, channel and address in the tenant's
//! `SUPPRESSIONS#` partition, sorted by channel then address, so the worker's check is one
//! `GetItem` and a listing is one `Query` per page.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, Item, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    Channel, NotificationId, SuppressedAddress, Suppression, SuppressionReason, TenantId,
    time::Timestamp,
};

/// What a listing keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuppressionFilter {
    pub channel: Option<Channel>,
    pub reason: Option<SuppressionReason>,
}

/// One page of a listing, and where the next starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressionPage {
    pub items: Vec<Suppression>,
    pub next: Option<String>,
}

#[async_trait]
pub trait SuppressionList: Send + Sync {
    async fn suppression(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<Option<Suppression>, StoreError>;

    /// Adds the entry. An address already listed keeps its entry unless `replace` (a tenant's
    /// own `PUT` replaces; a second bounce does not). True if this call wrote it.
    async fn suppress(&self, entry: &Suppression, replace: bool) -> Result<bool, StoreError>;

    /// False if it was not listed.
    async fn unsuppress(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` entries after the position `after` (a page's `next`), by channel then
    /// address.
    async fn suppressions(
        &self,
        tenant: &TenantId,
        filter: &SuppressionFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError>;
}

/// The stored form: the key holds the tenant, channel and address.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    channel: Channel,
    address: String,
    reason: SuppressionReason,
    created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notification_id: Option<NotificationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

fn to_item(s: &Suppression) -> Result<Item, StoreError> {
    let mut item = dynamo::to_item(
        &Stored {
            channel: s.address.channel(),
            address: s.address.as_str().to_owned(),
            reason: s.reason,
            created_at: s.created_at,
            notification_id: s.notification_id.clone(),
            detail: s.detail.clone(),
        },
        "suppression",
    )?;
    item.extend(keys::suppression_key(&s.tenant, &s.address));
    Ok(item)
}

fn from_item(tenant: &TenantId, item: Item) -> Result<Suppression, StoreError> {
    let stored: Stored = dynamo::from_item(keys::strip(item), "suppression")?;
    Ok(Suppression {
        tenant: tenant.clone(),
        address: SuppressedAddress::from_stored(stored.channel, stored.address),
        reason: stored.reason,
        created_at: stored.created_at,
        notification_id: stored.notification_id,
        detail: stored.detail,
    })
}

/// A listing reads at most this many items per call when a reason filter discards most of
/// them, and then returns a shorter page with its `next`.
const MAX_READ_PER_PAGE: usize = 1_000;

#[async_trait]
impl SuppressionList for DynamoStore {
    async fn suppression(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<Option<Suppression>, StoreError> {
        self.read(keys::suppression_key(tenant, address))
            .await?
            .map(|item| from_item(tenant, item))
            .transpose()
    }

    async fn suppress(&self, entry: &Suppression, replace: bool) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(entry)?));
        let put = if replace {
            put
        } else {
            put.condition_expression("attribute_not_exists(PK)")
        };
        dynamo::applied(put.send().await)
    }

    async fn unsuppress(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::suppression_key(tenant, address)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn suppressions(
        &self,
        tenant: &TenantId,
        filter: &SuppressionFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let pk = keys::suppressions_pk(tenant);
        let prefix = keys::suppression_sk_prefix(filter.channel);
        let mut start = after
            .filter(|sk| sk.starts_with(&prefix))
            .map(|sk| keys::key(pk.clone(), sk.to_owned()));
        let mut items = Vec::new();
        let mut read = 0;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .set_exclusive_start_key(start.take())
                // One more than asked: whether there is a next page is then known.
                .limit((limit + 1 - items.len()) as i32);
            // DynamoDB refuses an empty `begins_with` prefix: all channels is the partition.
            query = if prefix.is_empty() {
                query.key_condition_expression("PK = :pk")
            } else {
                query
                    .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
            };
            if let Some(reason) = filter.reason {
                query = query
                    // `reason` is one of DynamoDB's reserved words.
                    .filter_expression("#reason = :reason")
                    .expression_attribute_names("#reason", "reason")
                    .expression_attribute_values(
                        ":reason",
                        AttributeValue::S(reason.as_str().into()),
                    );
            }
            let page = query.send().await.map_err(unavailable)?;
            read += page.scanned_count.max(0) as usize;
            for item in page.items.unwrap_or_default() {
                let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned();
                items.push((sk, from_item(tenant, item)?));
            }
            if items.len() > limit {
                items.truncate(limit);
                let next = items.last().and_then(|(sk, _)| sk.clone());
                return Ok(page_of(items, next));
            }
            match page.last_evaluated_key {
                None => return Ok(page_of(items, None)),
                Some(last) if read >= MAX_READ_PER_PAGE => {
                    let next = last.get("SK").and_then(|v| v.as_s().ok()).cloned();
                    return Ok(page_of(items, next));
                }
                Some(last) => start = Some(last),
            }
        }
    }
}

fn page_of(items: Vec<(Option<String>, Suppression)>, next: Option<String>) -> SuppressionPage {
    SuppressionPage {
        items: items.into_iter().map(|(_, s)| s).collect(),
        next,
    }
}
