use std::fmt;

use serde::{Deserialize, Serialize};

use crate::telemetry::mask_email;

/// RFC 5321 §4.5.3.1.1: the local part is at most 64 octets.
pub const MAX_LOCAL_PART_OCTETS: usize = 64;
/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets,
/// which leaves 254 for the address itself.
pub const MAX_ADDRESS_OCTETS: usize = 254;
/// RFC 1035 §2.3.4: a DNS label is at most 63 octets.
pub const MAX_LABEL_OCTETS: usize = 63;

/// Why a string is not a deliverable email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    #[error("must not contain CR, LF or other control characters")]
    ControlCharacter,
    #[error("must be at most {MAX_ADDRESS_OCTETS} bytes (RFC 5321)")]
    TooLong,
    #[error("the part before @ must be at most {MAX_LOCAL_PART_OCTETS} bytes (RFC 5321)")]
    LocalPartTooLong,
    #[error("each label of the domain must be at most {MAX_LABEL_OCTETS} bytes")]
    LabelTooLong,
    #[error("must be a bare address like name@example.com (no display name, a domain with a dot)")]
    Syntax,
}

/// A syntactically valid email address within the RFC 5321 limits.
///
/// `Debug` masks it, so it can sit in any struct that is logged; `as_str` gives the real value
/// to the code that must send to it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, EmailAddressError> {
        if raw.chars().any(char::is_control) {
            return Err(EmailAddressError::ControlCharacter);
        }
        if raw.len() > MAX_ADDRESS_OCTETS {
            return Err(EmailAddressError::TooLong);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailAddressError::Syntax)?;
        if local.len() > MAX_LOCAL_PART_OCTETS {
            return Err(EmailAddressError::LocalPartTooLong);
        }
        if domain
            .split('.')
            .any(|label| label.len() > MAX_LABEL_OCTETS)
        {
            return Err(EmailAddressError::LabelTooLong);
        }
        let options = email_address::Options::default()
            .without_display_text()
            .with_required_tld()
            .without_domain_literal();
        email_address::EmailAddress::parse_with_options(raw, options)
            .map_err(|_| EmailAddressError::Syntax)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form fit for logs: `a***@example.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailAddressError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(a: EmailAddress) -> Self {
        a.0
    }
}

/// Who receives a notification. The variant matches the notification's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recipient {
    Email(EmailAddress),
}

impl Recipient {
    /// The address as given by the API client, for API responses.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Email(a) => a.as_str(),
        }
    }

    pub fn masked(&self) -> String {
        match self {
            Recipient::Email(a) => a.masked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "alice@example.com",
            "first.last+tag@sub.example.co.uk",
            "x@a.io",
            "o'brien@example.ie",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_header_injection() {
        assert_eq!(
            EmailAddress::parse("a@example.com\r\nBcc: victim@example.com"),
            Err(EmailAddressError::ControlCharacter)
        );
        assert_eq!(
            EmailAddress::parse("a@example.com\n"),
            Err(EmailAddressError::ControlCharacter)
        );
    }

    #[test]
    fn enforces_rfc_5321_lengths() {
        let local = "a".repeat(65);
        assert_eq!(
            EmailAddress::parse(&format!("{local}@example.com")),
            Err(EmailAddressError::LocalPartTooLong)
        );
        let at_limit = format!("{}@example.com", "a".repeat(64));
        assert!(EmailAddress::parse(&at_limit).is_ok());

        let long_domain = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        assert!(long_domain.len() > MAX_ADDRESS_OCTETS);
        assert_eq!(
            EmailAddress::parse(&long_domain),
            Err(EmailAddressError::TooLong)
        );

        let long_label = format!("a@{}.com", "c".repeat(64));
        assert_eq!(
            EmailAddress::parse(&long_label),
            Err(EmailAddressError::LabelTooLong)
        );
    }

    #[test]
    fn rejects_malformed_and_display_forms() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "Alice <alice@example.com>",
            "a b@example.com",
            "a@[127.0.0.1]",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(EmailAddressError::Syntax),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_output_is_masked() {
        let a = EmailAddress::parse("alice@example.com").unwrap();
        let shown = format!("{a:?}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(shown.contains("@example.com"), "{shown}");
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<EmailAddress>("\"bob@example.com\"").is_ok());
        assert!(serde_json::from_str::<EmailAddress>("\"bob\"").is_err());
    }
}
