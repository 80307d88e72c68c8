//! Webhook endpoints and the tenant's signing secret (for inline URLs). Each is one item in
//! the tenant's `WEBHOOKS#` partition, so a Query lists them; writes are conditional on what
//! was read (`updatedAt`), so two concurrent updates (or an update racing a `410 Gone`) never
//! silently undo each other.

use async_trait::async_trait;

use super::{
    dynamo::{self, DynamoStore, unavailable, value},
    error::StoreError,
    keys,
};
use crate::{
    domain::{EndpointName, TenantId, time::Timestamp},
    webhook::{Disabled, Endpoint, SigningSecrets},
};

#[async_trait]
pub trait WebhookEndpoints: Send + Sync {
    async fn endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// The tenant's endpoints, by name.
    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError>;

    /// Writes a new endpoint; [`StoreError::Conflict`] if the name is taken.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;

    /// Replaces an endpoint read at `read_at` (its `updatedAt`); [`StoreError::Conflict`] if it
    /// changed (or went) since.
    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        read_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// False if there was no such endpoint.
    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError>;

    /// Marks the endpoint disabled (a `410 Gone`), unless it is already, or gone.
    async fn disable_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
        disabled: &Disabled,
    ) -> Result<(), StoreError>;

    async fn signing_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<SigningSecrets>, StoreError>;

    /// Writes the tenant's signing secrets, conditional on them still being `read` (none for a
    /// first one).
    async fn put_signing_secrets(
        &self,
        tenant: &TenantId,
        secrets: &SigningSecrets,
        read: Option<&SigningSecrets>,
    ) -> Result<(), StoreError>;
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(what.to_owned())
}

impl DynamoStore {
    /// Writes an endpoint: a new one (`read_at` none: the name must be free), or one read at
    /// `read_at` (its `updatedAt` must still be that).
    async fn put_endpoint(
        &self,
        endpoint: &Endpoint,
        read_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(endpoint, "webhook endpoint")?;
        item.extend(keys::endpoint_key(&endpoint.tenant, &endpoint.name));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match read_at {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(at) => put
                .condition_expression("updatedAt = :read")
                .expression_attribute_values(":read", value(&at)?),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Err(conflict(if read_at.is_none() {
                "the endpoint exists"
            } else {
                "the endpoint changed"
            })),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl WebhookEndpoints for DynamoStore {
    async fn endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.read(keys::endpoint_key(tenant, name))
            .await?
            .map(|item| dynamo::from_item(keys::strip(item), "webhook endpoint"))
            .transpose()
    }

    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        self.query_prefix(keys::webhooks_pk(tenant), keys::ENDPOINT_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| dynamo::from_item(keys::strip(item), "webhook endpoint"))
            .collect()
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.put_endpoint(endpoint, None).await
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.put_endpoint(endpoint, Some(read_at)).await
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::endpoint_key(tenant, name)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn disable_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
        disabled: &Disabled,
    ) -> Result<(), StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::endpoint_key(tenant, name)))
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(disabled)")
            .update_expression("SET disabled = :d, updatedAt = :at")
            .expression_attribute_values(":d", value(disabled)?)
            .expression_attribute_values(":at", value(&disabled.at)?)
            .send()
            .await
        {
            // Already disabled, or deleted: nothing to do either way.
            Err(e) if dynamo::condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
            Ok(_) => Ok(()),
        }
    }

    async fn signing_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<SigningSecrets>, StoreError> {
        self.read(keys::signing_secret_key(tenant))
            .await?
            .and_then(|mut item| item.remove("secrets"))
            .map(|v| {
                serde_dynamo::from_attribute_value(v)
                    .map_err(|e| dynamo::corrupt("webhook signing secret", e))
            })
            .transpose()
    }

    async fn put_signing_secrets(
        &self,
        tenant: &TenantId,
        secrets: &SigningSecrets,
        read: Option<&SigningSecrets>,
    ) -> Result<(), StoreError> {
        let mut item = keys::signing_secret_key(tenant);
        item.insert("secrets".into(), value(secrets)?);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match read {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(old) => put
                .condition_expression("secrets = :read")
                .expression_attribute_values(":read", value(old)?),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Err(conflict("the signing secret changed")),
            Err(e) => Err(unavailable(e)),
        }
    }
}
