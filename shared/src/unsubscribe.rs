//! One-click unsubscribe (RFC 8058): the signed, expiring token in an email's
//! `List-Unsubscribe` URL. It is the only authority the unsubscribe route needs (no API key):
//! it names the tenant, the user (or the address of a send without one) and the category,
//! and is signed with the tenant's own unsubscribe key, so it cannot be altered or moved to
//! another tenant.
//!
//! Form: `<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, payload))>`.

use std::{fmt, time::Duration};

use aws_lc_rs::{constant_time, hmac, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::domain::{EmailAddress, TenantId, UserId, time::Timestamp};

/// How long a link works after the email is accepted: mail sits in inboxes for weeks, and
/// mailbox providers call the link whenever the reader clicks their unsubscribe button.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 24 * 3600);
const KEY_BYTES: usize = 32;

/// A tenant's key for unsubscribe tokens. `Debug` never shows it; it never leaves the service.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubscribeKey(Vec<u8>);

impl fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeKey(…)")
    }
}

impl UnsubscribeKey {
    pub fn generate() -> Result<Self, String> {
        let mut bytes = vec![0u8; KEY_BYTES];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_owned())?;
        Ok(Self(bytes))
    }

    /// As stored (base64url).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    pub fn decode(stored: &str) -> Result<Self, String> {
        URL_SAFE_NO_PAD
            .decode(stored)
            .ok()
            .filter(|b| b.len() == KEY_BYTES)
            .map(Self)
            .ok_or_else(|| "not an unsubscribe key".to_owned())
    }

    fn hmac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }
}

/// Who opts out: the user a send named, or the address of a send that named none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Subscriber {
    User(UserId),
    Address(EmailAddress),
}

impl Subscriber {
    /// An address's opt-outs, whatever the case it was written in (mailboxes are compared
    /// in lower case, as the suppression list does).
    pub fn address(address: &EmailAddress) -> Self {
        let lower = EmailAddress::parse(&address.as_str().to_lowercase());
        Subscriber::Address(lower.unwrap_or_else(|_| address.clone()))
    }
}

/// What a token grants: opting `subscriber` out of `category` by email, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    #[serde(rename = "s")]
    pub subscriber: Subscriber,
    #[serde(rename = "c")]
    pub category: String,
    /// Epoch seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

impl Unsubscribe {
    pub fn new(
        tenant: TenantId,
        subscriber: Subscriber,
        category: String,
        issued: Timestamp,
    ) -> Self {
        Self {
            tenant,
            subscriber,
            category,
            expires: issued.plus(TOKEN_LIFETIME).as_seconds(),
        }
    }

    pub fn sign(&self, key: &UnsubscribeKey) -> String {
        // Serialising this struct of strings cannot fail.
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let tag = hmac::sign(&key.hmac(), &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The tenant a token claims, before it is verified (to find the tenant's key).
    pub fn claimed_tenant(token: &str) -> Result<TenantId, TokenError> {
        Ok(Self::parts(token)?.0.tenant)
    }

    /// The token's grant, if `key` signed it and it has not expired at `now`.
    pub fn verify(token: &str, key: &UnsubscribeKey, now: Timestamp) -> Result<Self, TokenError> {
        let (grant, payload, tag) = Self::parts(token)?;
        let expected = hmac::sign(&key.hmac(), &payload);
        constant_time::verify_slices_are_equal(expected.as_ref(), &tag)
            .map_err(|_| TokenError::BadSignature)?;
        if now.as_seconds() >= grant.expires {
            return Err(TokenError::Expired);
        }
        Ok(grant)
    }

    fn parts(token: &str) -> Result<(Self, Vec<u8>, Vec<u8>), TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let grant = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        Ok((grant, payload, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000).unwrap()
    }

    fn grant() -> Unsubscribe {
        Unsubscribe::new(
            TenantId::new("acme"),
            Subscriber::User(UserId::parse("u-1").unwrap()),
            "marketing".into(),
            at(1_800_000_000),
        )
    }

    #[test]
    fn a_token_verifies_with_its_key_until_it_expires() {
        let key = UnsubscribeKey::generate().unwrap();
        let token = grant().sign(&key);
        assert!(
            !token.contains(['/', '+', '=', '?', '#']),
            "URL-safe: {token}"
        );
        assert_eq!(
            Unsubscribe::claimed_tenant(&token).unwrap().as_str(),
            "acme"
        );
        assert_eq!(
            Unsubscribe::verify(&token, &key, at(1_800_000_001)).unwrap(),
            grant()
        );
        let end = 1_800_000_000 + TOKEN_LIFETIME.as_secs() as i64;
        assert!(Unsubscribe::verify(&token, &key, at(end - 1)).is_ok());
        assert_eq!(
            Unsubscribe::verify(&token, &key, at(end)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_key_a_tampered_payload_or_garbage_is_refused() {
        let key = UnsubscribeKey::generate().unwrap();
        let token = grant().sign(&key);
        let other = UnsubscribeKey::generate().unwrap();
        assert_eq!(
            Unsubscribe::verify(&token, &other, at(0)),
            Err(TokenError::BadSignature),
            "another tenant's key"
        );
        // The same signature over a payload naming another tenant.
        let mut forged = grant();
        forged.tenant = TenantId::new("globex");
        let (_, tag) = token.split_once('.').unwrap();
        let (payload, _) = forged
            .sign(&key)
            .split_once('.')
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .unwrap();
        assert_eq!(
            Unsubscribe::verify(&format!("{payload}.{tag}"), &key, at(0)),
            Err(TokenError::BadSignature)
        );
        for garbage in ["", "abc", "a.b", "!!.!!"] {
            assert_eq!(
                Unsubscribe::verify(garbage, &key, at(0)),
                Err(TokenError::Malformed),
                "{garbage}"
            );
        }
        assert_eq!(
            UnsubscribeKey::decode(&key.encode()).unwrap(),
            key,
            "stored and read back"
        );
    }
}
