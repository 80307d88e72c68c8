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
        tenant::{KeyKind, Scope, StoredKey, TenantStatus, key_hash},
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
}

impl Caller {
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
    /// The key and its tenant's status; `None`: no such key.
    found: Option<(StoredKey, TenantStatus)>,
    touched_at: Option<Timestamp>,
}

#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
}

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the key store is unavailable");
    ApiError::Unavailable("keys cannot be checked now; retry the request".into())
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The caller of a table key `presented` (one that says `nk_live_`/`nk_test_`), read
    /// from the cache while it is fresh.
    pub async fn caller(
        &self,
        store: &dyn TenantStore,
        presented: &str,
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
                let key = store.key(&hash).await.map_err(unavailable)?;
                let found = match key {
                    Some(k) => {
                        let status = store
                            .tenant(&k.tenant)
                            .await
                            .map_err(unavailable)?
                            .map_or(TenantStatus::Active, |t| t.status);
                        Some((k, status))
                    }
                    None => None,
                };
                let touched_at = self.lock().get(&hash).and_then(|e| e.touched_at);
                let entry = Entry {
                    read_at: now,
                    found,
                    touched_at,
                };
                let mut entries = self.lock();
                if entries.len() >= KEY_CACHE_ENTRIES {
                    // Bounded: the stale go first, then any (a re-read costs one GetItem).
                    entries.retain(|_, e| e.read_at.plus(KEY_CACHE_TTL) > now);
                    if entries.len() >= KEY_CACHE_ENTRIES {
                        entries.clear();
                    }
                }
                entries.insert(hash.clone(), entry.clone());
                entry
            }
        };
        let Some((key, status)) = entry.found else {
            return Err(ApiError::Unauthorized);
        };
        if !key.usable() {
            info!(key = %key.prefix, "a revoked key was refused");
            return Err(ApiError::Unauthorized);
        }
        if status == TenantStatus::Suspended {
            return Err(ApiError::TenantSuspended(key.tenant.clone()));
        }
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
        })
    }
}
