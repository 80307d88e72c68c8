use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;

use super::{NotificationStore, StoreError, Transition, TransitionOutcome};
use crate::domain::{Notification, NotificationId, time::Timestamp};

/// An in-memory record store for unit tests, with the same conditional semantics as DynamoDB.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<NotificationId, Notification>>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every call fails as if DynamoDB were down.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// The raw record, expired or not.
    pub fn record(&self, id: &NotificationId) -> Option<Notification> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NotificationId, Notification>> {
        // A panic in another test thread must not hide this store's contents.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_up(&self) -> Result<(), StoreError> {
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
}
