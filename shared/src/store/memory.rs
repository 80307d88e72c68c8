use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;

use super::{
    Begin, Device, DeviceRegistry, IdempotencyStore, NotificationStore, StoreError, StoredResponse,
    Transition, TransitionOutcome, devices::split_excess, idempotency::KeyState,
};
use crate::domain::{
    BatchId, DeviceToken, Notification, NotificationId, Platform, TenantId, UserId,
    schedule::{Due, DueKind},
    time::Timestamp,
};

/// An in-memory record store for unit tests, with the same conditional semantics as DynamoDB.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<NotificationId, Notification>>,
    keys: Mutex<HashMap<(TenantId, String), KeyState>>,
    pub(super) batches: Mutex<HashMap<(TenantId, BatchId), super::BatchSummary>>,
    unavailable: AtomicBool,
    /// How many more records `insert_many` leaves unwritten (an injected partial failure).
    refuse_inserts: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every call fails as if DynamoDB were down.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// The next `count` records given to `insert_many` are not written (as if DynamoDB left
    /// them unprocessed every time).
    pub fn refuse_inserts(&self, count: usize) {
        self.refuse_inserts.store(count, Ordering::SeqCst);
    }

    /// The raw record, expired or not.
    pub fn record(&self, id: &NotificationId) -> Option<Notification> {
        self.lock().get(id).cloned()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NotificationId, Notification>> {
        // A panic in another test thread must not hide this store's contents.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check_up(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected outage".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn insert(&self, notification: &Notification) -> Result<(), StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        if records.contains_key(&notification.id) {
            return Err(StoreError::AlreadyExists(notification.id.clone()));
        }
        records.insert(notification.id.clone(), notification.clone());
        Ok(())
    }

    async fn insert_many(&self, notifications: &[Notification]) -> Vec<NotificationId> {
        if self.check_up().is_err() {
            return notifications.iter().map(|n| n.id.clone()).collect();
        }
        let mut unwritten = Vec::new();
        let mut records = self.lock();
        for n in notifications {
            let refused = self
                .refuse_inserts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok();
            if refused {
                unwritten.push(n.id.clone());
            } else {
                records.insert(n.id.clone(), n.clone());
            }
        }
        unwritten
    }

    async fn existing(
        &self,
        ids: &[NotificationId],
    ) -> Result<std::collections::HashSet<NotificationId>, StoreError> {
        self.check_up()?;
        let records = self.lock();
        Ok(ids
            .iter()
            .filter(|id| records.contains_key(id))
            .cloned()
            .collect())
    }

    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        self.check_up()?;
        Ok(self.lock().get(id).filter(|n| !n.is_expired(now)).cloned())
    }

    async fn transition(
        &self,
        id: &NotificationId,
        change: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        let Some(current) = records.get(id).filter(|n| !n.is_expired(change.at)) else {
            return Ok(TransitionOutcome::Refused(None));
        };
        if !change.permits(current) {
            return Ok(TransitionOutcome::Refused(Some(current.clone())));
        }
        let next = change.applied_to(current);
        records.insert(id.clone(), next.clone());
        Ok(TransitionOutcome::Applied(next))
    }

    async fn replace_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
    ) -> Result<bool, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        match records.get_mut(id) {
            Some(n) if n.due.is_some_and(|d| d.kind == expected) => {
                n.due = Some(due);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError> {
        self.check_up()?;
        let mut due: Vec<(Timestamp, NotificationId)> = self
            .lock()
            .values()
            .filter_map(|n| {
                n.due
                    .filter(|d| d.at <= until)
                    .map(|d| (d.at, n.id.clone()))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }
}

#[async_trait]
impl super::Purge for MemoryStore {
    async fn purge(
        &self,
        now: Timestamp,
        _deadline: std::time::Instant,
    ) -> Result<super::PurgeReport, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, n| !n.is_expired(now));
        let notifications = before - records.len();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let before = keys.len();
        keys.retain(|_, k| k.expires_at_s > now.as_seconds());
        Ok(super::PurgeReport {
            notifications,
            idempotency_keys: before - keys.len(),
            devices: 0,
            complete: true,
        })
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        planned: &NotificationId,
        now: Timestamp,
        lock: std::time::Duration,
        keep: std::time::Duration,
    ) -> Result<Begin, StoreError> {
        self.check_up()?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (tenant.clone(), key.to_owned());
        let decision = KeyState::decide(keys.get(&slot), fingerprint, planned, now);
        if let Begin::Started { planned } | Begin::Resumed { planned } = &decision {
            keys.insert(
                slot,
                KeyState {
                    fingerprint: fingerprint.to_owned(),
                    planned: planned.clone(),
                    locked_until_ms: now.plus(lock).as_millis(),
                    response: None,
                    expires_at_s: now.plus(keep).as_seconds(),
                },
            );
        }
        Ok(decision)
    }

    async fn complete(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.check_up()?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = keys.get_mut(&(tenant.clone(), key.to_owned())) {
            state.response = Some(response.clone());
        }
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError> {
        self.check_up()?;
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.clone(), key.to_owned()));
        Ok(())
    }
}

/// An in-memory device registry for unit tests.
pub struct MemoryDevices {
    devices: Mutex<HashMap<(TenantId, UserId), Vec<Device>>>,
    idle: std::time::Duration,
}

impl Default for MemoryDevices {
    fn default() -> Self {
        Self {
            devices: Mutex::default(),
            idle: super::devices::DEFAULT_DEVICE_IDLE,
        }
    }
}

impl MemoryDevices {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, UserId), Vec<Device>>> {
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl DeviceRegistry for MemoryDevices {
    async fn register(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
        platform: Platform,
        app_id: Option<String>,
        now: Timestamp,
    ) -> Result<Device, StoreError> {
        let mut all = self.lock();
        for ((t, u), list) in all.iter_mut() {
            if t == tenant && u != user {
                list.retain(|d| &d.token != token);
            }
        }
        let list = all.entry((tenant.clone(), user.clone())).or_default();
        let created_at = list
            .iter()
            .find(|d| &d.token == token)
            .map_or(now, |d| d.created_at);
        list.retain(|d| &d.token != token);
        let device = Device {
            token: token.clone(),
            platform,
            app_id,
            created_at,
            updated_at: now,
            expires_at: now.plus(self.idle),
        };
        list.push(device.clone());
        let (kept, _) = split_excess(std::mem::take(list));
        *list = kept;
        Ok(device)
    }

    async fn devices(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Device>, StoreError> {
        let list: Vec<Device> = self
            .lock()
            .get(&(tenant.clone(), user.clone()))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.expires_at > now)
            .collect();
        Ok(split_excess(list).0)
    }

    async fn unregister(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
    ) -> Result<bool, StoreError> {
        let mut all = self.lock();
        let Some(list) = all.get_mut(&(tenant.clone(), user.clone())) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|d| &d.token != token);
        Ok(list.len() < before)
    }

    async fn forget_token(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        for ((t, _), list) in self.lock().iter_mut() {
            if t == tenant {
                let before = list.len();
                list.retain(|d| &d.token != token);
                removed += before - list.len();
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MAX_DEVICES_PER_USER, tests::at};

    fn ids() -> (TenantId, UserId, UserId) {
        (
            TenantId::new("acme"),
            UserId::parse("ann").unwrap(),
            UserId::parse("bob").unwrap(),
        )
    }

    fn token(s: &str) -> DeviceToken {
        DeviceToken::parse(s).unwrap()
    }

    #[tokio::test]
    async fn registering_again_refreshes_and_keeps_created_at() {
        let (t, ann, _) = ids();
        let r = MemoryDevices::new();
        r.register(&t, &ann, &token("d1"), Platform::Android, None, at(0))
            .await
            .unwrap();
        let again = r
            .register(
                &t,
                &ann,
                &token("d1"),
                Platform::Android,
                Some("app".into()),
                at(9),
            )
            .await
            .unwrap();
        assert_eq!((again.created_at, again.updated_at), (at(0), at(9)));
        assert_eq!(r.devices(&t, &ann, at(1_000_000)).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_token_belongs_to_whoever_registered_it_last() {
        let (t, ann, bob) = ids();
        let r = MemoryDevices::new();
        r.register(&t, &ann, &token("shared"), Platform::Ios, None, at(0))
            .await
            .unwrap();
        r.register(&t, &bob, &token("shared"), Platform::Ios, None, at(1))
            .await
            .unwrap();
        assert!(r.devices(&t, &ann, at(1_000_000)).await.unwrap().is_empty());
        assert_eq!(r.devices(&t, &bob, at(1_000_000)).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_oldest_device_goes_beyond_the_limit() {
        let (t, ann, _) = ids();
        let r = MemoryDevices::new();
        for i in 0..=MAX_DEVICES_PER_USER {
            r.register(
                &t,
                &ann,
                &token(&format!("d{i}")),
                Platform::Web,
                None,
                at(i as i64),
            )
            .await
            .unwrap();
        }
        let devices = r.devices(&t, &ann, at(1_000_000)).await.unwrap();
        assert_eq!(devices.len(), MAX_DEVICES_PER_USER);
        assert_eq!(
            devices[0].token,
            token(&format!("d{MAX_DEVICES_PER_USER}")),
            "newest first"
        );
        assert!(devices.iter().all(|d| d.token != token("d0")));
    }

    #[tokio::test]
    async fn forgetting_a_token_removes_it_everywhere_in_the_tenant() {
        let (t, ann, _) = ids();
        let r = MemoryDevices::new();
        r.register(&t, &ann, &token("gone"), Platform::Android, None, at(0))
            .await
            .unwrap();
        r.register(&t, &ann, &token("kept"), Platform::Android, None, at(1))
            .await
            .unwrap();
        assert_eq!(r.forget_token(&t, &token("gone")).await.unwrap(), 1);
        assert_eq!(r.forget_token(&t, &token("gone")).await.unwrap(), 0);
        let left: Vec<DeviceToken> = r
            .devices(&t, &ann, at(1_000_000))
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.token)
            .collect();
        assert_eq!(left, vec![token("kept")]);
        assert!(!r.unregister(&t, &ann, &token("gone")).await.unwrap());
        assert!(r.unregister(&t, &ann, &token("kept")).await.unwrap());
    }
}
