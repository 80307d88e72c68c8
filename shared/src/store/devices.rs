//! The push device registry: which devices (FCM registration tokens) each user has.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{DeviceToken, Platform, TenantId, UserId, time::Timestamp};

/// A user keeps at most this many devices; registering one more drops the least recently
/// registered (tokens of reinstalled apps pile up otherwise).
pub const MAX_DEVICES_PER_USER: usize = 20;
/// A device not registered again for this long is forgotten (apps register on every start).
pub const DEFAULT_DEVICE_IDLE: std::time::Duration = std::time::Duration::from_secs(270 * 86_400);

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
