//! What any store call can fail with.

use crate::domain::NotificationId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("notification {0} already exists")]
    AlreadyExists(NotificationId),
    /// The backend failed or throttled: the caller may retry later.
    #[error("record store unavailable: {0}")]
    Unavailable(String),
    #[error("record {id} cannot be read: {reason}")]
    Corrupt { id: String, reason: String },
    /// A conditional write found the item changed since it was read (or already there).
    #[error("conflict: {0}")]
    Conflict(String),
}
