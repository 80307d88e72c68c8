//! What the stats count, and in what buckets.

use crate::domain::{Status, time::Timestamp};

/// What the counters count: a notification accepted, and each status it entered that a
/// client asks about (not the passing `scheduled`, `queued` and `sending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counted {
    Accepted,
    Sent,
    Delivered,
    Failed,
    Suppressed,
    Cancelled,
    Expired,
}

impl Counted {
    /// What a notification entering `status` counts as, if anything.
    pub fn entering(status: Status) -> Option<Self> {
        match status {
            Status::Sent => Some(Counted::Sent),
            Status::Delivered => Some(Counted::Delivered),
            Status::Failed => Some(Counted::Failed),
            Status::Suppressed => Some(Counted::Suppressed),
            Status::Cancelled => Some(Counted::Cancelled),
            Status::Expired => Some(Counted::Expired),
            Status::Draft | Status::Scheduled | Status::Queued | Status::Sending => None,
        }
    }

    pub const ALL: [Counted; 7] = [
        Counted::Accepted,
        Counted::Sent,
        Counted::Delivered,
        Counted::Failed,
        Counted::Suppressed,
        Counted::Cancelled,
        Counted::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Accepted => "accepted",
            Counted::Sent => "sent",
            Counted::Delivered => "delivered",
            Counted::Failed => "failed",
            Counted::Suppressed => "suppressed",
            Counted::Cancelled => "cancelled",
            Counted::Expired => "expired",
        }
    }
}

/// How long a bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn millis(self) -> i64 {
        match self {
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
        }
    }

    /// The start of the bucket `at` falls in.
    pub fn start(self, at: Timestamp) -> i64 {
        at.as_millis().div_euclid(self.millis()) * self.millis()
    }
}

impl std::str::FromStr for Granularity {
    type Err = super::UnknownName;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            _ => Err(super::UnknownName {
                value: raw.to_owned(),
                allowed: "hour, day",
            }),
        }
    }
}
