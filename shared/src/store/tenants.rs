//! Tenants and their API keys. The tenants form one directory partition (an operator lists
//! them with one Query); a key is found by its hash alone (one GetItem per authentication,
//! cached by the API), and listed under its tenant by its visible prefix. Neither item holds
//! the key.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    dynamo::{self, DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    TenantId,
    tenant::{StoredKey, Tenant},
    time::Timestamp,
};

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// `false` (nothing written) when the tenant exists.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, StoreError>;

    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Keeps a new key under its `hash`, and in its tenant's list.
    async fn add_key(&self, hash: &str, key: &StoredKey) -> Result<(), StoreError>;

    /// The key whose hash is `hash`, revoked or not.
    async fn key(&self, hash: &str) -> Result<Option<StoredKey>, StoreError>;

    async fn keys(&self, tenant: &TenantId) -> Result<Vec<StoredKey>, StoreError>;

    /// Revokes the tenant's key with `prefix`; `None` when it has none, else the key.
    async fn revoke_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError>;

    /// Records that the key was used, at most once per `every`: `true` when it wrote.
    async fn touch_key(
        &self,
        hash: &str,
        now: Timestamp,
        every: Duration,
    ) -> Result<bool, StoreError>;
}

fn tenant_of(item: dynamo::Item) -> Result<Tenant, StoreError> {
    dynamo::from_item(keys::strip(item), "tenant")
}

fn key_of(mut item: dynamo::Item) -> Result<StoredKey, StoreError> {
    item.remove("hash");
    dynamo::from_item(keys::strip(item), "api key")
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let mut item = dynamo::to_item(tenant, "tenant")?;
        item.extend(keys::tenant_key(&tenant.id));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        dynamo::applied(put)
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(tenant, "tenant")?;
        item.extend(keys::tenant_key(&tenant.id));
        self.put(item).await
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.read(keys::tenant_key(id))
            .await?
            .map(tenant_of)
            .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.query_prefix(keys::TENANTS_PK.to_owned(), keys::TENANT_SK_PREFIX)
            .await?
            .into_iter()
            .map(tenant_of)
            .collect()
    }

    async fn add_key(&self, hash: &str, key: &StoredKey) -> Result<(), StoreError> {
        let attributes = dynamo::to_item(key, "api key")?;
        for k in [
            keys::api_key_key(hash),
            keys::tenant_api_key_key(&key.tenant, &key.prefix),
        ] {
            let mut item = attributes.clone();
            item.extend(k);
            item.insert("hash".into(), AttributeValue::S(hash.to_owned()));
            self.put(item).await?;
        }
        Ok(())
    }

    async fn key(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        self.read(keys::api_key_key(hash))
            .await?
            .map(key_of)
            .transpose()
    }

    async fn keys(&self, tenant: &TenantId) -> Result<Vec<StoredKey>, StoreError> {
        self.query_prefix(keys::tenant_pk(tenant), keys::TENANT_API_KEY_PREFIX)
            .await?
            .into_iter()
            .map(key_of)
            .collect()
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        let listed = keys::tenant_api_key_key(tenant, prefix);
        let Some(item) = self.read(listed.clone()).await? else {
            return Ok(None);
        };
        let hash = item
            .get("hash")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| dynamo::corrupt("api key", "no hash"))?;
        let mut key = key_of(item)?;
        if key.revoked_at.is_none() {
            key.revoked_at = Some(now);
        }
        // The key by its hash first: that is what authentication reads.
        for k in [keys::api_key_key(&hash), listed] {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(k))
                .update_expression("SET revokedAt = if_not_exists(revokedAt, :now)")
                .expression_attribute_values(":now", dynamo::value(&now)?)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(Some(key))
    }

    async fn touch_key(
        &self,
        hash: &str,
        now: Timestamp,
        every: Duration,
    ) -> Result<bool, StoreError> {
        let before =
            Timestamp::from_millis(now.as_millis() - every.as_millis() as i64).unwrap_or(now);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::api_key_key(hash)))
            .update_expression("SET lastUsedAt = :now")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :before)",
            )
            .expression_attribute_values(":now", dynamo::value(&now)?)
            .expression_attribute_values(":before", dynamo::value(&before)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let written = match &update {
            Ok(out) => out.attributes().cloned(),
            Err(_) => None,
        };
        let applied = dynamo::applied(update)?;
        // The listing's copy too, so a tenant's key list shows the last use; best effort
        // after the by-hash item (the one authentication reads) was written.
        if let Some(item) = written {
            let key = key_of(item)?;
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::tenant_api_key_key(&key.tenant, &key.prefix)))
                .update_expression("SET lastUsedAt = :now")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":now", dynamo::value(&now)?)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(applied)
    }
}
