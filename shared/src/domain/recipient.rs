use std::fmt;

use serde::{Deserialize, Serialize};

use crate::telemetry::{mask_email, mask_phone, mask_token};

use super::{EndpointName, UnknownName, WebhookUrl};

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

/// The conversions every validated string type shares: it is only ever built by `parse`
/// (deserialising included), and reads back as its string.
macro_rules! validated_string {
    ($name:ident, $error:ty) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

/// `Debug` showing only the masked form, so the value can sit in any struct that is logged.
macro_rules! masked_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.masked())
            }
        }
    };
}

/// A syntactically valid email address within the RFC 5321 limits. `Debug` masks it; `as_str`
/// gives the real value to the code that must send to it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

validated_string!(EmailAddress, EmailAddressError);
masked_debug!(EmailAddress);

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

    /// The form fit for logs: `a***@example.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// Why a string is not a phone number we can text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("must be in international E.164 format with a country code, like +33612345678")]
    NoCountryCode,
    #[error("is not a valid phone number for its country")]
    Invalid,
}

/// A phone number in E.164 form (`+33612345678`), checked against the numbering plan of its
/// country when it enters through the API. `Debug` masks it.
///
/// Reading one back (a stored record) checks only the E.164 shape: the numbering-plan check
/// already ran, and repeating it in every worker would cost CPU per message and link the
/// whole numbering-plan database into every function.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredNumber", into = "String")]
pub struct PhoneNumber(String);

#[derive(Deserialize)]
#[serde(transparent)]
struct StoredNumber(String);

impl TryFrom<StoredNumber> for PhoneNumber {
    type Error = PhoneNumberError;

    fn try_from(s: StoredNumber) -> Result<Self, Self::Error> {
        let digits = s.0.strip_prefix('+').unwrap_or("");
        let e164 = (2..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if e164 {
            Ok(Self(s.0))
        } else {
            Err(PhoneNumberError::NoCountryCode)
        }
    }
}

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

masked_debug!(PhoneNumber);

impl PhoneNumber {
    /// Accepts common separators (`+33 6 12 34 56 78`, `+1 (212) 555-1234`) and normalises.
    /// A number without `+` and a country code is refused: guessing the country would text
    /// the wrong person.
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        if !trimmed.starts_with('+') {
            return Err(PhoneNumberError::NoCountryCode);
        }
        let number = phonenumber::parse(None, trimmed).map_err(|_| PhoneNumberError::Invalid)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneNumberError::Invalid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Printable ASCII that is safe in a URL path segment and in a store key (no `#`, `/`), of
/// 1 to `max` characters.
fn key_safe(raw: &str, max: usize) -> Result<String, String> {
    let safe =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@' | '+' | '=');
    if raw.is_empty() || raw.len() > max || !raw.chars().all(safe) {
        return Err(format!(
            "must be 1 to {max} characters among A-Z a-z 0-9 _ - . : @ + ="
        ));
    }
    Ok(raw.to_owned())
}

/// The application's id of a person, whose registered devices receive their pushes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

validated_string!(UserId, String);

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        key_safe(raw, Self::MAX_CHARS).map(Self)
    }
}

/// A push registration token (FCM; APNs and web push reach devices through FCM). It
/// identifies a device, so `Debug` shows only its start.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceToken(String);

validated_string!(DeviceToken, String);
masked_debug!(DeviceToken);

impl DeviceToken {
    pub const MAX_CHARS: usize = 4096;

    pub fn parse(raw: &str) -> Result<Self, String> {
        key_safe(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn masked(&self) -> String {
        mask_token(&self.0)
    }
}

/// The kind of device a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Android, Platform::Ios, Platform::Web];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                value: s.to_owned(),
                allowed: "android, ios, web",
            })
    }
}

/// Who a notification is for, as the client named them. The variant matches the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recipient {
    Email(EmailAddress),
    Phone(PhoneNumber),
    /// Every device registered for this user receives the push.
    User(UserId),
    /// One device, by its token.
    Device(DeviceToken),
    /// A tenant's registered webhook endpoint, by name (resolved to its URL when sent).
    Endpoint(EndpointName),
    /// A webhook URL given inline.
    Url(WebhookUrl),
    /// A tenant's registered chat target (a Slack channel, a Teams workflow), by name.
    ChatTarget(EndpointName),
    /// The recipient of a notification whose user was erased: only its masked form is kept.
    Erased(String),
}

/// The form a recipient is searched by (`GET /v1/notifications?recipient=`): an email
/// address in lower case, a phone number in E.164, anything else as it is. Only the text is
/// looked at, so a client's filter and a stored recipient normalise alike.
pub fn search_form(raw: &str) -> String {
    if let Ok(email) = EmailAddress::parse(raw) {
        return email.as_str().to_lowercase();
    }
    if raw.trim_start().starts_with('+')
        && let Ok(phone) = PhoneNumber::parse(raw)
    {
        return phone.as_str().to_owned();
    }
    raw.to_owned()
}

impl Recipient {
    /// What [`search_form`] makes of it.
    pub fn search_form(&self) -> String {
        search_form(self.as_str())
    }

    /// The recipient as given by the API client, for API responses.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Email(a) => a.as_str(),
            Recipient::Phone(p) => p.as_str(),
            Recipient::User(u) => u.as_str(),
            Recipient::Device(t) => t.as_str(),
            Recipient::Endpoint(e) => e.as_str(),
            Recipient::Url(u) => u.as_str(),
            Recipient::ChatTarget(t) => t.as_str(),
            Recipient::Erased(m) => m,
        }
    }

    pub fn masked(&self) -> String {
        match self {
            Recipient::Email(a) => a.masked(),
            Recipient::Phone(p) => p.masked(),
            Recipient::User(u) => format!("user {}", u.as_str()),
            Recipient::Device(t) => t.masked(),
            Recipient::Endpoint(e) => format!("endpoint {}", e.as_str()),
            Recipient::Url(u) => u.masked(),
            Recipient::ChatTarget(t) => format!("chat target {}", t.as_str()),
            Recipient::Erased(m) => m.clone(),
        }
    }

    /// The address to deliver to, when the recipient is one (a user is resolved to devices).
    pub fn address(&self) -> Option<Address> {
        match self {
            Recipient::Email(a) => Some(Address::Email(a.clone())),
            Recipient::Phone(p) => Some(Address::Phone(p.clone())),
            Recipient::Device(t) => Some(Address::Device {
                token: t.clone(),
                platform: None,
            }),
            Recipient::Url(u) => Some(Address::Webhook {
                url: u.clone(),
                endpoint: None,
            }),
            // Resolved by the provider: a user to devices, an endpoint to its URL.
            Recipient::User(_) | Recipient::Endpoint(_) => None,
            Recipient::ChatTarget(t) => Some(Address::Chat(t.clone())),
            Recipient::Erased(_) => None,
        }
    }
}

/// One concrete place a notification is delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Address {
    Email(EmailAddress),
    Phone(PhoneNumber),
    #[serde(rename_all = "camelCase")]
    Device {
        token: DeviceToken,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform: Option<Platform>,
    },
    /// A webhook URL, and the endpoint it belongs to when it came from one.
    #[serde(rename_all = "camelCase")]
    Webhook {
        url: WebhookUrl,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<EndpointName>,
    },
    /// The user's in-app inbox.
    Inbox(UserId),
    /// One live WebSocket connection of the user's app (API Gateway's connection id).
    Connection(String),
    /// A tenant's chat target, resolved to its Slack or Teams address when sent.
    Chat(EndpointName),
}

impl Address {
    /// The device's platform, for a push device whose platform is known.
    pub fn platform(&self) -> Option<Platform> {
        match self {
            Address::Device { platform, .. } => *platform,
            Address::Email(_)
            | Address::Phone(_)
            | Address::Webhook { .. }
            | Address::Inbox(_)
            | Address::Connection(_)
            | Address::Chat(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Address::Email(a) => a.as_str(),
            Address::Phone(p) => p.as_str(),
            Address::Device { token, .. } => token.as_str(),
            Address::Webhook { url, .. } => url.as_str(),
            Address::Inbox(user) => user.as_str(),
            Address::Connection(id) => id,
            Address::Chat(t) => t.as_str(),
        }
    }

    pub fn masked(&self) -> String {
        match self {
            Address::Email(a) => a.masked(),
            Address::Phone(p) => p.masked(),
            Address::Device { token, .. } => token.masked(),
            Address::Webhook { url, .. } => url.masked(),
            Address::Inbox(user) => format!("inbox of user {}", user.as_str()),
            Address::Connection(id) => format!("connection {id}"),
            Address::Chat(t) => format!("chat target {}", t.as_str()),
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

    #[test]
    fn phone_numbers_need_a_country_and_are_normalised() {
        for (raw, e164) in [
            ("+33612345678", "+33612345678"),
            ("+447911123456", "+447911123456"),
            ("+12125551234", "+12125551234"),
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+1 (212) 555-1234", "+12125551234"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), e164, "{raw}");
        }
        assert_eq!(
            PhoneNumber::parse("0612345678"),
            Err(PhoneNumberError::NoCountryCode)
        );
        assert_eq!(PhoneNumber::parse("+33 12"), Err(PhoneNumberError::Invalid));
        assert_eq!(
            PhoneNumber::parse("+99912345678"),
            Err(PhoneNumberError::Invalid)
        );
        assert_eq!(
            PhoneNumber::parse("+1 phone"),
            Err(PhoneNumberError::Invalid)
        );
    }

    #[test]
    fn stored_numbers_are_read_back_by_shape() {
        assert!(serde_json::from_str::<PhoneNumber>("\"+33612345678\"").is_ok());
        for bad in [
            "\"0612345678\"",
            "\"+0612\"",
            "\"+33 6\"",
            "\"+1234567890123456\"",
        ] {
            assert!(serde_json::from_str::<PhoneNumber>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_masked_in_debug() {
        let p = PhoneNumber::parse("+33612345678").unwrap();
        assert!(!format!("{p:?}").contains("612345"), "{p:?}");
    }

    #[test]
    fn user_ids_and_tokens_are_key_safe() {
        assert!(UserId::parse("user-42@acme").is_ok());
        for bad in ["", "a/b", "a#b", "a b", &"u".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DeviceToken::parse("dGVzdA:APA91bH-x_y.z").is_ok());
        assert!(DeviceToken::parse("tok en").is_err());
        let t = DeviceToken::parse("abcdefghijklmnopqrstuvwxyz").unwrap();
        assert!(!format!("{t:?}").contains("qrstuv"), "{t:?}");
    }

    #[test]
    fn a_user_is_not_an_address_but_the_others_are() {
        let u = Recipient::User(UserId::parse("u1").unwrap());
        assert_eq!(u.address(), None);
        let t = Recipient::Device(DeviceToken::parse("tok").unwrap());
        assert!(matches!(
            t.address(),
            Some(Address::Device { platform: None, .. })
        ));
    }
}
