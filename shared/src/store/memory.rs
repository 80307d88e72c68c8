//! The in-memory fakes of the store's ports, for unit tests: the same semantics as the
//! DynamoDB adapters (conditional transitions, idempotency decisions, device limits), without
//! a table.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;

use super::{
    batches::{BatchRequest, BatchStore, BatchSummary, Indexes, Outbox},
    callbacks::{CallbackDeliveries, CallbackDeliveryPage, CallbackSubscriptions},
    chat::ChatTargets,
    connections::{Connection, Connections, MAX_CONNECTION_LIFE},
    devices::{Device, DeviceRegistry, split_excess},
    dynamo::DEFAULT_DEVICE_IDLE,
    error::StoreError,
    idempotency::{Begin, IdempotencyStore, KeyState, StoredResponse},
    inbox::{InboxDelta, InboxPage, InboxStore, MAX_CHANGES_PER_WRITE},
    listing::{ListFilter, ListPage, NotificationSearch},
    notifications::NotificationStore,
    purge::{Purge, PurgeReport},
    routes::RouteStore,
    stats::{Additions, BucketKey, Counts, StatsStore},
    suppressions::{SuppressionFilter, SuppressionList, SuppressionPage},
    templates::{StoredTemplate, TemplateStore, TemplateSummary},
    tenants::TenantStore,
    transition::{Annotation, Transition, TransitionOutcome},
    users::{CapCounter, UserRecord, UserStore},
    webhooks::WebhookEndpoints,
};
use crate::{
    domain::{
        BatchId, DeviceToken, EndpointName, Notification, NotificationId, Platform, Profile,
        SuppressedAddress, Suppression, TenantId, UserId,
        callback::{CallbackDelivery, CallbackDeliveryStatus, Subscriptions},
        inbox::{InboxChange, InboxCounts, InboxFilter, InboxItem},
        preferences::{Defaults, FrequencyCap, Preferences},
        route::Route,
        schedule::{Due, DueKind},
        stats::Granularity,
        time::Timestamp,
    },
    template::{TemplateName, TemplateSource},
    unsubscribe::{Subscriber, UnsubscribeKey},
    user_token::UserTokenSecret,
    webhook::{Disabled, Endpoint, SigningSecrets},
};

/// An in-memory record store for unit tests, with the same conditional semantics as DynamoDB.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<NotificationId, Notification>>,
    /// Due-index entries left earlier than their record's marker (`confirm_enqueued`), as
    /// the DynamoDB store leaves them; any other change of the marker moves its entry.
    early: Mutex<HashMap<NotificationId, Timestamp>>,
    keys: Mutex<HashMap<(TenantId, String), KeyState>>,
    batches: Mutex<HashMap<(TenantId, BatchId), BatchSummary>>,
    outboxes: Mutex<HashMap<String, Outbox>>,
    unavailable: AtomicBool,
    /// How many more records `insert_many` leaves unwritten (an injected partial failure).
    refuse_inserts: AtomicUsize,
    routes: Mutex<HashMap<NotificationId, Route>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn set_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
        move_entry: bool,
    ) -> Result<bool, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        let Some(n) = records.get_mut(id) else {
            return Ok(false);
        };
        let Some(current) = n.due.filter(|d| d.kind == expected) else {
            return Ok(false);
        };
        let mut early = self.early();
        if move_entry {
            early.remove(id);
        } else {
            early.entry(id.clone()).or_insert(current.at);
        }
        n.due = Some(due);
        Ok(true)
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NotificationId, Notification>> {
        // A panic in another test thread must not hide this store's contents.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn early(&self) -> std::sync::MutexGuard<'_, HashMap<NotificationId, Timestamp>> {
        self.early.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check_up(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected outage".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl RouteStore for MemoryStore {
    async fn insert_route(&self, route: &Route) -> Result<(), StoreError> {
        self.check_up()?;
        let mut routes = locked(&self.routes);
        if routes.contains_key(&route.id) {
            return Err(StoreError::AlreadyExists(route.id.clone()));
        }
        routes.insert(route.id.clone(), route.clone());
        Ok(())
    }

    async fn route(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Route>, StoreError> {
        self.check_up()?;
        Ok(locked(&self.routes)
            .get(id)
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn mark_route(
        &self,
        id: &NotificationId,
        read: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.check_up()?;
        if let Some(r) = locked(&self.routes).get_mut(id) {
            let field = if read {
                &mut r.read_at
            } else {
                &mut r.cancelled_at
            };
            field.get_or_insert(at);
        }
        Ok(())
    }

    async fn erase_recipient(&self, id: &NotificationId, masked: &str) -> Result<(), StoreError> {
        self.check_up()?;
        if let Some(n) = self.lock().get_mut(id) {
            n.recipient = crate::domain::Recipient::Erased(masked.to_owned());
            n.deliveries.clear();
            n.user_id = None;
        }
        Ok(())
    }

    async fn mark_read(&self, id: &NotificationId, at: Timestamp) -> Result<bool, StoreError> {
        self.check_up()?;
        Ok(self
            .lock()
            .get_mut(id)
            .map(|n| {
                n.read_at.get_or_insert(at);
            })
            .is_some())
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
    ) -> Result<HashSet<NotificationId>, StoreError> {
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
        if next.due != current.due {
            self.early().remove(id);
        }
        records.insert(id.clone(), next.clone());
        Ok(TransitionOutcome::Applied(next))
    }

    async fn replace_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
    ) -> Result<bool, StoreError> {
        self.set_due(id, expected, due, true)
    }

    async fn confirm_enqueued(&self, id: &NotificationId, expiry: Due) -> Result<bool, StoreError> {
        self.set_due(id, DueKind::Enqueue, expiry, false)
    }

    async fn find_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<NotificationId>, StoreError> {
        self.check_up()?;
        Ok(self
            .lock()
            .values()
            .find(|n| {
                n.provider.as_deref() == Some(provider)
                    && n.provider_message_id.as_deref() == Some(message_id)
            })
            .map(|n| n.id.clone()))
    }

    async fn annotate(&self, id: &NotificationId, note: &Annotation) -> Result<bool, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        let Some(current) = records.get(id).filter(|n| !n.is_expired(note.at)) else {
            return Ok(false);
        };
        if !note.permits(current) {
            return Ok(false);
        }
        let next = note.applied_to(current);
        records.insert(id.clone(), next);
        Ok(true)
    }

    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError> {
        self.check_up()?;
        let records = self.lock();
        let early = self.early();
        let mut due: Vec<(Timestamp, NotificationId)> = records
            .values()
            .filter_map(|n| {
                let at = early.get(&n.id).copied().or(n.due.map(|d| d.at))?;
                (at <= until).then(|| (at, n.id.clone()))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }
}

#[async_trait]
impl Purge for MemoryStore {
    async fn purge(
        &self,
        now: Timestamp,
        _deadline: std::time::Instant,
    ) -> Result<PurgeReport, StoreError> {
        self.check_up()?;
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, n| !n.is_expired(now));
        let notifications = before - records.len();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let before = keys.len();
        keys.retain(|_, k| k.expires_at_s > now.as_seconds());
        Ok(PurgeReport {
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

impl MemoryStore {
    /// The outboxes not settled yet.
    pub fn outboxes(&self) -> Vec<Outbox> {
        self.outboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl BatchStore for MemoryStore {
    async fn open_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        self.check_up()?;
        self.outboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(outbox.id.clone(), outbox.clone());
        Ok(())
    }

    async fn settle_outbox(&self, outbox: &Outbox, left: &Indexes) -> Result<(), StoreError> {
        self.check_up()?;
        let mut outboxes = self.outboxes.lock().unwrap_or_else(|p| p.into_inner());
        if left.is_empty() {
            outboxes.remove(&outbox.id);
        } else if let Some(o) = outboxes.get_mut(&outbox.id) {
            o.pending = left.clone();
        }
        Ok(())
    }

    async fn due_outboxes(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Outbox>, StoreError> {
        self.check_up()?;
        let mut due: Vec<Outbox> = self
            .outboxes()
            .into_iter()
            .filter(|o| o.due_at <= until)
            .collect();
        due.sort_by_key(|o| o.due_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn record_batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        request: &BatchRequest,
    ) -> Result<(), StoreError> {
        self.check_up()?;
        let mut batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        let entry = batches
            .entry((tenant.clone(), batch.clone()))
            .or_insert_with(|| BatchSummary {
                batch_id: batch.clone(),
                channels: BTreeSet::new(),
                created_at: request.now,
                updated_at: request.now,
                requests: 0,
                accepted: 0,
                rejected: 0,
                statuses: BTreeMap::new(),
            });
        entry.channels.insert(request.channel);
        entry.updated_at = request.now;
        entry.requests += 1;
        entry.accepted += request.accepted;
        entry.rejected += request.rejected;
        Ok(())
    }

    async fn batch(
        &self,
        tenant: &TenantId,
        batch: &BatchId,
        now: Timestamp,
    ) -> Result<Option<BatchSummary>, StoreError> {
        self.check_up()?;
        let Some(mut summary) = self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant.clone(), batch.clone()))
            .cloned()
        else {
            return Ok(None);
        };
        for n in self.lock().values() {
            if &n.tenant == tenant && n.batch_id.as_ref() == Some(batch) && !n.is_expired(now) {
                *summary.statuses.entry(n.status).or_default() += 1;
            }
        }
        Ok(Some(summary))
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
            idle: DEFAULT_DEVICE_IDLE,
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

    /// Removes every device of the user (erasure); returns how many went.
    fn forget_user(&self, tenant: &TenantId, user: &UserId) -> usize {
        self.lock()
            .remove(&(tenant.clone(), user.clone()))
            .map_or(0, |d| d.len())
    }
}

/// Profiles, preferences and caps in memory; erasing a user also empties its devices.
#[derive(Default)]
pub struct MemoryUsers {
    profiles: Mutex<HashMap<(TenantId, UserId), Profile>>,
    preferences: Mutex<HashMap<(TenantId, Subscriber), Preferences>>,
    unsubscribe_keys: Mutex<HashMap<TenantId, UnsubscribeKey>>,
    user_token_secrets: Mutex<HashMap<TenantId, UserTokenSecret>>,
    defaults: Mutex<HashMap<TenantId, Defaults>>,
    caps: Mutex<HashMap<(TenantId, UserId, String), CapCounter>>,
    devices: Option<std::sync::Arc<MemoryDevices>>,
}

impl MemoryUsers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Users whose devices are in `devices`.
    pub fn with_devices(devices: std::sync::Arc<MemoryDevices>) -> Self {
        Self {
            devices: Some(devices),
            ..Self::default()
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl UserStore for MemoryUsers {
    async fn user(&self, tenant: &TenantId, user: &UserId) -> Result<UserRecord, StoreError> {
        let k = (tenant.clone(), user.clone());
        Ok(UserRecord {
            profile: locked(&self.profiles).get(&k).cloned(),
            preferences: locked(&self.preferences)
                .get(&(tenant.clone(), Subscriber::User(user.clone())))
                .cloned(),
        })
    }

    async fn put_profile(&self, tenant: &TenantId, profile: &Profile) -> Result<(), StoreError> {
        locked(&self.profiles).insert((tenant.clone(), profile.user_id.clone()), profile.clone());
        Ok(())
    }

    async fn erase(&self, tenant: &TenantId, user: &UserId) -> Result<usize, StoreError> {
        let k = (tenant.clone(), user.clone());
        let mut n = usize::from(locked(&self.profiles).remove(&k).is_some())
            + usize::from(
                locked(&self.preferences)
                    .remove(&(tenant.clone(), Subscriber::User(user.clone())))
                    .is_some(),
            );
        let mut caps = locked(&self.caps);
        let before = caps.len();
        caps.retain(|(t, u, _), _| !(t == tenant && u == user));
        n += before - caps.len();
        n += self
            .devices
            .as_ref()
            .map_or(0, |d| d.forget_user(tenant, user));
        Ok(n)
    }

    async fn preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
    ) -> Result<Option<Preferences>, StoreError> {
        Ok(locked(&self.preferences)
            .get(&(tenant.clone(), subscriber.clone()))
            .cloned())
    }

    async fn put_preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
        preferences: &Preferences,
    ) -> Result<(), StoreError> {
        locked(&self.preferences).insert((tenant.clone(), subscriber.clone()), preferences.clone());
        Ok(())
    }

    async fn unsubscribe_key(
        &self,
        tenant: &TenantId,
        create: bool,
    ) -> Result<Option<UnsubscribeKey>, StoreError> {
        let mut keys = locked(&self.unsubscribe_keys);
        if let Some(k) = keys.get(tenant) {
            return Ok(Some(k.clone()));
        }
        if !create {
            return Ok(None);
        }
        let k = UnsubscribeKey::generate().map_err(StoreError::Unavailable)?;
        keys.insert(tenant.clone(), k.clone());
        Ok(Some(k))
    }

    async fn defaults(&self, tenant: &TenantId) -> Result<Option<Defaults>, StoreError> {
        Ok(locked(&self.defaults).get(tenant).cloned())
    }

    async fn put_defaults(&self, tenant: &TenantId, defaults: &Defaults) -> Result<(), StoreError> {
        locked(&self.defaults).insert(tenant.clone(), defaults.clone());
        Ok(())
    }

    async fn user_token_secret(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<UserTokenSecret>, StoreError> {
        Ok(locked(&self.user_token_secrets).get(tenant).cloned())
    }

    async fn put_user_token_secret(
        &self,
        tenant: &TenantId,
        secret: &UserTokenSecret,
    ) -> Result<(), StoreError> {
        locked(&self.user_token_secrets).insert(tenant.clone(), secret.clone());
        Ok(())
    }

    async fn take_cap_slot(
        &self,
        tenant: &TenantId,
        user: &UserId,
        category: &str,
        cap: FrequencyCap,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut caps = locked(&self.caps);
        let counter = caps
            .entry((tenant.clone(), user.clone(), category.to_owned()))
            .or_default();
        Ok(counter.take(cap, id, now).unwrap_or(true))
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

#[derive(Debug, Clone)]
struct Entry {
    latest: u32,
    deleted: bool,
    versions: BTreeMap<u32, StoredTemplate>,
}

/// Templates in memory, for unit tests.
#[derive(Default)]
pub struct MemoryTemplates {
    entries: Mutex<HashMap<(TenantId, TemplateName), Entry>>,
}

impl MemoryTemplates {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, TemplateName), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TemplateStore for MemoryTemplates {
    async fn save(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        source: &TemplateSource,
        now: Timestamp,
    ) -> Result<StoredTemplate, StoreError> {
        let mut entries = self.lock();
        let entry = entries
            .entry((tenant.clone(), name.clone()))
            .or_insert_with(|| Entry {
                latest: 0,
                deleted: true,
                versions: BTreeMap::new(),
            });
        let created_at = match (entry.deleted, entry.versions.get(&entry.latest)) {
            (false, Some(latest)) => latest.created_at,
            _ => now,
        };
        if entry.deleted {
            entry.versions.clear();
        }
        let stored = StoredTemplate {
            name: name.clone(),
            version: entry.latest + 1,
            source: source.clone(),
            created_at,
            updated_at: now,
        };
        entry.latest = stored.version;
        entry.deleted = false;
        entry.versions.insert(stored.version, stored.clone());
        Ok(stored)
    }

    async fn latest_version(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<Option<u32>, StoreError> {
        Ok(self
            .lock()
            .get(&(tenant.clone(), name.clone()))
            .filter(|e| !e.deleted)
            .map(|e| e.latest))
    }

    async fn template(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        version: Option<u32>,
    ) -> Result<Option<StoredTemplate>, StoreError> {
        Ok(self
            .lock()
            .get(&(tenant.clone(), name.clone()))
            .filter(|e| !e.deleted)
            .and_then(|e| e.versions.get(&version.unwrap_or(e.latest)).cloned()))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<TemplateSummary>, StoreError> {
        let mut all: Vec<TemplateSummary> = self
            .lock()
            .iter()
            .filter(|((t, _), e)| t == tenant && !e.deleted)
            .filter_map(|(_, e)| e.versions.get(&e.latest).map(TemplateSummary::of))
            .collect();
        all.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(all)
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        match self.lock().get_mut(&(tenant.clone(), name.clone())) {
            Some(e) if !e.deleted => {
                e.deleted = true;
                e.versions.clear();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{devices::MAX_DEVICES_PER_USER, tests::at};

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

/// Webhook endpoints and signing secrets in memory, with the adapter's conditions.
#[derive(Default)]
pub struct MemoryWebhooks {
    endpoints: Mutex<BTreeMap<(TenantId, EndpointName), Endpoint>>,
    signing: Mutex<HashMap<TenantId, SigningSecrets>>,
}

impl MemoryWebhooks {
    pub fn new() -> Self {
        Self::default()
    }

    fn all(&self) -> std::sync::MutexGuard<'_, BTreeMap<(TenantId, EndpointName), Endpoint>> {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl WebhookEndpoints for MemoryWebhooks {
    async fn endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.all().get(&(tenant.clone(), name.clone())).cloned())
    }

    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        Ok(self
            .all()
            .values()
            .filter(|e| &e.tenant == tenant)
            .cloned()
            .collect())
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut all = self.all();
        let key = (endpoint.tenant.clone(), endpoint.name.clone());
        if all.contains_key(&key) {
            return Err(StoreError::Conflict("the endpoint exists".into()));
        }
        all.insert(key, endpoint.clone());
        Ok(())
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut all = self.all();
        let key = (endpoint.tenant.clone(), endpoint.name.clone());
        match all.get(&key) {
            Some(current) if current.updated_at == read_at => {
                all.insert(key, endpoint.clone());
                Ok(())
            }
            _ => Err(StoreError::Conflict("the endpoint changed".into())),
        }
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError> {
        Ok(self.all().remove(&(tenant.clone(), name.clone())).is_some())
    }

    async fn disable_endpoint(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
        disabled: &Disabled,
    ) -> Result<(), StoreError> {
        if let Some(e) = self.all().get_mut(&(tenant.clone(), name.clone()))
            && e.disabled.is_none()
        {
            e.disabled = Some(disabled.clone());
            e.updated_at = disabled.at;
        }
        Ok(())
    }

    async fn signing_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<SigningSecrets>, StoreError> {
        Ok(self
            .signing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned())
    }

    async fn put_signing_secrets(
        &self,
        tenant: &TenantId,
        secrets: &SigningSecrets,
        read: Option<&SigningSecrets>,
    ) -> Result<(), StoreError> {
        let mut all = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if all.get(tenant) != read {
            return Err(StoreError::Conflict("the signing secret changed".into()));
        }
        all.insert(tenant.clone(), secrets.clone());
        Ok(())
    }
}

/// A suppression list in memory, ordered as the table's sort keys order it.
#[derive(Default)]
pub struct MemorySuppressions {
    entries: Mutex<BTreeMap<(TenantId, String), Suppression>>,
}

impl MemorySuppressions {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(TenantId, String), Suppression>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sort key the table gives an entry.
fn suppression_sk(address: &SuppressedAddress) -> String {
    format!("{}#{}", address.channel(), address.as_str())
}

#[async_trait]
impl SuppressionList for MemorySuppressions {
    async fn suppression(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<Option<Suppression>, StoreError> {
        Ok(self
            .lock()
            .get(&(tenant.clone(), suppression_sk(address)))
            .cloned())
    }

    async fn suppress(&self, entry: &Suppression, replace: bool) -> Result<bool, StoreError> {
        let key = (entry.tenant.clone(), suppression_sk(&entry.address));
        let mut entries = self.lock();
        if !replace && entries.contains_key(&key) {
            return Ok(false);
        }
        entries.insert(key, entry.clone());
        Ok(true)
    }

    async fn unsuppress(
        &self,
        tenant: &TenantId,
        address: &SuppressedAddress,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .remove(&(tenant.clone(), suppression_sk(address)))
            .is_some())
    }

    async fn suppressions(
        &self,
        tenant: &TenantId,
        filter: &SuppressionFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let entries = self.lock();
        let mut matching = entries
            .iter()
            .filter(|((t, sk), s)| {
                t == tenant
                    && after.is_none_or(|a| sk.as_str() > a)
                    && filter.channel.is_none_or(|c| s.address.channel() == c)
                    && filter.reason.is_none_or(|r| s.reason == r)
            })
            .map(|((_, sk), s)| (sk.clone(), s.clone()));
        let items: Vec<(String, Suppression)> = matching.by_ref().take(limit).collect();
        let next = match matching.next() {
            Some(_) => items.last().map(|(sk, _)| sk.clone()),
            None => None,
        };
        Ok(SuppressionPage {
            items: items.into_iter().map(|(_, s)| s).collect(),
            next,
        })
    }
}

#[async_trait]
impl NotificationSearch for MemoryStore {
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        before: Option<&NotificationId>,
        limit: usize,
        now: Timestamp,
    ) -> Result<ListPage, StoreError> {
        self.check_up()?;
        let limit = limit.max(1);
        let records = self.lock();
        let mut kept: Vec<&Notification> = records
            .values()
            .filter(|n| {
                &n.tenant == tenant
                    && !n.is_expired(now)
                    && before.is_none_or(|b| &n.id < b)
                    && filter.keeps(n)
            })
            .collect();
        kept.sort_by(|a, b| b.id.cmp(&a.id));
        let next = (kept.len() > limit).then(|| kept[limit - 1].id.clone());
        Ok(ListPage {
            items: kept.into_iter().take(limit).cloned().collect(),
            next,
        })
    }
}

/// Stats counters in memory, applying each token once, as DynamoDB's transactions do.
#[derive(Default)]
pub struct MemoryStats {
    buckets: Mutex<BTreeMap<BucketKey, Counts>>,
    tokens: Mutex<HashSet<String>>,
}

impl MemoryStats {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl StatsStore for MemoryStats {
    async fn add(&self, additions: &Additions, token: &str) -> Result<(), StoreError> {
        if !self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned())
        {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        for (key, counts) in additions {
            let bucket = buckets.entry(key.clone()).or_default();
            for (k, n) in counts {
                *bucket.entry(*k).or_default() += n;
            }
        }
        Ok(())
    }

    async fn buckets(
        &self,
        tenant: &TenantId,
        granularity: Granularity,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        Ok(self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, _)| {
                &k.tenant == tenant && k.granularity == granularity && (from..to).contains(&k.start)
            })
            .map(|(k, c)| (k.start, c.clone()))
            .collect())
    }
}

/// Callback subscriptions and delivery records in memory.
#[derive(Default)]
pub struct MemoryCallbacks {
    subscriptions: Mutex<HashMap<TenantId, Subscriptions>>,
    /// By tenant, then webhook id and URL (the table's sort key order).
    deliveries: Mutex<BTreeMap<(TenantId, String), CallbackDelivery>>,
}

impl MemoryCallbacks {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CallbackSubscriptions for MemoryCallbacks {
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Option<Subscriptions>, StoreError> {
        Ok(self
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned())
    }

    async fn put_subscriptions(
        &self,
        tenant: &TenantId,
        subscriptions: &Subscriptions,
    ) -> Result<(), StoreError> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), subscriptions.clone());
        Ok(())
    }

    async fn delete_subscriptions(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
        Ok(())
    }
}

#[async_trait]
impl CallbackDeliveries for MemoryCallbacks {
    async fn record_delivery(&self, delivery: &CallbackDelivery) -> Result<(), StoreError> {
        let sk = format!("{}#{}", delivery.webhook_id, delivery.url.as_str());
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((delivery.tenant.clone(), sk), delivery.clone());
        Ok(())
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        status: Option<CallbackDeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CallbackDeliveryPage, StoreError> {
        let deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        let mut matching = deliveries
            .iter()
            .rev()
            .filter(|((t, sk), d)| {
                t == tenant
                    && after.is_none_or(|a| sk.as_str() < a)
                    && status.is_none_or(|s| d.status == s)
            })
            .map(|((_, sk), d)| (sk.clone(), d.clone()));
        let items: Vec<(String, CallbackDelivery)> = matching.by_ref().take(limit).collect();
        let next = match matching.next() {
            Some(_) => items.last().map(|(sk, _)| sk.clone()),
            None => None,
        };
        Ok(CallbackDeliveryPage {
            items: items.into_iter().map(|(_, d)| d).collect(),
            next,
        })
    }
}

/// The inbox in memory: items, counters and the change log of each user.
#[derive(Default)]
pub struct MemoryInbox {
    users: Mutex<HashMap<(TenantId, UserId), MemoryUserInbox>>,
}

#[derive(Default)]
struct MemoryUserInbox {
    /// By id, with whether the app has it.
    items: BTreeMap<String, (InboxItem, bool)>,
    counts: InboxCounts,
    /// (changed at ms, id) → ()
    log: BTreeSet<(i64, String)>,
    uncounted: HashSet<String>,
}

impl MemoryInbox {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl InboxStore for MemoryInbox {
    async fn add(
        &self,
        tenant: &TenantId,
        user: &UserId,
        item: &InboxItem,
        _expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut users = locked(&self.users);
        let inbox = users.entry((tenant.clone(), user.clone())).or_default();
        if inbox.items.contains_key(item.id.as_str()) {
            return Ok(false);
        }
        inbox
            .items
            .insert(item.id.as_str().to_owned(), (item.clone(), false));
        inbox.counts = inbox.counts.plus(item.counts());
        inbox
            .log
            .insert((item.changed_at.as_millis(), item.id.as_str().to_owned()));
        Ok(true)
    }

    async fn item(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        _now: Timestamp,
    ) -> Result<Option<InboxItem>, StoreError> {
        Ok(locked(&self.users)
            .get(&(tenant.clone(), user.clone()))
            .and_then(|i| i.items.get(id.as_str()))
            .map(|(item, _)| item.clone()))
    }

    async fn items(
        &self,
        tenant: &TenantId,
        user: &UserId,
        filter: &InboxFilter,
        after: Option<&NotificationId>,
        limit: usize,
        _now: Timestamp,
    ) -> Result<InboxPage, StoreError> {
        let users = locked(&self.users);
        let Some(inbox) = users.get(&(tenant.clone(), user.clone())) else {
            return Ok(InboxPage::default());
        };
        let mut items: Vec<InboxItem> = inbox
            .items
            .iter()
            .rev()
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() < a.as_str()))
            .map(|(_, (item, _))| item)
            .filter(|item| item.matches(filter))
            .take(limit + 1)
            .cloned()
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| i.id.clone())
        } else {
            None
        };
        Ok(InboxPage { items, next })
    }

    async fn counts(&self, tenant: &TenantId, user: &UserId) -> Result<InboxCounts, StoreError> {
        Ok(locked(&self.users)
            .get(&(tenant.clone(), user.clone()))
            .map(|i| i.counts)
            .unwrap_or_default())
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        user: &UserId,
        changes: &[InboxChange],
    ) -> Result<bool, StoreError> {
        let mut users = locked(&self.users);
        let inbox = users.entry((tenant.clone(), user.clone())).or_default();
        let current = |c: &InboxChange| {
            inbox
                .items
                .get(c.item.id.as_str())
                .is_some_and(|(item, _)| item.changed_at == c.before)
        };
        if !changes.iter().take(MAX_CHANGES_PER_WRITE).all(current) {
            return Ok(false);
        }
        for c in changes.iter().take(MAX_CHANGES_PER_WRITE) {
            let delivered = inbox.items.get(c.item.id.as_str()).is_some_and(|(_, d)| *d);
            inbox
                .items
                .insert(c.item.id.as_str().to_owned(), (c.item.clone(), delivered));
            inbox.counts = inbox.counts.plus(c.delta);
            inbox
                .log
                .insert((c.item.changed_at.as_millis(), c.item.id.as_str().to_owned()));
        }
        Ok(true)
    }

    async fn changed_since(
        &self,
        tenant: &TenantId,
        user: &UserId,
        since: Timestamp,
        limit: usize,
        _now: Timestamp,
    ) -> Result<InboxDelta, StoreError> {
        let users = locked(&self.users);
        let Some(inbox) = users.get(&(tenant.clone(), user.clone())) else {
            return Ok(InboxDelta::default());
        };
        let entries: Vec<&(i64, String)> = inbox
            .log
            .range((since.as_millis(), String::new())..)
            .take(limit + 1)
            .collect();
        let cut = entries.len() > limit;
        let mut ids: Vec<(String, i64)> = Vec::new();
        for (ms, id) in entries.into_iter().take(limit) {
            ids.retain(|(seen, _)| seen != id);
            ids.push((id.clone(), *ms));
        }
        let more_after = if cut {
            ids.last().and_then(|(_, ms)| Timestamp::from_millis(*ms))
        } else {
            None
        };
        let items = ids
            .iter()
            .filter_map(|(id, _)| inbox.items.get(id).map(|(item, _)| item.clone()))
            .collect();
        Ok(InboxDelta { items, more_after })
    }

    async fn mark_delivered(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut users = locked(&self.users);
        let Some((_, delivered)) = users
            .get_mut(&(tenant.clone(), user.clone()))
            .and_then(|i| i.items.get_mut(id.as_str()))
        else {
            return Ok(false);
        };
        Ok(!std::mem::replace(delivered, true))
    }

    async fn uncount(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &NotificationId,
        counts: InboxCounts,
    ) -> Result<(), StoreError> {
        let mut users = locked(&self.users);
        if let Some(inbox) = users.get_mut(&(tenant.clone(), user.clone()))
            && inbox.uncounted.insert(id.as_str().to_owned())
        {
            inbox.items.remove(id.as_str());
            inbox.counts = inbox.counts.minus(counts);
        }
        Ok(())
    }
}

/// Live connections in memory.
#[derive(Default)]
pub struct MemoryConnections {
    connections: Mutex<BTreeMap<String, Connection>>,
}

impl MemoryConnections {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Connections for MemoryConnections {
    async fn connect(&self, connection: &Connection) -> Result<(), StoreError> {
        locked(&self.connections).insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn connection(&self, id: &str, now: Timestamp) -> Result<Option<Connection>, StoreError> {
        Ok(locked(&self.connections)
            .get(id)
            .filter(|c| c.connected_at.plus(MAX_CONNECTION_LIFE) > now)
            .cloned())
    }

    async fn disconnect(&self, id: &str) -> Result<(), StoreError> {
        locked(&self.connections).remove(id);
        Ok(())
    }

    async fn of_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Connection>, StoreError> {
        Ok(locked(&self.connections)
            .values()
            .filter(|c| &c.tenant == tenant && &c.user == user)
            .filter(|c| c.connected_at.plus(MAX_CONNECTION_LIFE) > now)
            .cloned()
            .collect())
    }
}

/// Chat targets and their send slots in memory.
#[derive(Default)]
pub struct MemoryChatTargets {
    targets: Mutex<BTreeMap<(TenantId, String), crate::domain::chat::ChatTarget>>,
    slots: Mutex<HashMap<(TenantId, String), i64>>,
}

impl MemoryChatTargets {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ChatTargets for MemoryChatTargets {
    async fn put_target(
        &self,
        tenant: &TenantId,
        target: &crate::domain::chat::ChatTarget,
    ) -> Result<(), StoreError> {
        locked(&self.targets).insert(
            (tenant.clone(), target.name.as_str().to_owned()),
            target.clone(),
        );
        Ok(())
    }

    async fn target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<Option<crate::domain::chat::ChatTarget>, StoreError> {
        Ok(locked(&self.targets)
            .get(&(tenant.clone(), name.as_str().to_owned()))
            .cloned())
    }

    async fn targets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::domain::chat::ChatTarget>, StoreError> {
        Ok(locked(&self.targets)
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, target)| target.clone())
            .collect())
    }

    async fn delete_target(
        &self,
        tenant: &TenantId,
        name: &EndpointName,
    ) -> Result<bool, StoreError> {
        Ok(locked(&self.targets)
            .remove(&(tenant.clone(), name.as_str().to_owned()))
            .is_some())
    }

    async fn take_slot(
        &self,
        tenant: &TenantId,
        lane: &str,
        now: Timestamp,
        interval: std::time::Duration,
        max_wait: std::time::Duration,
    ) -> Result<Result<Timestamp, std::time::Duration>, StoreError> {
        let mut slots = locked(&self.slots);
        let key = (tenant.clone(), lane.to_owned());
        let slot = super::chat::next_slot(slots.get(&key).copied(), now, interval);
        let wait = std::time::Duration::from_millis((slot - now.as_millis()).max(0) as u64);
        if wait > max_wait {
            return Ok(Err(wait));
        }
        slots.insert(key, slot);
        Ok(Ok(Timestamp::from_millis(slot).unwrap_or(now)))
    }
}

/// Tenants and keys in memory.
#[derive(Default)]
pub struct MemoryTenants {
    tenants: Mutex<BTreeMap<TenantId, crate::domain::tenant::Tenant>>,
    /// By hash.
    keys: Mutex<BTreeMap<String, crate::domain::tenant::StoredKey>>,
}

impl MemoryTenants {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TenantStore for MemoryTenants {
    async fn create_tenant(
        &self,
        tenant: &crate::domain::tenant::Tenant,
    ) -> Result<bool, StoreError> {
        let mut tenants = locked(&self.tenants);
        if tenants.contains_key(&tenant.id) {
            return Ok(false);
        }
        tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(true)
    }

    async fn put_tenant(&self, tenant: &crate::domain::tenant::Tenant) -> Result<(), StoreError> {
        locked(&self.tenants).insert(tenant.id.clone(), tenant.clone());
        Ok(())
    }

    async fn tenant(
        &self,
        id: &TenantId,
    ) -> Result<Option<crate::domain::tenant::Tenant>, StoreError> {
        Ok(locked(&self.tenants).get(id).cloned())
    }

    async fn tenants(&self) -> Result<Vec<crate::domain::tenant::Tenant>, StoreError> {
        Ok(locked(&self.tenants).values().cloned().collect())
    }

    async fn add_key(
        &self,
        hash: &str,
        key: &crate::domain::tenant::StoredKey,
    ) -> Result<(), StoreError> {
        locked(&self.keys).insert(hash.to_owned(), key.clone());
        Ok(())
    }

    async fn key(
        &self,
        hash: &str,
    ) -> Result<Option<crate::domain::tenant::StoredKey>, StoreError> {
        Ok(locked(&self.keys).get(hash).cloned())
    }

    async fn keys(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::domain::tenant::StoredKey>, StoreError> {
        let mut keys: Vec<_> = locked(&self.keys)
            .values()
            .filter(|k| &k.tenant == tenant)
            .cloned()
            .collect();
        keys.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Ok(keys)
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: Timestamp,
    ) -> Result<Option<crate::domain::tenant::StoredKey>, StoreError> {
        let mut keys = locked(&self.keys);
        let Some(key) = keys
            .values_mut()
            .find(|k| &k.tenant == tenant && k.prefix == prefix)
        else {
            return Ok(None);
        };
        key.revoked_at.get_or_insert(now);
        Ok(Some(key.clone()))
    }

    async fn touch_key(
        &self,
        hash: &str,
        now: Timestamp,
        every: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let mut keys = locked(&self.keys);
        let Some(key) = keys.get_mut(hash) else {
            return Ok(false);
        };
        if key.last_used_at.is_some_and(|at| at.plus(every) > now) {
            return Ok(false);
        }
        key.last_used_at = Some(now);
        Ok(true)
    }
}

/// Limit counters in memory (no expiry: a test's windows are distinct counters).
#[derive(Default)]
pub struct MemoryCounters {
    counters: Mutex<HashMap<(TenantId, String), u32>>,
}

impl MemoryCounters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, tenant: &TenantId, counter: &str) -> u32 {
        locked(&self.counters)
            .get(&(tenant.clone(), counter.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl super::LimitCounters for MemoryCounters {
    async fn add_within(
        &self,
        tenant: &TenantId,
        counter: &str,
        cost: u32,
        limit: u32,
        _expires_at: i64,
    ) -> Result<Option<u32>, StoreError> {
        let mut counters = locked(&self.counters);
        let n = counters
            .entry((tenant.clone(), counter.to_owned()))
            .or_default();
        if n.saturating_add(cost) > limit {
            return Ok(None);
        }
        *n += cost;
        Ok(Some(*n))
    }

    async fn add_what_fits(
        &self,
        tenant: &TenantId,
        counter: &str,
        want: u32,
        limit: u32,
        _expires_at: i64,
    ) -> Result<u32, StoreError> {
        let mut counters = locked(&self.counters);
        let n = counters
            .entry((tenant.clone(), counter.to_owned()))
            .or_default();
        let fits = want.min(limit.saturating_sub(*n));
        *n += fits;
        Ok(fits)
    }
}
