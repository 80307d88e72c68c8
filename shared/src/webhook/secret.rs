//! Signing by the Standard Webhooks specification
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! a secret is `whsec_` + base64 of random bytes; a delivery carries `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, `v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, space-separated when more than one secret signs (during a
//! rotation's grace period).

use std::{fmt, time::Duration};

use aws_lc_rs::{constant_time, hmac, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

pub const SECRET_PREFIX: &str = "whsec_";
/// The spec allows 24 to 64 bytes; we generate 32 (the HMAC-SHA256 block's half).
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;
const GENERATED_SECRET_BYTES: usize = 32;
/// How far a receiver tolerates a timestamp from its clock (the reference libraries' 5 min).
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A signing secret. `Debug` never shows it; it is shown to the tenant once, on creation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecret(String);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl TryFrom<String> for WebhookSecret {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<WebhookSecret> for String {
    fn from(s: WebhookSecret) -> Self {
        s.0
    }
}

impl WebhookSecret {
    /// A new random secret. Fails only if the system's random source does.
    pub fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_owned())?;
        Ok(Self(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("must start with {SECRET_PREFIX}"))?;
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| "must be whsec_ followed by base64".to_owned())?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(format!(
                "must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret as shown to its owner (once).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> hmac::Key {
        let encoded = self.0.strip_prefix(SECRET_PREFIX).unwrap_or_default();
        // Checked when built.
        let bytes = STANDARD.decode(encoded).unwrap_or_default();
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    }

    /// `v1,<base64 signature>` of one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let tag = hmac::sign(&self.key(), signed_content(id, timestamp, body).as_bytes());
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// Whether one of the space-separated `v1` signatures of `header` is this secret's.
    pub fn verifies(&self, id: &str, timestamp: i64, body: &str, header: &str) -> bool {
        let expected = hmac::sign(&self.key(), signed_content(id, timestamp, body).as_bytes());
        header.split(' ').any(|versioned| {
            versioned
                .strip_prefix("v1,")
                .and_then(|sig| STANDARD.decode(sig).ok())
                .is_some_and(|sig| {
                    constant_time::verify_slices_are_equal(&sig, expected.as_ref()).is_ok()
                })
        })
    }
}

fn signed_content(id: &str, timestamp: i64, body: &str) -> String {
    format!("{id}.{timestamp}.{body}")
}

/// The secrets of an endpoint: the current one, and after a rotation the previous one until
/// its grace period ends. Both sign while both are valid, so a receiver can switch at leisure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecrets {
    pub current: WebhookSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    pub secret: WebhookSecret,
    /// It stops signing at this time.
    pub until: Timestamp,
}

impl SigningSecrets {
    pub fn new(current: WebhookSecret) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// A new current secret; the old one keeps signing for `grace`.
    pub fn rotated(&self, next: WebhookSecret, now: Timestamp, grace: Duration) -> Self {
        Self {
            previous: (!grace.is_zero()).then(|| PreviousSecret {
                secret: self.current.clone(),
                until: now.plus(grace),
            }),
            current: next,
        }
    }

    /// The secrets that sign at `now`, current first.
    pub fn signing(&self, now: Timestamp) -> Vec<&WebhookSecret> {
        let mut out = vec![&self.current];
        if let Some(p) = self.previous.as_ref().filter(|p| p.until > now) {
            out.push(&p.secret);
        }
        out
    }

    /// The `webhook-signature` header of one delivery.
    pub fn signature_header(&self, id: &str, timestamp: i64, body: &str, now: Timestamp) -> String {
        self.signing(now)
            .into_iter()
            .map(|s| s.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("a webhook-id, webhook-timestamp or webhook-signature header is missing")]
    MissingHeaders,
    #[error("webhook-timestamp is not Unix seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
}

/// Verifies a delivery as a receiver would (the local receiver and the tests use it; the
/// tests also check deliveries with the reference library).
pub fn verify(
    secret: &WebhookSecret,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &str,
    now: Timestamp,
) -> Result<(), VerifyError> {
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Err(VerifyError::MissingHeaders);
    };
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let tolerance = TIMESTAMP_TOLERANCE.as_secs() as i64;
    if (now.as_seconds() - ts).abs() > tolerance {
        return Err(VerifyError::Stale);
    }
    if secret.verifies(id, ts, body, signature) {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000).unwrap()
    }

    /// The example of the Standard Webhooks reference libraries' test suites.
    #[test]
    fn signs_as_the_specification_s_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_have_the_prefix_and_32_random_bytes() {
        let a = WebhookSecret::generate().unwrap();
        let b = WebhookSecret::generate().unwrap();
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_ne!(a, b);
        assert!(WebhookSecret::parse(a.expose()).is_ok());
        assert!(!format!("{a:?}").contains(&a.expose()[6..]));
    }

    #[test]
    fn secrets_outside_24_to_64_bytes_are_refused() {
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 23]))).is_err());
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 65]))).is_err());
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 24]))).is_ok());
        assert!(WebhookSecret::parse("sk_abc").is_err());
    }

    #[test]
    fn after_a_rotation_both_secrets_sign_until_the_grace_period_ends() {
        let old = WebhookSecret::generate().unwrap();
        let new = WebhookSecret::generate().unwrap();
        let secrets = SigningSecrets::new(old.clone()).rotated(
            new.clone(),
            at(1000),
            Duration::from_secs(60),
        );
        let header = secrets.signature_header("msg_1", 1010, "{}", at(1010));
        assert_eq!(header.split(' ').count(), 2);
        for s in [&old, &new] {
            assert_eq!(
                verify(
                    s,
                    Some("msg_1"),
                    Some("1010"),
                    Some(&header),
                    "{}",
                    at(1010)
                ),
                Ok(())
            );
        }
        let later = secrets.signature_header("msg_1", 1061, "{}", at(1061));
        assert_eq!(later.split(' ').count(), 1);
        assert_eq!(
            verify(
                &old,
                Some("msg_1"),
                Some("1061"),
                Some(&later),
                "{}",
                at(1061)
            ),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn verification_refuses_altered_bodies_and_stale_timestamps() {
        let s = WebhookSecret::generate().unwrap();
        let sig = s.sign("msg_1", 1000, r#"{"a":1}"#);
        assert_eq!(
            verify(
                &s,
                Some("msg_1"),
                Some("1000"),
                Some(&sig),
                r#"{"a":2}"#,
                at(1000)
            ),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(
                &s,
                Some("msg_1"),
                Some("1000"),
                Some(&sig),
                r#"{"a":1}"#,
                at(1000 + 301)
            ),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&s, None, Some("1000"), Some(&sig), "", at(1000)),
            Err(VerifyError::MissingHeaders)
        );
    }
}
