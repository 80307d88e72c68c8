//! Idempotency keys: a client that retries a POST with the same `Idempotency-Key` gets the
//! first answer again instead of a second notification.
//!
//! The key is claimed before any work, with the id the new notification will get. If the
//! process dies mid-way, the claim's lock runs out and a retry *resumes* with that same id:
//! the record is written once (a second insert finds it), and the message sent again at worst,
//! which the workers' claim turns into a single send.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{NotificationId, TenantId, time::Timestamp};

/// An answer kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use of the key: go ahead, and give a new notification the `planned` id.
    Started { planned: NotificationId },
    /// An earlier request with this key died mid-way: go ahead with its id (its work may be
    /// partly done).
    Resumed { planned: NotificationId },
    /// Answered before: answer the same again.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// A request with this key is being processed right now.
    InProgress,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for the request `fingerprint` for `lock`; the key is remembered for `keep`.
    #[allow(clippy::too_many_arguments)]
    async fn begin(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        planned: &NotificationId,
        now: Timestamp,
        lock: Duration,
        keep: Duration,
    ) -> Result<Begin, StoreError>;

    /// Records the answer, to be replayed until the key expires.
    async fn complete(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Forgets the key (the request failed in a way worth retrying).
    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError>;
}

/// The state of a key, as both stores keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyState {
    pub fingerprint: String,
    pub planned: NotificationId,
    pub locked_until_ms: i64,
    pub response: Option<StoredResponse>,
    pub expires_at_s: i64,
}

impl KeyState {
    /// What a new request finds, given the key's current state (if any).
    pub fn decide(
        current: Option<&KeyState>,
        fingerprint: &str,
        planned: &NotificationId,
        now: Timestamp,
    ) -> Begin {
        let Some(cur) = current.filter(|c| c.expires_at_s > now.as_seconds()) else {
            return Begin::Started {
                planned: planned.clone(),
            };
        };
        if cur.fingerprint != fingerprint {
            return Begin::Mismatch;
        }
        match &cur.response {
            Some(r) => Begin::Replay(r.clone()),
            None if cur.locked_until_ms < now.as_millis() => Begin::Resumed {
                planned: cur.planned.clone(),
            },
            None => Begin::InProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::at;

    fn state(fp: &str, locked_until: i64, response: Option<StoredResponse>) -> KeyState {
        KeyState {
            fingerprint: fp.into(),
            planned: NotificationId::parse("01890000-0000-7000-8000-000000000001").unwrap(),
            locked_until_ms: at(locked_until).as_millis(),
            response,
            expires_at_s: at(86_400_000).as_seconds(),
        }
    }

    #[test]
    fn the_outcomes_of_reusing_a_key() {
        let planned = NotificationId::generate();
        let now = at(1_000);
        assert_eq!(
            KeyState::decide(None, "a", &planned, now),
            Begin::Started {
                planned: planned.clone()
            }
        );
        let done = StoredResponse {
            status: 202,
            body: "{}".into(),
        };
        assert_eq!(
            KeyState::decide(Some(&state("a", 0, Some(done.clone()))), "a", &planned, now),
            Begin::Replay(done)
        );
        assert_eq!(
            KeyState::decide(Some(&state("b", 0, None)), "a", &planned, now),
            Begin::Mismatch
        );
        assert_eq!(
            KeyState::decide(Some(&state("a", 5_000, None)), "a", &planned, now),
            Begin::InProgress
        );
        let crashed = state("a", 500, None);
        assert_eq!(
            KeyState::decide(Some(&crashed), "a", &planned, now),
            Begin::Resumed {
                planned: crashed.planned.clone()
            }
        );
    }

    #[test]
    fn an_expired_key_starts_afresh() {
        let mut old = state("other", 0, None);
        old.expires_at_s = at(0).as_seconds();
        let planned = NotificationId::generate();
        assert!(matches!(
            KeyState::decide(Some(&old), "a", &planned, at(2_000)),
            Begin::Started { .. }
        ));
    }
}
