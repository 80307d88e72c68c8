//! Status callbacks: a tenant's subscriptions (one item, replaced whole) and the record of
//! each callback that did not succeed at its first attempt, in the tenant's `CALLBACKS#`
//! partition. A callback delivered at once leaves no record: most never need one, and a
//! write per callback would cost as much as the callback.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    dynamo::{self, DynamoStore, Item, PrefixPage, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    TenantId,
    callback::{CallbackDelivery, CallbackDeliveryStatus, Subscriptions},
};

/// How long the record of a callback is kept after its last attempt.
pub const CALLBACK_DELIVERY_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// One page of callback deliveries, and where the next starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackDeliveryPage {
    pub items: Vec<CallbackDelivery>,
    pub next: Option<String>,
}

#[async_trait]
pub trait CallbackSubscriptions: Send + Sync {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Subscriptions>, StoreError>;

    async fn put_subscriptions(
        &self,
        tenant: &TenantId,
        subscriptions: &Subscriptions,
    ) -> Result<(), StoreError>;

    async fn delete_subscriptions(&self, tenant: &TenantId) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CallbackDeliveries: Send + Sync {
    /// Writes the delivery's record as it stands now (it replaces the one of its last attempt).
    async fn record_delivery(&self, delivery: &CallbackDelivery) -> Result<(), StoreError>;

    /// Up to `limit` records after the position `after` (a page's `next`), newest
    /// notification first, only those in `status` if given.
    async fn deliveries(
        &self,
        tenant: &TenantId,
        status: Option<CallbackDeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CallbackDeliveryPage, StoreError>;
}

#[async_trait]
impl CallbackSubscriptions for DynamoStore {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Subscriptions>, StoreError> {
        self.read(keys::callback_subscriptions_key(tenant))
            .await?
            .map(|item| dynamo::from_item(keys::strip(item), "callback subscriptions"))
            .transpose()
    }

    async fn put_subscriptions(
        &self,
        tenant: &TenantId,
        subscriptions: &Subscriptions,
    ) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(subscriptions, "callback subscriptions")?;
        item.extend(keys::callback_subscriptions_key(tenant));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_subscriptions(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::callback_subscriptions_key(tenant)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn to_item(d: &CallbackDelivery) -> Result<Item, StoreError> {
    let mut item = dynamo::to_item(d, "callback delivery")?;
    item.extend(keys::callback_delivery_key(
        &d.tenant,
        &d.webhook_id,
        d.url.as_str(),
    ));
    let ttl = d
        .last_attempt_at
        .plus(CALLBACK_DELIVERY_RETENTION)
        .as_seconds();
    item.insert(
        "ttl".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::N(ttl.to_string()),
    );
    Ok(item)
}

#[async_trait]
impl CallbackDeliveries for DynamoStore {
    /// An `UpdateItem` that sets every attribute and removes the optional ones it lacks (the
    /// function's role may update items, not replace them).
    async fn record_delivery(&self, delivery: &CallbackDelivery) -> Result<(), StoreError> {
        let mut item = to_item(delivery)?;
        let key = keys::callback_delivery_key(
            &delivery.tenant,
            &delivery.webhook_id,
            delivery.url.as_str(),
        );
        for k in key.keys() {
            item.remove(k);
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key));
        let mut set = Vec::new();
        for (i, (name, value)) in item.into_iter().enumerate() {
            set.push(format!("#a{i} = :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value);
        }
        let mut expression = format!("SET {}", set.join(", "));
        let absent: Vec<&str> = [
            ("nextAttemptAt", delivery.next_attempt_at.is_none()),
            ("#response", delivery.response.is_none()),
            ("#error", delivery.error.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !absent.is_empty() {
            expression.push_str(&format!(" REMOVE {}", absent.join(", ")));
        }
        // Named: `response` and `error` are among DynamoDB's reserved words.
        if delivery.response.is_none() {
            update = update.expression_attribute_names("#response", "response");
        }
        if delivery.error.is_none() {
            update = update.expression_attribute_names("#error", "error");
        }
        update
            .update_expression(expression)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        status: Option<CallbackDeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CallbackDeliveryPage, StoreError> {
        let (items, next) = self
            .page_prefix(PrefixPage {
                pk: keys::callbacks_pk(tenant),
                prefix: keys::CALLBACK_DELIVERY_PREFIX,
                filter: status.map(|s| ("status", s.as_str().to_owned())),
                after,
                limit,
                // Sort keys start with the notification's id, a UUIDv7: newest last.
                forward: false,
            })
            .await?;
        Ok(CallbackDeliveryPage {
            items: items
                .into_iter()
                .map(|(_, item)| dynamo::from_item(keys::strip(item), "callback delivery"))
                .collect::<Result<_, _>>()?,
            next,
        })
    }
}
