//! The push device registry: which devices (FCM registration tokens) each user has. A token
//! belongs to one user of a tenant at a time (whoever registered it last), found through the
//! token index; a registration lapses unless renewed (DynamoDB TTL).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, Item, set_all, unavailable, value},
    error::StoreError,
    keys,
};
use crate::domain::{DeviceToken, Platform, TenantId, UserId, time::Timestamp};

/// A user keeps at most this many devices; registering one more drops the least recently
/// registered (tokens of reinstalled apps pile up otherwise).
pub const MAX_DEVICES_PER_USER: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub token: DeviceToken,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    pub created_at: Timestamp,
    /// The last registration of this token: apps re-register on start, so this is when the
    /// device was last seen.
    pub updated_at: Timestamp,
    /// Forgotten then unless registered again (DynamoDB TTL removes it).
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait DeviceRegistry: Send + Sync {
    /// Registers the device for `user`, or refreshes it (keeping its `createdAt`), until the
    /// store's idle limit from `now`. The token leaves any other user of the tenant: a device
    /// belongs to whoever registered it last.
    async fn register(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
        platform: Platform,
        app_id: Option<String>,
        now: Timestamp,
    ) -> Result<Device, StoreError>;

    /// The user's devices still registered at `now`, most recently registered first.
    async fn devices(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Device>, StoreError>;

    /// Removes one device of a user; false if it was not registered.
    async fn unregister(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
    ) -> Result<bool, StoreError>;

    /// Removes a token from every user it is registered for (the provider said it is no
    /// longer valid); returns how many registrations went.
    async fn forget_token(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<usize, StoreError>;
}

/// Newest first, then the ones beyond the limit.
pub(crate) fn split_excess(mut devices: Vec<Device>) -> (Vec<Device>, Vec<Device>) {
    devices.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.token.cmp(&b.token))
    });
    let excess = devices.split_off(devices.len().min(MAX_DEVICES_PER_USER));
    (devices, excess)
}

// ------------------------------------------------------------------------------ DynamoDB

fn device_from_item(item: Item) -> Result<Device, StoreError> {
    dynamo::from_item(keys::strip(item), "device")
}

impl DynamoStore {
    async fn delete_keys(&self, primary_keys: Vec<Item>) -> Result<(), StoreError> {
        for key in primary_keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The `PK`/`SK` of every registration of `token` in the tenant.
    async fn token_registrations(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<Vec<Item>, StoreError> {
        Ok(self
            .index_entries(keys::TOKEN_INDEX, "GSI1PK", keys::token_pk(tenant, token))
            .await?
            .into_iter()
            .filter_map(keys::primary_key)
            .collect())
    }

    async fn devices_unbounded(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Device>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :device)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(tenant, user)))
            .expression_attribute_values(
                ":device",
                AttributeValue::S(keys::DEVICE_SK_PREFIX.into()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(device_from_item)
            .collect()
    }
}

#[async_trait]
impl DeviceRegistry for DynamoStore {
    async fn register(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
        platform: Platform,
        app_id: Option<String>,
        now: Timestamp,
    ) -> Result<Device, StoreError> {
        let mine = keys::device_key(tenant, user, token);
        let elsewhere: Vec<Item> = self
            .token_registrations(tenant, token)
            .await?
            .into_iter()
            .filter(|k| k.get("PK") != mine.get("PK"))
            .collect();
        self.delete_keys(elsewhere).await?;

        let expires_at = now.plus(self.device_idle);
        let mut set: Vec<String> = [
            "#token = :token",
            "platform = :platform",
            "updatedAt = :now",
            "createdAt = if_not_exists(createdAt, :now)",
            "expiresAt = :expires",
            "#ttl = :ttl",
        ]
        .map(String::from)
        .into();
        let mut values: Item = HashMap::from([
            (
                ":token".to_owned(),
                AttributeValue::S(token.as_str().to_owned()),
            ),
            (":platform".to_owned(), value(&platform)?),
            (":now".to_owned(), value(&now)?),
            (":expires".to_owned(), value(&expires_at)?),
            (
                ":ttl".to_owned(),
                AttributeValue::N(expires_at.as_seconds().to_string()),
            ),
        ]);
        set_all(keys::token_keys(tenant, user, token), &mut set, &mut values);
        // REMOVE rather than SET null: a re-registration without an app id clears it.
        let remove = match app_id {
            Some(a) => {
                set.push("appId = :app_id".into());
                values.insert(":app_id".into(), AttributeValue::S(a));
                ""
            }
            None => " REMOVE appId",
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(mine))
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#ttl", "ttl")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        let device = device_from_item(out.attributes.unwrap_or_default())?;

        let (_, excess) = split_excess(self.devices_unbounded(tenant, user).await?);
        self.delete_keys(
            excess
                .iter()
                .map(|d| keys::device_key(tenant, user, &d.token))
                .collect(),
        )
        .await?;
        Ok(device)
    }

    async fn devices(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Device>, StoreError> {
        // DynamoDB TTL deletes lazily: a lapsed registration is already gone.
        let live: Vec<Device> = self
            .devices_unbounded(tenant, user)
            .await?
            .into_iter()
            .filter(|d| d.expires_at > now)
            .collect();
        Ok(split_excess(live).0)
    }

    async fn unregister(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::device_key(tenant, user, token)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn forget_token(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<usize, StoreError> {
        let registrations = self.token_registrations(tenant, token).await?;
        let n = registrations.len();
        self.delete_keys(registrations).await?;
        Ok(n)
    }
}
