//! The suppression list: one item per tenant, channel and address in the tenant's
//! `SUPPRESSIONS#` partition, sorted by channel then address, so the worker's check is one
//! `GetItem` and a listing is one `Query` per page.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, Item, PrefixPage, unavailable},
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
        let prefix = keys::suppression_sk_prefix(filter.channel);
        let (items, next) = self
            .page_prefix(PrefixPage {
                pk: keys::suppressions_pk(tenant),
                prefix: &prefix,
                filter: filter.reason.map(|r| ("reason", r.as_str().to_owned())),
                after,
                limit,
                forward: true,
            })
            .await?;
        Ok(SuppressionPage {
            items: items
                .into_iter()
                .map(|(_, item)| from_item(tenant, item))
                .collect::<Result<_, _>>()?,
            next,
        })
    }
}
