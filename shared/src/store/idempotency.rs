//! Idempotency keys: a client that retries a POST with the same `Idempotency-Key` gets the
//! first answer again instead of a second notification.
//!
//! The key is claimed before any work, with the id the new notification will get. If the
//! process dies mid-way, the claim's lock runs out and a retry *resumes* with that same id:
//! the record is written once (a second insert finds it), and the message sent again at worst,
//! which the workers' claim turns into a single send.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    dynamo::{self, DynamoStore, Item, corrupt, unavailable},
    error::StoreError,
    keys,
};
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

// ------------------------------------------------------------------------------ DynamoDB

/// Answers larger than this are kept gzipped: a batch's answer lists up to 10,000 ids, more
/// than a DynamoDB item may hold (400 KB) as text.
const COMPRESS_ANSWERS_OVER: usize = 64 * 1024;

/// The attribute an answer body is kept in: text, or gzipped bytes when large.
fn answer_body(body: &str) -> Result<(&'static str, AttributeValue), StoreError> {
    use std::io::Write;
    if body.len() <= COMPRESS_ANSWERS_OVER {
        return Ok(("body", AttributeValue::S(body.to_owned())));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| {
            (
                "bodyGz",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes)),
            )
        })
        .map_err(|e| corrupt("idempotency answer", e))
}

fn read_answer_body(item: &Item) -> Option<String> {
    use std::io::Read;
    match (item.get("body"), item.get("bodyGz")) {
        (Some(AttributeValue::S(text)), _) => Some(text.clone()),
        (_, Some(AttributeValue::B(bytes))) => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(bytes.as_ref())
                .read_to_string(&mut text)
                .ok()?;
            Some(text)
        }
        _ => None,
    }
}

fn key_state(item: &Item) -> Option<KeyState> {
    let s = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let n = |k: &str| match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().ok(),
        _ => None,
    };
    Some(KeyState {
        fingerprint: s("fingerprint")?,
        planned: NotificationId::parse(&s("plannedId")?)?,
        locked_until_ms: n("lockedUntilMs").unwrap_or(0),
        response: match (n("status"), read_answer_body(item)) {
            (Some(status), Some(body)) => Some(StoredResponse {
                status: u16::try_from(status).ok()?,
                body,
            }),
            _ => None,
        },
        expires_at_s: n("ttl")?,
    })
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        planned: &NotificationId,
        now: Timestamp,
        lock: Duration,
        keep: Duration,
    ) -> Result<Begin, StoreError> {
        let item_key = keys::idempotency_key(tenant, key);
        // Read, decide as the in-memory store does, then write conditionally on what was read;
        // a concurrent request that wins the write makes this one read and decide again.
        for _ in 0..3 {
            let current = self.read(item_key.clone()).await?;
            let state = current.as_ref().and_then(key_state);
            let decision = KeyState::decide(state.as_ref(), fingerprint, planned, now);
            let (Begin::Started { planned: id } | Begin::Resumed { planned: id }) = &decision
            else {
                return Ok(decision);
            };
            let mut item = item_key.clone();
            item.extend([
                (
                    "fingerprint".to_owned(),
                    AttributeValue::S(fingerprint.to_owned()),
                ),
                ("plannedId".to_owned(), AttributeValue::S(id.to_string())),
                (
                    "lockedUntilMs".to_owned(),
                    AttributeValue::N(now.plus(lock).as_millis().to_string()),
                ),
                (
                    "ttl".to_owned(),
                    AttributeValue::N(now.plus(keep).as_seconds().to_string()),
                ),
            ]);
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            let put = match state {
                None => put.condition_expression("attribute_not_exists(PK)"),
                // Unchanged since it was read: the same lock still lapsed, or the same expiry.
                Some(s) => put
                    .condition_expression("lockedUntilMs = :locked AND #ttl = :ttl")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(
                        ":locked",
                        AttributeValue::N(s.locked_until_ms.to_string()),
                    )
                    .expression_attribute_values(
                        ":ttl",
                        AttributeValue::N(s.expires_at_s.to_string()),
                    ),
            };
            // Refused: another request changed the key since it was read; decide again.
            if dynamo::applied(put.send().await)? {
                return Ok(decision);
            }
        }
        Ok(Begin::InProgress)
    }

    async fn complete(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let (attribute, body) = answer_body(&response.body)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::idempotency_key(tenant, key)))
            .update_expression(format!(
                "SET #status = :status, {attribute} = :body REMOVE lockedUntilMs"
            ))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", AttributeValue::N(response.status.to_string()))
            .expression_attribute_values(":body", body)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::idempotency_key(tenant, key)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
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
