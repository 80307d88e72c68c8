//! User tokens: what a tenant's backend gives its app so the app can act for one user
//! (acknowledge a notification as read) without the tenant's API key. The backend signs
//! them itself with the tenant's user-token secret, no call to the service:
//!
//! ```text
//! payload = base64url(JSON {"t": <tenant>, "u": <userId>, "e": <expiry, epoch seconds>})
//! token   = payload + "." + base64url(HMAC-SHA256(key = the secret's text, payload))
//! ```
//!
//! (base64url without padding.) A token is good until its expiry, at most
//! [`MAX_LIFETIME`] ahead, and only for its tenant and user.

use std::{fmt, time::Duration};

use aws_lc_rs::{constant_time, hmac, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::domain::{TenantId, UserId, time::Timestamp};

pub const SECRET_PREFIX: &str = "uts_";
/// Tokens live briefly, like the sessions they come with.
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A tenant's user-token secret. `Debug` never shows it; it is shown to the tenant once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserTokenSecret(String);

impl fmt::Debug for UserTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserTokenSecret(…)")
    }
}

impl UserTokenSecret {
    pub fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_owned())?;
        Ok(Self(format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// The secret as shown to its owner (once).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserToken {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    #[serde(rename = "u")]
    pub user: UserId,
    /// Epoch seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserTokenError {
    #[error("the user token is malformed")]
    Malformed,
    #[error("the user token's signature does not match")]
    BadSignature,
    #[error("the user token has expired")]
    Expired,
    #[error("the user token lives longer than 7 days")]
    TooLong,
}

impl UserToken {
    /// What a tenant's backend does (here for tests and the README's example to agree).
    pub fn sign(&self, secret: &UserTokenSecret) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let tag = hmac::sign(&secret.key(), payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The tenant a token claims, before it is verified (to find the tenant's secret).
    pub fn claimed_tenant(token: &str) -> Result<TenantId, UserTokenError> {
        Ok(Self::parts(token)?.0.tenant)
    }

    pub fn verify(
        token: &str,
        secret: &UserTokenSecret,
        now: Timestamp,
    ) -> Result<Self, UserTokenError> {
        let (claims, payload, tag) = Self::parts(token)?;
        let expected = hmac::sign(&secret.key(), payload.as_bytes());
        constant_time::verify_slices_are_equal(expected.as_ref(), &tag)
            .map_err(|_| UserTokenError::BadSignature)?;
        if now.as_seconds() >= claims.expires {
            return Err(UserTokenError::Expired);
        }
        if claims.expires - now.as_seconds() > MAX_LIFETIME.as_secs() as i64 {
            return Err(UserTokenError::TooLong);
        }
        Ok(claims)
    }

    fn parts(token: &str) -> Result<(Self, &str, Vec<u8>), UserTokenError> {
        let (payload, tag) = token.split_once('.').ok_or(UserTokenError::Malformed)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| UserTokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| UserTokenError::Malformed)?;
        let claims = serde_json::from_slice(&json).map_err(|_| UserTokenError::Malformed)?;
        Ok((claims, payload, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000).unwrap()
    }

    fn token(user: &str, expires: i64) -> UserToken {
        UserToken {
            tenant: TenantId::new("acme"),
            user: UserId::parse(user).unwrap(),
            expires,
        }
    }

    #[test]
    fn a_token_is_good_for_its_user_until_it_expires_and_not_otherwise() {
        let secret = UserTokenSecret::generate().unwrap();
        let signed = token("u-1", 1_000).sign(&secret);
        assert_eq!(
            UserToken::verify(&signed, &secret, at(999)).unwrap(),
            token("u-1", 1_000)
        );
        assert_eq!(
            UserToken::verify(&signed, &secret, at(1_000)),
            Err(UserTokenError::Expired)
        );
        let other = UserTokenSecret::generate().unwrap();
        assert_eq!(
            UserToken::verify(&signed, &other, at(0)),
            Err(UserTokenError::BadSignature)
        );
        // Another user's claims under this token's signature.
        let (_, tag) = signed.split_once('.').unwrap();
        let (payload, _) = token("u-2", 1_000)
            .sign(&secret)
            .split_once('.')
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .unwrap();
        assert_eq!(
            UserToken::verify(&format!("{payload}.{tag}"), &secret, at(0)),
            Err(UserTokenError::BadSignature)
        );
        let long = token("u-1", 8 * 24 * 3600).sign(&secret);
        assert_eq!(
            UserToken::verify(&long, &secret, at(0)),
            Err(UserTokenError::TooLong)
        );
        assert_eq!(
            UserToken::verify("nope", &secret, at(0)),
            Err(UserTokenError::Malformed)
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_payload_text_keyed_by_the_secret_text() {
        // What the README's snippet computes, with a fixed secret.
        let secret = UserTokenSecret("uts_test".into());
        let signed = token("u-1", 1_800_000_000).sign(&secret);
        let (payload, tag) = signed.split_once('.').unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(payload).unwrap(),
            br#"{"t":"acme","u":"u-1","e":1800000000}"#
        );
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"uts_test"),
            payload.as_bytes(),
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(tag).unwrap(), expected.as_ref());
    }
}
