//! What a notification is, independent of how it is stored or sent.

mod channel;
mod notification;
mod priority;
mod recipient;
mod status;
pub mod time;

pub use channel::Channel;
pub use notification::{
    Content, Draft, EmailContent, Failure, HistoryEntry, Lease, Notification, NotificationId,
    TenantId,
};
pub use priority::Priority;
pub use recipient::{EmailAddress, Recipient};
pub use status::Status;

/// A value that is not one of the names an enum accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of: {allowed}")]
pub struct UnknownName {
    pub value: String,
    pub allowed: &'static str,
}
