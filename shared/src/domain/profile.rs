//! A recipient's profile: the addresses a notification to a `userId` goes to, and what its
//! templates see of the person (`user.*`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Channel, EmailAddress, PhoneNumber, Recipient, UserId, time::Timestamp};

/// The largest `data` a profile keeps, as compact JSON: templates read it, it is not storage.
pub const MAX_PROFILE_DATA_BYTES: usize = 8 * 1024;
/// The longest `name`.
pub const MAX_NAME_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
    /// A template locale (`fr-CA`): the one a template renders in when the send names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// An IANA time zone (`Europe/Paris`): where its quiet hours are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Profile {
    /// Where a notification on `channel` to this user goes, if the profile has it. Push and
    /// webhooks are not addresses of a profile: push goes to the user's devices, in-app to
    /// the user's inbox.
    pub fn address(&self, channel: Channel) -> Option<Recipient> {
        match channel {
            Channel::Email => self.email.clone().map(Recipient::Email),
            Channel::Sms => self.phone.clone().map(Recipient::Phone),
            Channel::Push | Channel::InApp => Some(Recipient::User(self.user_id.clone())),
            Channel::Webhook | Channel::Chat => None,
        }
    }

    /// What templates see as `user`.
    pub fn template_view(&self) -> Value {
        let mut view = json!({ "id": self.user_id.as_str(), "data": self.data });
        let fields = [
            ("email", self.email.as_ref().map(EmailAddress::as_str)),
            ("phone", self.phone.as_ref().map(PhoneNumber::as_str)),
            ("name", self.name.as_deref()),
            ("locale", self.locale.as_deref()),
            ("timeZone", self.time_zone.as_deref()),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                view[name] = Value::String(v.to_owned());
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            user_id: UserId::parse("u-1").unwrap(),
            email: Some(EmailAddress::parse("jane@example.com").unwrap()),
            phone: None,
            locale: Some("fr".into()),
            time_zone: None,
            name: Some("Jane".into()),
            data: serde_json::from_value(json!({"plan": "pro"})).unwrap(),
            created_at: Timestamp::from_millis(0).unwrap(),
            updated_at: Timestamp::from_millis(0).unwrap(),
        }
    }

    #[test]
    fn a_profile_gives_the_address_of_each_channel_it_has() {
        let p = profile();
        assert_eq!(
            p.address(Channel::Email),
            Some(Recipient::Email(
                EmailAddress::parse("jane@example.com").unwrap()
            ))
        );
        assert_eq!(p.address(Channel::Sms), None, "no phone");
        assert_eq!(
            p.address(Channel::Push),
            Some(Recipient::User(p.user_id.clone()))
        );
        assert_eq!(p.address(Channel::Webhook), None);
    }

    #[test]
    fn templates_see_the_fields_it_has_and_its_data() {
        let view = profile().template_view();
        assert_eq!(view["id"], "u-1");
        assert_eq!(view["name"], "Jane");
        assert_eq!(view["email"], "jane@example.com");
        assert_eq!(view["data"]["plan"], "pro");
        assert!(view.get("phone").is_none());
    }
}
