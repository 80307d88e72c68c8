use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a notification is in its life. Every change is recorded in its history.
///
/// ```text
/// draft ─▶ queued | scheduled (approved) | cancelled (rejected) | expired (not approved in time)
/// scheduled ─▶ queued ─▶ sending ─▶ sent ─▶ delivered
///                 ▲         │         └───▶ failed (bounce) | suppressed (provider's list)
///                 └─────────┘ (transient failure: back to the queue)
/// any non-final ─▶ failed | cancelled | suppressed | expired
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Awaiting approval (`"draft": true`, or a tenant's rule): nothing is queued.
    Draft,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
    Suppressed,
    Expired,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Draft,
        Status::Scheduled,
        Status::Queued,
        Status::Sending,
        Status::Sent,
        Status::Delivered,
        Status::Failed,
        Status::Cancelled,
        Status::Suppressed,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Scheduled => "scheduled",
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Suppressed => "suppressed",
            Status::Expired => "expired",
        }
    }

    /// True once the provider has the message or the notification will never be sent:
    /// a worker that finds a notification in such a status must not send it again.
    pub fn is_settled(self) -> bool {
        !matches!(
            self,
            Status::Draft | Status::Scheduled | Status::Queued | Status::Sending
        )
    }

    /// The transitions the service allows. Every conditional write in the record store uses
    /// sources drawn from this table, so a status can never move backwards by accident.
    pub fn can_transition_to(self, next: Status) -> bool {
        use Status::*;
        match self {
            Draft => matches!(next, Queued | Scheduled | Cancelled | Expired),
            Scheduled => matches!(next, Queued | Cancelled | Failed | Expired),
            Queued => matches!(next, Sending | Cancelled | Failed | Suppressed | Expired),
            // Sending -> Queued is a transient failure handing the message back for a retry.
            Sending => matches!(next, Sent | Queued | Failed | Suppressed | Expired),
            // After sent, the provider's report: delivered, a bounce or rejection (failed), or
            // its own suppression list refused the address (suppressed).
            Sent => matches!(next, Delivered | Failed | Suppressed),
            // Only a notification whose retries ran out leaves `failed`: when its message is
            // redriven from the dead-letter queue, a worker claims it again.
            Failed => next == Sending,
            Delivered | Cancelled | Suppressed | Expired => false,
        }
    }
}

impl std::str::FromStr for Status {
    type Err = super::UnknownName;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| super::UnknownName {
                value: raw.to_owned(),
                allowed: "draft, scheduled, queued, sending, sent, delivered, failed, cancelled, suppressed, expired",
            })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

    #[test]
    fn final_statuses_have_no_way_out() {
        for from in [Delivered, Cancelled, Suppressed, Expired] {
            for to in Status::ALL {
                assert!(
                    !from.can_transition_to(to),
                    "{from} -> {to} must be refused"
                );
            }
        }
        let out_of_failed: Vec<Status> = Status::ALL
            .into_iter()
            .filter(|&s| Failed.can_transition_to(s))
            .collect();
        assert_eq!(
            out_of_failed,
            vec![Sending],
            "only a redriven message claims a failed one again"
        );
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [Scheduled, Queued, Sending, Sent, Delivered];
        for pair in path.windows(2) {
            assert!(pair[0].can_transition_to(pair[1]), "{:?}", pair);
        }
    }

    #[test]
    fn sent_cannot_go_back_to_sending() {
        assert!(!Sent.can_transition_to(Sending));
        assert!(!Sent.can_transition_to(Queued));
        assert!(!Sending.can_transition_to(Scheduled));
    }

    #[test]
    fn a_status_never_transitions_to_itself() {
        for s in Status::ALL {
            assert!(!s.can_transition_to(s), "{s}");
        }
    }

    #[test]
    fn settled_means_no_more_sending() {
        let unsettled: Vec<_> = Status::ALL
            .into_iter()
            .filter(|s| !s.is_settled())
            .collect();
        assert_eq!(unsettled, vec![Draft, Scheduled, Queued, Sending]);
    }

    #[test]
    fn serializes_as_lowercase_names() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("done".parse::<Status>().is_err());
    }
}
