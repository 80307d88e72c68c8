//! A batch: one send to many recipients, summarised under the batch's id.

use serde::{Deserialize, Serialize};

/// The client's name for a batch (or one the service generated). Several requests may share
/// one, so a campaign larger than a request's limit is still one batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BatchId(String);

validated_string!(BatchId, String);

impl BatchId {
    pub const MAX_CHARS: usize = 128;

    /// Safe in a URL path segment and in a store key (no `#`, `/`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if raw.is_empty() || raw.len() > Self::MAX_CHARS || !raw.chars().all(safe) {
            return Err(format!(
                "must be 1 to {} characters among A-Z a-z 0-9 _ - . :",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_key_safe() {
        assert!(BatchId::parse("campaign-123").is_ok());
        assert!(BatchId::parse("2026:nov.newsletter_fr").is_ok());
        for bad in ["", "a#b", "a/b", "with space", &"x".repeat(129)] {
            assert!(BatchId::parse(bad).is_err(), "{bad}");
        }
    }
}
