//! Tenants and their API keys as the table keeps them (issue "Tenants and API keys in the
//! table"): a key is `nk_live_…` or `nk_test_…` with 32 random bytes, shown once, and stored
//! only as its SHA-256 with a short visible prefix. SHA-256 without salt or stretching is
//! enough: a key is 256 random bits, so there is no dictionary to try and nothing a slow
//! hash would protect; and a fast hash keeps authentication one lookup.

use std::{collections::BTreeSet, fmt, str::FromStr};

use aws_lc_rs::rand::SecureRandom;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::{TenantId, UnknownName, time::Timestamp};

/// What a key may do. A request outside its key's scopes is `403` naming the missing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send and cancel notifications, batches.
    Send,
    /// Read notifications, batches, stats, the audit trail.
    Read,
    /// Save, read and delete templates.
    Templates,
    /// Profiles, devices, preferences, inboxes.
    Users,
    /// Approve or reject drafts.
    Approve,
    /// The tenant's own keys, webhook endpoints, callbacks, chat targets, suppressions.
    Manage,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Send,
        Scope::Read,
        Scope::Templates,
        Scope::Users,
        Scope::Approve,
        Scope::Manage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Templates => "templates",
            Scope::Users => "users",
            Scope::Approve => "approve",
            Scope::Manage => "manage",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                value: s.to_owned(),
                allowed: "send, read, templates, users, approve, manage",
            })
    }
}

/// A live key sends for real; a test key runs the whole pipeline against simulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Live,
    Test,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Live => "live",
            KeyKind::Test => "test",
        }
    }

    fn marker(self) -> &'static str {
        match self {
            KeyKind::Live => "nk_live_",
            KeyKind::Test => "nk_test_",
        }
    }

    /// The kind a presented key says it is, from its marker.
    pub fn of(presented: &str) -> Option<KeyKind> {
        [KeyKind::Live, KeyKind::Test]
            .into_iter()
            .find(|k| presented.starts_with(k.marker()))
    }
}

/// How many characters of a key are kept visible (the marker and 8 of the random part):
/// enough to tell a tenant's keys apart, 48 bits of 256.
pub const VISIBLE_PREFIX_CHARS: usize = 16;

/// A new key, as shown to its owner once. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.prefix())
    }
}

impl ApiKeySecret {
    pub fn generate(kind: KeyKind) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_owned())?;
        Ok(Self(format!(
            "{}{}",
            kind.marker(),
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn prefix(&self) -> String {
        visible_prefix(&self.0)
    }

    pub fn hash(&self) -> String {
        key_hash(&self.0)
    }
}

/// The part of a key kept visible.
pub fn visible_prefix(key: &str) -> String {
    key.chars().take(VISIBLE_PREFIX_CHARS).collect()
}

/// What the table keeps of a key: its SHA-256, hex.
pub fn key_hash(presented: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredKey {
    pub tenant: TenantId,
    pub prefix: String,
    pub kind: KeyKind,
    pub scopes: BTreeSet<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl StoredKey {
    /// The first scope of `needed` the key lacks.
    pub fn missing(&self, needed: Scope) -> Option<Scope> {
        (!self.scopes.contains(&needed)).then_some(needed)
    }

    pub fn usable(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    /// Its keys are refused (`403 tenant_suspended`) until it is active again.
    Suspended,
}

/// What a tenant may use; defaults as GOV.UK Notify's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantLimits {
    pub requests_per_minute: u32,
    pub daily_quota_per_channel: u32,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            requests_per_minute: 3_000,
            daily_quota_per_channel: 250_000,
        }
    }
}

/// How a tenant's sends are approved (issue "Tenants and API keys": draft → approve).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSettings {
    /// A batch of more recipients than this is a draft until approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_above: Option<u32>,
    /// A draft is approved or rejected with another key than the one that made it.
    #[serde(default)]
    pub four_eyes: bool,
    /// A draft not approved within this many hours expires.
    pub draft_expiry_hours: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            approval_above: None,
            four_eyes: false,
            draft_expiry_hours: 72,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub status: TenantStatus,
    #[serde(default)]
    pub limits: TenantLimits,
    #[serde(default)]
    pub settings: TenantSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_its_kind_and_256_random_bits_stored_as_its_sha256() {
        let live = ApiKeySecret::generate(KeyKind::Live).unwrap();
        assert!(live.expose().starts_with("nk_live_"));
        assert_eq!(live.expose().len(), "nk_live_".len() + 43);
        assert_eq!(KeyKind::of(live.expose()), Some(KeyKind::Live));
        let test = ApiKeySecret::generate(KeyKind::Test).unwrap();
        assert_eq!(KeyKind::of(test.expose()), Some(KeyKind::Test));
        assert_ne!(live.expose()[8..], test.expose()[8..]);
        assert_eq!(live.hash().len(), 64);
        assert_eq!(live.hash(), key_hash(live.expose()));
        assert_ne!(live.hash(), test.hash());
        assert_eq!(live.prefix().len(), VISIBLE_PREFIX_CHARS);
        assert!(!format!("{live:?}").contains(&live.expose()[VISIBLE_PREFIX_CHARS..]));
        // The SHA-256 of a known text, to pin the encoding.
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn scopes_read_back_and_a_missing_one_is_named() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        assert!("admin".parse::<Scope>().is_err());
        let key = StoredKey {
            tenant: TenantId::new("acme"),
            prefix: "nk_live_abcdefgh".into(),
            kind: KeyKind::Live,
            scopes: [Scope::Send, Scope::Read].into(),
            description: None,
            created_at: Timestamp::from_millis(0).unwrap(),
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(key.missing(Scope::Send), None);
        assert_eq!(key.missing(Scope::Manage), Some(Scope::Manage));
        assert!(key.usable());
    }
}
