//! Who is calling: a static key (`NOTIFY_API_KEYS`: every scope, live), or a key kept in the
//! table (`nk_live_…` / `nk_test_…`: its tenant, scopes and kind), found by its SHA-256.
//!
//! A warm function keeps what it read of a table key for at most [`KEY_CACHE_TTL`], so a
//! revocation or a suspension takes effect within that bound everywhere; at most
//! [`KEY_CACHE_ENTRIES`] keys are kept. A key's last use is written at most once a minute per
//! function.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use notify_shared::{
    domain::{
        TenantId,
        tenant::{KeyKind, Scope, StoredKey, Tenant, TenantLimits, TenantStatus, key_hash},
        time::Timestamp,
    },
    store::{StoreError, TenantStore},
};
use tracing::{error, info};

use crate::ApiError;

/// How long a warm function trusts what it read of a table key: the revocation bound.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(60);
pub const KEY_CACHE_ENTRIES: usize = 10_000;
/// A key's `lastUsedAt` is written at most this often.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    /// `None`: a static key, which has every scope.
    pub key: Option<StoredKey>,
    /// The tenant's own limits, else the deployment's defaults.
    pub limits: TenantLimits,
}

/// Who made a request, as the notifications it makes remember it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// A test key's: the simulator stands in for the providers.
    pub test: bool,
    /// The key's visible prefix, or `static` (a `NOTIFY_API_KEYS` key).
    pub key: String,
}

impl Caller {
    pub fn origin(&self) -> Origin {
        Origin {
            test: self.test(),
            key: self
                .key
                .as_ref()
                .map_or_else(|| "static".to_owned(), |k| k.prefix.clone()),
        }
    }

    /// Whether the key is a test key (`nk_test_…`).
    pub fn test(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.kind == KeyKind::Test)
    }

    /// `403` naming `scope` when the key lacks it.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self.key.as_ref().and_then(|k| k.missing(scope)) {
            None => Ok(()),
            Some(missing) => Err(ApiError::MissingScope(missing)),
        }
    }
}

/// What was read of one key, and when.
#[derive(Clone)]
struct Entry {
    read_at: Timestamp,
    /// `None`: no such key.
    found: Option<StoredKey>,
    touched_at: Option<Timestamp>,
}

#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Each tenant's item as read (`None`: not in the table), with when; same bound as keys.
    tenants: Mutex<HashMap<TenantId, (Timestamp, Option<Tenant>)>>,
}

/// Keeps at most [`KEY_CACHE_ENTRIES`] in `map`: the stale go first, then any (a re-read
/// costs one GetItem).
fn bound<K, V>(map: &mut HashMap<K, V>, fresh: impl Fn(&V) -> bool) {
    if map.len() >= KEY_CACHE_ENTRIES {
        map.retain(|_, v| fresh(v));
        if map.len() >= KEY_CACHE_ENTRIES {
            map.clear();
        }
    }
}

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the key store is unavailable");
    ApiError::Unavailable("keys cannot be checked now; retry the request".into())
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant's item, read from the cache while it is fresh.
    pub async fn tenant(
        &self,
        store: &dyn TenantStore,
        id: &TenantId,
        now: Timestamp,
    ) -> Result<Option<Tenant>, ApiError> {
        let fresh = |read_at: &Timestamp| read_at.plus(KEY_CACHE_TTL) > now;
        let locked = || self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((read_at, tenant)) = locked().get(id)
            && fresh(read_at)
        {
            return Ok(tenant.clone());
        }
        let tenant = store.tenant(id).await.map_err(unavailable)?;
        let mut tenants = locked();
        bound(&mut tenants, |(read_at, _)| fresh(read_at));
        tenants.insert(id.clone(), (now, tenant.clone()));
        Ok(tenant)
    }

    /// The caller of a static key's tenant: refused while the tenant is suspended.
    pub async fn static_caller(
        &self,
        store: &dyn TenantStore,
        tenant: TenantId,
        defaults: TenantLimits,
        now: Timestamp,
    ) -> Result<Caller, ApiError> {
        let limits = self.standing(store, &tenant, defaults, now).await?;
        Ok(Caller {
            tenant,
            key: None,
            limits,
        })
    }

    /// The tenant's limits, or `403 tenant_suspended`.
    async fn standing(
        &self,
        store: &dyn TenantStore,
        tenant: &TenantId,
        defaults: TenantLimits,
        now: Timestamp,
    ) -> Result<TenantLimits, ApiError> {
        match self.tenant(store, tenant, now).await? {
            Some(t) if t.status == TenantStatus::Suspended => {
                Err(ApiError::TenantSuspended(tenant.clone()))
            }
            Some(t) => Ok(t.limits),
            None => Ok(defaults),
        }
    }

    /// The caller of a table key `presented` (one that says `nk_live_`/`nk_test_`), read
    /// from the cache while it is fresh.
    pub async fn caller(
        &self,
        store: &dyn TenantStore,
        presented: &str,
        defaults: TenantLimits,
        now: Timestamp,
    ) -> Result<Caller, ApiError> {
        if KeyKind::of(presented).is_none() {
            return Err(ApiError::Unauthorized);
        }
        let hash = key_hash(presented);
        let cached = self
            .lock()
            .get(&hash)
            .filter(|e| e.read_at.plus(KEY_CACHE_TTL) > now)
            .cloned();
        let entry = match cached {
            Some(e) => e,
            None => {
                let found = store.key(&hash).await.map_err(unavailable)?;
                let touched_at = self.lock().get(&hash).and_then(|e| e.touched_at);
                let entry = Entry {
                    read_at: now,
                    found,
                    touched_at,
                };
                let mut entries = self.lock();
                bound(&mut entries, |e| e.read_at.plus(KEY_CACHE_TTL) > now);
                entries.insert(hash.clone(), entry.clone());
                entry
            }
        };
        let Some(key) = entry.found else {
            return Err(ApiError::Unauthorized);
        };
        if !key.usable() {
            info!(key = %key.prefix, "a revoked key was refused");
            return Err(ApiError::Unauthorized);
        }
        let limits = self.standing(store, &key.tenant, defaults, now).await?;
        if entry
            .touched_at
            .is_none_or(|at| at.plus(LAST_USED_EVERY) <= now)
        {
            if let Some(e) = self.lock().get_mut(&hash) {
                e.touched_at = Some(now);
            }
            // Best effort: a failure only leaves lastUsedAt older.
            if let Err(e) = store.touch_key(&hash, now, LAST_USED_EVERY).await {
                info!(error = %e, "could not record a key's use");
            }
        }
        Ok(Caller {
            tenant: key.tenant.clone(),
            key: Some(key),
            limits,
        })
    }
}
