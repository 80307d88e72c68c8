//! What a notification is, independent of how it is stored or sent.

#[macro_use]
mod recipient;
mod batch;
pub mod callback;
mod channel;
pub mod chat;
pub mod inbox;
mod notification;
pub mod preferences;
mod priority;
mod profile;
pub mod route;
pub mod schedule;
pub mod sms;
pub mod stats;
mod status;
mod suppression;
pub mod tenant;
pub mod time;
mod webhook;

pub use batch::BatchId;
pub use channel::Channel;
pub use notification::{
    ChatContent, Content, Delivery, DeliveryStatus, Draft, EmailContent, Failure, HistoryEntry,
    HttpResponse, InAppContent, Lease, MAX_REFERENCE_CHARS, Notification, NotificationId,
    PushContent, SmsContent, TemplateRef, TenantId, WebhookContent,
};
pub use priority::Priority;
pub use profile::{MAX_NAME_CHARS, MAX_PROFILE_DATA_BYTES, Profile};
pub use recipient::{
    Address, DeviceToken, EmailAddress, PhoneNumber, PhoneNumberError, Platform, Recipient, UserId,
    search_form,
};
pub use status::Status;
pub use suppression::{SuppressedAddress, Suppression, SuppressionReason};
pub use webhook::{EndpointName, MAX_URL_CHARS, WebhookUrl};

/// A value that is not one of the names an enum accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of: {allowed}")]
pub struct UnknownName {
    pub value: String,
    pub allowed: &'static str,
}
