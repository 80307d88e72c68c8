//! The suppression list: addresses a tenant no longer sends to on a channel, because mail to
//! them bounced for good, their owner complained, or the tenant said so. A send to one ends
//! `suppressed` without calling the provider.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Address, Channel, EmailAddress, NotificationId, PhoneNumber, TenantId, UnknownName};
use crate::domain::time::Timestamp;

/// Why an address is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionReason {
    /// The provider reported a permanent bounce (or its own account-level suppression).
    Bounced,
    /// The recipient marked a message as spam.
    Complained,
    /// The tenant added it.
    Manual,
}

impl SuppressionReason {
    pub const ALL: [SuppressionReason; 3] = [Self::Bounced, Self::Complained, Self::Manual];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounced => "bounced",
            Self::Complained => "complained",
            Self::Manual => "manual",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| UnknownName {
                value: raw.to_owned(),
                allowed: "bounced, complained, manual",
            })
    }
}

impl fmt::Display for SuppressionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address as the list knows it: its channel and its normalised form (an email address
/// in lower case, as SES compares them; a number in E.164).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SuppressedAddress {
    channel: Channel,
    address: String,
}

impl SuppressedAddress {
    /// The list's form of a delivery target; `None` for targets the list does not cover
    /// (device tokens are forgotten when FCM says they are gone; webhook endpoints disable
    /// themselves on `410 Gone`; an inbox is the user's own).
    pub fn of(address: &Address) -> Option<Self> {
        match address {
            Address::Email(email) => Some(Self::email(email)),
            Address::Phone(phone) => Some(Self::phone(phone)),
            Address::Device { .. }
            | Address::Webhook { .. }
            | Address::Inbox(_)
            | Address::Connection(_)
            | Address::Chat(_) => None,
        }
    }

    pub fn email(email: &EmailAddress) -> Self {
        Self {
            channel: Channel::Email,
            address: email.as_str().to_lowercase(),
        }
    }

    pub fn phone(phone: &PhoneNumber) -> Self {
        Self {
            channel: Channel::Sms,
            address: phone.as_str().to_owned(),
        }
    }

    /// Whether the list covers `channel`'s addresses.
    pub fn covers(channel: Channel) -> bool {
        match channel {
            Channel::Email | Channel::Sms => true,
            Channel::Push | Channel::Webhook | Channel::InApp | Channel::Chat => false,
        }
    }

    /// An address a client named for `channel`; the error says what is wrong with it.
    pub fn parse(channel: Channel, raw: &str) -> Result<Self, String> {
        match channel {
            Channel::Email => EmailAddress::parse(raw)
                .map(|e| Self::email(&e))
                .map_err(|e| e.to_string()),
            Channel::Sms => PhoneNumber::parse(raw)
                .map(|p| Self::phone(&p))
                .map_err(|e| e.to_string()),
            Channel::Push => Err(
                "push has no suppression list: a device token FCM reports as unregistered is forgotten"
                    .into(),
            ),
            Channel::Webhook => Err(
                "webhooks have no suppression list: an endpoint that answers 410 Gone is disabled"
                    .into(),
            ),
            Channel::InApp => Err(
                "in_app has no suppression list: the user's preferences turn the inbox off".into(),
            ),
            Channel::Chat => {
                Err("chat has no suppression list: a chat target is the tenant's own".into())
            }
        }
    }

    /// Rebuilds one read back from the store, which wrote it normalised.
    pub fn from_stored(channel: Channel, address: String) -> Self {
        Self { channel, address }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The form fit for logs.
    pub fn masked(&self) -> String {
        match self.channel {
            Channel::Email => crate::telemetry::mask_email(&self.address),
            Channel::Sms => crate::telemetry::mask_phone(&self.address),
            Channel::Push | Channel::Webhook | Channel::InApp | Channel::Chat => "***".into(),
        }
    }
}

impl fmt::Debug for SuppressedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SuppressedAddress({}, {})", self.channel, self.masked())
    }
}

/// One entry of a tenant's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    pub tenant: TenantId,
    pub address: SuppressedAddress,
    pub reason: SuppressionReason,
    pub created_at: Timestamp,
    /// The notification whose receipt put it there, for bounces and complaints.
    pub notification_id: Option<NotificationId>,
    /// What the provider said (a bounce's diagnostic), or the tenant's note.
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_compared_in_lower_case() {
        let a = SuppressedAddress::parse(Channel::Email, "Bob@Example.COM").unwrap();
        let b = SuppressedAddress::of(&Address::Email(
            EmailAddress::parse("bob@example.com").unwrap(),
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "bob@example.com");
    }

    #[test]
    fn numbers_are_normalised_to_e164() {
        let a = SuppressedAddress::parse(Channel::Sms, "+1 (212) 555-1234").unwrap();
        assert_eq!(a.as_str(), "+12125551234");
        assert_eq!(a.channel(), Channel::Sms);
    }

    #[test]
    fn push_and_webhook_targets_are_not_listed() {
        assert!(SuppressedAddress::parse(Channel::Push, "token").is_err());
        assert!(SuppressedAddress::parse(Channel::Webhook, "https://example.com").is_err());
        assert!(SuppressedAddress::parse(Channel::Email, "not an address").is_err());
    }

    #[test]
    fn reasons_round_trip_by_name() {
        for r in SuppressionReason::ALL {
            assert_eq!(SuppressionReason::parse(r.as_str()).unwrap(), r);
        }
        assert!(SuppressionReason::parse("spam").is_err());
    }
}
