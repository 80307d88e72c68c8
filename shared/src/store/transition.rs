//! Status changes as data. Every change is conditional: it applies only if the record is
//! still in a status the change may leave, so two workers racing on one notification can
//! never both move it, and a status never goes backwards. [`Transition::permits`] and
//! [`Transition::applied_to`] are what both stores decide by: the in-memory one runs them,
//! the DynamoDB one mirrors them in its `UpdateItem` condition and update.

use crate::domain::{
    Delivery, Failure, HistoryEntry, Lease, Notification, Status, schedule::Due, time::Timestamp,
};

/// The error code of a notification whose retries ran out. Its message is in the dead-letter
/// queue; redriven, it is claimed and tried again.
pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";

/// The error code of a notification whose message reached its dead-letter queue without any
/// invocation answering for it (each one crashed or timed out), found there by the sweep.
/// Redriven, it is claimed and tried again, like [`RETRIES_EXHAUSTED`].
pub const DEAD_LETTERED: &str = "dead_lettered";

/// The failures a redriven message's claim may take over.
pub const REDRIVABLE: [&str; 2] = [RETRIES_EXHAUSTED, DEAD_LETTERED];

/// What happened to a conditional status change.
#[derive(Debug, Clone, PartialEq)]
pub enum TransitionOutcome {
    /// The change was written; this is the record after it.
    Applied(Notification),
    /// The record was not in a state the change may leave; this is the record as found
    /// (`None` when there is no such record, or it has expired).
    Refused(Option<Notification>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LeaseChange {
    Keep,
    Set(Lease),
    Clear,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FailureChange {
    Keep,
    Set(Failure),
    Clear,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DueChange {
    Keep,
    Set(Due),
    Clear,
}

/// Which provider handled the notification, and the id it gave the message when there is
/// exactly one (several targets each have their own, in `deliveries`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRef {
    pub name: String,
    pub message_id: Option<String>,
    /// Index the record by `message_id` ([`crate::store::PROVIDER_INDEX`]), for a provider
    /// whose receipts name nothing else (SNS's SMS delivery status).
    pub indexed: bool,
}

/// A conditional status change and the fields that change with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The statuses the record may be in for the change to apply.
    pub from: Vec<Status>,
    /// Also apply to a `sending` record whose lease ended before this instant: the worker
    /// that held it is gone.
    pub take_over_expired_lease_at: Option<Timestamp>,
    /// Also apply to a `failed` record whose message went to its dead-letter queue
    /// ([`REDRIVABLE`]): its message was redriven.
    pub retry_exhausted: bool,
    /// Apply only while the record still carries this lease token.
    pub lease_token: Option<String>,
    pub to: Status,
    pub at: Timestamp,
    pub reason: Option<String>,
    pub lease: LeaseChange,
    pub count_attempt: bool,
    pub provider: Option<ProviderRef>,
    pub error: FailureChange,
    /// Replaces the per-target delivery states.
    pub deliveries: Option<Vec<Delivery>>,
    pub due: DueChange,
}

impl Transition {
    fn new(from: Vec<Status>, to: Status, at: Timestamp) -> Self {
        Self {
            from,
            take_over_expired_lease_at: None,
            retry_exhausted: false,
            lease_token: None,
            to,
            at,
            reason: None,
            lease: LeaseChange::Keep,
            count_attempt: false,
            provider: None,
            error: FailureChange::Keep,
            deliveries: None,
            // Leaving a status the sweep cares about ends what was due.
            due: if to.is_settled() {
                DueChange::Clear
            } else {
                DueChange::Keep
            },
        }
    }

    /// A worker takes a queued notification, one whose previous worker's lease ran out, or
    /// one whose retries ran out and whose message was redriven, before calling the provider.
    /// Only one delivery of a message can win this.
    pub fn claim(lease: Lease, now: Timestamp) -> Self {
        Self {
            take_over_expired_lease_at: Some(now),
            retry_exhausted: true,
            lease: LeaseChange::Set(lease),
            count_attempt: true,
            ..Self::new(vec![Status::Queued], Status::Sending, now)
        }
    }

    /// The sweep found the notification's message in its dead-letter queue while the record
    /// still waits for it (no invocation ever answered): it is `failed`, [`DEAD_LETTERED`].
    pub fn dead_lettered(at: Timestamp) -> Self {
        let failure = Failure {
            code: DEAD_LETTERED.into(),
            message: "its queue message reached the dead-letter queue without a worker answering for it (each invocation crashed or timed out); redrive it to try again".into(),
        };
        Self {
            reason: Some(describe(&failure)),
            lease: LeaseChange::Clear,
            error: FailureChange::Set(failure),
            ..Self::new(vec![Status::Queued, Status::Sending], Status::Failed, at)
        }
    }

    /// The attempt ended for good: `to` is `sent` (at least one target accepted it),
    /// `failed` (permanent rejection, or retries exhausted) or `suppressed` (opted out).
    pub fn settle(
        lease_token: &str,
        to: Status,
        provider: ProviderRef,
        deliveries: Vec<Delivery>,
        failure: Option<Failure>,
        at: Timestamp,
    ) -> Self {
        Self {
            lease_token: Some(lease_token.to_owned()),
            reason: failure.as_ref().map(describe),
            lease: LeaseChange::Clear,
            provider: Some(provider),
            error: match failure {
                Some(f) => FailureChange::Set(f),
                None => FailureChange::Clear,
            },
            deliveries: Some(deliveries),
            ..Self::new(vec![Status::Sending], to, at)
        }
    }

    /// The attempt failed for now: back to the queue for another try, keeping the error and
    /// what was already delivered.
    pub fn requeued(
        lease_token: &str,
        failure: Failure,
        deliveries: Vec<Delivery>,
        at: Timestamp,
    ) -> Self {
        Self {
            lease_token: Some(lease_token.to_owned()),
            reason: Some(describe(&failure)),
            lease: LeaseChange::Clear,
            error: FailureChange::Set(failure),
            deliveries: Some(deliveries),
            ..Self::new(vec![Status::Sending], Status::Queued, at)
        }
    }

    /// The notification could not be handed to its queue, so it will never be sent.
    pub fn failed_before_sending(failure: Failure, at: Timestamp) -> Self {
        Self {
            reason: Some(describe(&failure)),
            error: FailureChange::Set(failure),
            ..Self::new(vec![Status::Queued], Status::Failed, at)
        }
    }

    /// A draft approved: `queued` (with its marker until its message is confirmed) or
    /// `scheduled`, as [`crate::domain::schedule::initial`] says.
    pub fn approved(to: Status, due: Due, by: &str, at: Timestamp) -> Self {
        Self {
            reason: Some(format!("approved by {by}")),
            due: DueChange::Set(due),
            ..Self::new(vec![Status::Draft], to, at)
        }
    }

    /// A draft rejected: it ends `cancelled`, reason `rejected` (who rejected it is in the
    /// audit trail).
    pub fn rejected(at: Timestamp) -> Self {
        Self {
            reason: Some("rejected".into()),
            due: DueChange::Clear,
            ..Self::new(vec![Status::Draft], Status::Cancelled, at)
        }
    }

    /// A draft nobody approved in time.
    pub fn draft_expired(at: Timestamp) -> Self {
        Self {
            reason: Some("the draft was not approved in time".into()),
            due: DueChange::Clear,
            ..Self::new(vec![Status::Draft], Status::Expired, at)
        }
    }

    /// The client cancelled it before any worker took it (a draft too).
    pub fn cancelled(at: Timestamp) -> Self {
        Self {
            reason: Some("cancelled by the client".into()),
            ..Self::new(
                vec![Status::Draft, Status::Scheduled, Status::Queued],
                Status::Cancelled,
                at,
            )
        }
    }

    /// A held step of a route no longer needed (an earlier step was sent): only while it
    /// still waits.
    pub fn superseded(reason: String, at: Timestamp) -> Self {
        Self {
            reason: Some(reason),
            ..Self::new(vec![Status::Scheduled], Status::Cancelled, at)
        }
    }

    /// An escalation step dropped because the recipient read an earlier one: only while it
    /// has not gone.
    pub fn superseded_by_read(at: Timestamp) -> Self {
        Self {
            reason: Some("not needed: the recipient read an earlier step".into()),
            ..Self::new(
                vec![Status::Scheduled, Status::Queued],
                Status::Cancelled,
                at,
            )
        }
    }

    /// A scheduled notification's time has come: it goes to its queue.
    pub fn released(due: Due, at: Timestamp) -> Self {
        Self {
            due: DueChange::Set(due),
            ..Self::new(vec![Status::Scheduled], Status::Queued, at)
        }
    }

    /// What the provider reported after accepting it: `delivered`, `failed` (a bounce, a
    /// rejection) or `suppressed` (its own list refused the address). Only a `sent` record
    /// takes it, so a report never overwrites a final status, and a repeated one changes
    /// nothing.
    pub fn reported(to: Status, failure: Option<Failure>, at: Timestamp) -> Self {
        Self {
            reason: failure.as_ref().map(describe),
            error: match failure {
                Some(f) => FailureChange::Set(f),
                None => FailureChange::Keep,
            },
            ..Self::new(vec![Status::Sent], to, at)
        }
    }

    /// Not delivered within its lifetime (a worker holding it must have let its lease lapse).
    pub fn expired(reason: String, now: Timestamp) -> Self {
        Self {
            take_over_expired_lease_at: Some(now),
            reason: Some(reason),
            lease: LeaseChange::Clear,
            ..Self::new(
                vec![Status::Scheduled, Status::Queued],
                Status::Expired,
                now,
            )
        }
    }

    /// Whether the change may apply to `current`, exactly as the stores' conditions decide.
    pub fn permits(&self, current: &Notification) -> bool {
        let lease_lapsed = self.take_over_expired_lease_at.is_some_and(|now| {
            current.status == Status::Sending
                && current
                    .lease
                    .as_ref()
                    .is_none_or(|l| l.until_ms < now.as_millis())
        });
        let redriven = self.retry_exhausted
            && current.status == Status::Failed
            && current
                .error
                .as_ref()
                .is_some_and(|e| REDRIVABLE.contains(&e.code.as_str()));
        let status_ok = self.from.contains(&current.status) || lease_lapsed || redriven;
        let token_ok = self
            .lease_token
            .as_ref()
            .is_none_or(|t| current.lease.as_ref().is_some_and(|l| &l.token == t));
        status_ok && token_ok
    }

    /// The record after the change (whether or not it [`permits`](Self::permits) it).
    pub fn applied_to(&self, current: &Notification) -> Notification {
        let mut next = current.clone();
        next.status = self.to;
        next.updated_at = self.at;
        next.history.push(self.history_entry());
        match &self.lease {
            LeaseChange::Keep => {}
            LeaseChange::Set(l) => next.lease = Some(l.clone()),
            LeaseChange::Clear => next.lease = None,
        }
        if self.count_attempt {
            next.attempts += 1;
        }
        if let Some(p) = &self.provider {
            next.provider = Some(p.name.clone());
            if let Some(id) = &p.message_id {
                next.provider_message_id = Some(id.clone());
            }
        }
        match &self.error {
            FailureChange::Keep => {}
            FailureChange::Set(f) => next.error = Some(f.clone()),
            FailureChange::Clear => next.error = None,
        }
        if let Some(d) = &self.deliveries {
            next.deliveries = d.clone();
        }
        match &self.due {
            DueChange::Keep => {}
            DueChange::Set(d) => next.due = Some(*d),
            DueChange::Clear => next.due = None,
        }
        next
    }

    pub fn history_entry(&self) -> HistoryEntry {
        HistoryEntry {
            status: self.to,
            at: self.at,
            reason: self.reason.clone(),
            event: None,
        }
    }
}

/// A provider event that leaves the status as it is (a complaint, a delivery delay): a
/// history entry, recorded once per `key`, only while the record is still in the status it
/// was read in (the entry names that status).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub key: String,
    pub status: Status,
    pub at: Timestamp,
    pub event: String,
    pub reason: Option<String>,
    /// Sets `complainedAt`.
    pub complaint: bool,
}

impl Annotation {
    pub fn history_entry(&self) -> HistoryEntry {
        HistoryEntry {
            status: self.status,
            at: self.at,
            reason: self.reason.clone(),
            event: Some(self.event.clone()),
        }
    }

    /// Whether it may apply to `current`, as the stores' conditions decide.
    pub fn permits(&self, current: &Notification) -> bool {
        current.status == self.status && !current.reports.contains(&self.key)
    }

    pub fn applied_to(&self, current: &Notification) -> Notification {
        let mut next = current.clone();
        next.history.push(self.history_entry());
        next.reports.insert(self.key.clone());
        if self.complaint {
            next.complained_at = Some(self.at);
        }
        next
    }
}

fn describe(f: &Failure) -> String {
    format!("{}: {}", f.code, f.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{DeliveryStatus, schedule::DueKind},
        store::tests::{at, lease, queued_email},
    };

    fn failure() -> Failure {
        Failure {
            code: "Throttling".into(),
            message: "slow down".into(),
        }
    }

    /// The settle of a one-target notification the provider accepted as `message_id`.
    fn sent(token: &str, n: &Notification, message_id: &str, at: Timestamp) -> Transition {
        let mut d = Delivery::pending(n.recipient.address().unwrap());
        d.status = DeliveryStatus::Sent;
        d.provider_message_id = Some(message_id.into());
        let p = ProviderRef {
            name: "ses".into(),
            message_id: Some(message_id.into()),
            indexed: false,
        };
        Transition::settle(token, Status::Sent, p, vec![d], None, at)
    }

    #[test]
    fn every_named_transition_is_allowed_by_the_status_table() {
        let n = queued_email();
        let p = ProviderRef {
            name: "ses".into(),
            message_id: None,
            indexed: false,
        };
        let due = Due {
            kind: DueKind::Enqueue,
            at: at(0),
        };
        let mut all = vec![
            Transition::claim(lease("t", at(1)), at(0)),
            Transition::requeued("t", failure(), vec![], at(0)),
            Transition::failed_before_sending(failure(), at(0)),
            sent("t", &n, "m", at(0)),
            Transition::cancelled(at(0)),
            Transition::released(due, at(0)),
            Transition::expired("too late".into(), at(0)),
        ];
        for to in [Status::Failed, Status::Suppressed] {
            all.push(Transition::settle(
                "t",
                to,
                p.clone(),
                vec![],
                Some(failure()),
                at(0),
            ));
        }
        for t in all {
            for from in &t.from {
                assert!(from.can_transition_to(t.to), "{from} -> {}", t.to);
            }
            if t.take_over_expired_lease_at.is_some() {
                assert!(Status::Sending.can_transition_to(t.to) || t.to == Status::Sending);
            }
            if t.retry_exhausted {
                assert!(Status::Failed.can_transition_to(t.to));
            }
        }
    }

    #[test]
    fn a_redriven_message_claims_a_notification_whose_retries_ran_out_but_no_other_failure() {
        let mut n = queued_email();
        n.status = Status::Failed;
        n.error = Some(Failure {
            code: RETRIES_EXHAUSTED.into(),
            message: "gave up".into(),
        });
        let claim = Transition::claim(lease("t", at(60_000)), at(0));
        assert!(claim.permits(&n));
        n.error = Some(failure());
        assert!(!claim.permits(&n), "a permanent failure stays failed");
    }

    #[test]
    fn settling_ends_what_was_due_and_cancel_needs_an_unclaimed_notification() {
        let n = queued_email();
        assert!(n.due.is_some());
        let claimed = Transition::claim(lease("t", at(60_000)), at(0)).applied_to(&n);
        assert_eq!(claimed.due, n.due, "in flight: still due");
        let done = sent("t", &claimed, "m", at(1)).applied_to(&claimed);
        assert_eq!(done.due, None);

        assert!(Transition::cancelled(at(0)).permits(&n));
        assert!(
            !Transition::cancelled(at(0)).permits(&claimed),
            "already being sent"
        );
        assert_eq!(Transition::cancelled(at(0)).applied_to(&n).due, None);
    }

    #[test]
    fn claim_takes_queued_or_an_expired_lease_only() {
        let claim = Transition::claim(lease("new", at(60_000)), at(1_000));
        let n = queued_email();
        assert!(claim.permits(&n));

        let held = claim.applied_to(&n);
        assert_eq!((held.status, held.attempts), (Status::Sending, 1));
        assert!(!claim.permits(&held), "a live lease must not be taken over");

        let later = Transition::claim(lease("other", at(200_000)), at(61_000));
        assert!(later.permits(&held), "an expired lease may be taken over");
    }

    #[test]
    fn completion_requires_the_current_lease() {
        let n = Transition::claim(lease("mine", at(60_000)), at(0)).applied_to(&queued_email());
        assert!(!sent("stale", &n, "m-1", at(5)).permits(&n));
        let change = sent("mine", &n, "m-1", at(5));
        assert!(change.permits(&n));
        let done = change.applied_to(&n);
        assert_eq!(done.status, Status::Sent);
        assert_eq!(done.provider_message_id.as_deref(), Some("m-1"));
        assert_eq!(done.deliveries[0].status, DeliveryStatus::Sent);
        assert_eq!(done.lease, None);
        let statuses: Vec<Status> = done.history.iter().map(|h| h.status).collect();
        assert_eq!(
            statuses,
            vec![Status::Queued, Status::Sending, Status::Sent]
        );
    }

    #[test]
    fn requeue_keeps_the_error_and_the_deliveries_and_releases_the_lease() {
        let n = Transition::claim(lease("mine", at(60_000)), at(0)).applied_to(&queued_email());
        let pending = vec![Delivery::pending(n.recipient.address().unwrap())];
        let back = Transition::requeued("mine", failure(), pending.clone(), at(5)).applied_to(&n);
        assert_eq!(back.status, Status::Queued);
        assert_eq!(back.error, Some(failure()));
        assert_eq!(back.deliveries, pending);
        assert_eq!(back.lease, None);
        assert_eq!(
            back.history.last().unwrap().reason.as_deref(),
            Some("Throttling: slow down")
        );
    }
}
