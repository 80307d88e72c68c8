//! Step 4, settle: record what the sends did. The notification is `sent` if any target
//! accepted it, `suppressed` if all opted out, `failed` otherwise; while a target failed for
//! now it goes back to `queued` and its message is kept, to come back after the backoff. On
//! the last receive SQS allows, a transient failure is recorded as `failed`
//! (`RetriesExhausted`) before the message goes to the dead-letter queue, so the record and
//! the DLQ agree.

use std::time::Duration;

use tracing::{error, warn};

use super::outcome::Outcome;
use crate::{
    clock::Clock,
    domain::{Delivery, DeliveryStatus, Failure, NotificationId, Status},
    provider::{ErrorKind, ProviderError},
    store::{
        NotificationStore, ProviderRef, RETRIES_EXHAUSTED, StoreError, Transition,
        TransitionOutcome,
    },
};

/// The status a notification ends in once none of its targets is pending, and why; `None`
/// while some target still waits for a retry.
pub fn summarise(deliveries: &[Delivery]) -> Option<(Status, Option<Failure>)> {
    if deliveries
        .iter()
        .any(|d| d.status == DeliveryStatus::Pending)
    {
        return None;
    }
    if deliveries.iter().any(|d| d.status == DeliveryStatus::Sent) {
        return Some((Status::Sent, None));
    }
    let first_error = deliveries.iter().find_map(|d| d.error.clone());
    if !deliveries.is_empty()
        && deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Suppressed)
    {
        return Some((Status::Suppressed, first_error));
    }
    let failure = match (deliveries.len(), first_error) {
        (1, Some(f)) => f,
        (n, Some(f)) => Failure {
            code: f.code,
            message: format!(
                "none of the {n} targets accepted it; first error: {}",
                f.message
            ),
        },
        (_, None) => Failure {
            code: "NoTargets".into(),
            message: "nothing to deliver to (no registered devices)".into(),
        },
    };
    Some((Status::Failed, Some(failure)))
}

/// One claimed attempt at a notification: how its end is recorded.
pub(super) struct Attempt<'a> {
    pub store: &'a dyn NotificationStore,
    pub clock: &'a dyn Clock,
    /// The provider's name, for the record.
    pub provider: &'a str,
    /// The provider's receipts name only its message id: the record is indexed by it.
    pub reported_by_message_id: bool,
    pub id: &'a NotificationId,
    /// The claim's lease token.
    pub token: &'a str,
    pub receive_count: u32,
    /// The queue's last receive (its redrive policy's `maxReceiveCount`).
    pub max_receives: u32,
}

impl Attempt<'_> {
    /// The targets could not be resolved: retried if that may pass, else failed.
    pub async fn unresolved(&self, e: ProviderError) -> Outcome {
        if e.is_transient() {
            return self.retry_or_give_up(e, Vec::new()).await;
        }
        self.settle(Status::Failed, Vec::new(), Some(e.to_failure()))
            .await
    }

    /// After the sends: a target that failed for now sends the notification back to the
    /// queue; otherwise it ends in the status its deliveries sum up to.
    pub async fn conclude(
        &self,
        transient: Option<ProviderError>,
        deliveries: Vec<Delivery>,
    ) -> Outcome {
        if let Some(e) = transient {
            if let ErrorKind::Paced { after } = e.kind {
                return self.pace(e, deliveries, after).await;
            }
            return self.retry_or_give_up(e, deliveries).await;
        }
        match summarise(&deliveries) {
            Some((status, failure)) => self.settle(status, deliveries, failure).await,
            None => Outcome::retry("targets still pending"),
        }
    }

    fn provider(&self) -> ProviderRef {
        ProviderRef {
            name: self.provider.to_owned(),
            message_id: None,
            indexed: self.reported_by_message_id,
        }
    }

    async fn settle(
        &self,
        status: Status,
        deliveries: Vec<Delivery>,
        failure: Option<Failure>,
    ) -> Outcome {
        let mut provider = self.provider();
        // With exactly one target, its provider id is the notification's.
        if let [only] = deliveries.as_slice() {
            provider.message_id = only.provider_message_id.clone();
        }
        let change = Transition::settle(
            self.token,
            status,
            provider,
            deliveries,
            failure,
            self.clock.now(),
        );
        self.record_after_send(&change).await;
        match status {
            Status::Sent => Outcome::Sent,
            Status::Suppressed => Outcome::Suppressed,
            Status::Failed => Outcome::Failed,
            // Not a status `summarise` settles on; listed so a new status is a decision here.
            Status::Draft
            | Status::Scheduled
            | Status::Queued
            | Status::Sending
            | Status::Delivered
            | Status::Cancelled
            | Status::Expired => Outcome::Failed,
        }
    }

    /// Paced: the claim released, the message put back as a new one for `after`, its
    /// receives untouched.
    async fn pace(&self, e: ProviderError, deliveries: Vec<Delivery>, after: Duration) -> Outcome {
        let change = Transition::requeued(self.token, e.to_failure(), deliveries, self.clock.now());
        if let Err(store_error) = self.store.transition(self.id, &change).await {
            warn!(error = %store_error, "could not release the claim of a paced message");
        }
        Outcome::Deferred { after }
    }

    /// A transient failure: back to the queue, or, on the last receive SQS allows, the end.
    async fn retry_or_give_up(&self, e: ProviderError, mut deliveries: Vec<Delivery>) -> Outcome {
        if self.receive_count >= self.max_receives {
            // Record the end before the message goes to the dead-letter queue, so the record
            // and the DLQ agree.
            let failure = Failure {
                code: RETRIES_EXHAUSTED.into(),
                message: format!(
                    "gave up after {} attempts; last error {}: {}",
                    self.receive_count, e.code, e.message
                ),
            };
            for d in deliveries
                .iter_mut()
                .filter(|d| d.status == DeliveryStatus::Pending)
            {
                d.status = DeliveryStatus::Failed;
                d.error = Some(failure.clone());
            }
            let (status, summary) = summarise(&deliveries).unwrap_or((Status::Failed, None));
            let failure = if status == Status::Sent {
                None
            } else {
                summary.or(Some(failure))
            };
            self.settle(status, deliveries, failure).await;
            return Outcome::retry(format!("retries exhausted, to the dead-letter queue: {e}"));
        }
        let change = Transition::requeued(self.token, e.to_failure(), deliveries, self.clock.now());
        if let Err(store_error) = self.store.transition(self.id, &change).await {
            // The lease runs out on its own; the next receive takes the record over.
            warn!(error = %store_error, "could not release the claim after a transient failure");
        }
        Outcome::Retry {
            reason: format!("transient provider error: {e}"),
            after: e.retry_after(),
        }
    }

    /// Records the result of provider calls. The provider has already acted, so the message
    /// must not be retried whatever happens here (a retry would send twice): a failed write is
    /// retried a few times, then logged loudly with everything needed to repair the record.
    async fn record_after_send(&self, change: &Transition) {
        const ATTEMPTS: u32 = 4;
        for attempt in 1..=ATTEMPTS {
            match self.store.transition(self.id, change).await {
                Ok(TransitionOutcome::Applied(_)) => return,
                Ok(TransitionOutcome::Refused(current)) => {
                    error!(
                        wanted = %change.to,
                        found = ?current.map(|c| c.status),
                        "lost the claim while sending: the record was changed by someone else"
                    );
                    return;
                }
                Err(e @ StoreError::Unavailable(_)) if attempt < ATTEMPTS => {
                    warn!(error = %e, attempt, "recording the result failed, retrying");
                    tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(attempt))).await;
                }
                Err(e) => {
                    error!(
                        error = %e,
                        wanted = %change.to,
                        deliveries = ?change.deliveries,
                        "could not record the result of a send; the record stays `sending`"
                    );
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Address, DeviceToken, Platform};

    fn delivery(status: DeliveryStatus, code: Option<&str>) -> Delivery {
        let mut d = Delivery::pending(Address::Device {
            token: DeviceToken::parse("t").unwrap(),
            platform: Some(Platform::Android),
        });
        d.status = status;
        d.error = code.map(|c| Failure {
            code: c.into(),
            message: "m".into(),
        });
        d
    }

    #[test]
    fn the_summary_of_targets() {
        use DeliveryStatus::*;
        assert_eq!(
            summarise(&[delivery(Sent, None), delivery(Pending, Some("X"))]),
            None
        );
        assert_eq!(
            summarise(&[delivery(Sent, None), delivery(Failed, Some("UNREGISTERED"))]),
            Some((Status::Sent, None))
        );
        let (status, failure) = summarise(&[delivery(Suppressed, Some("OptedOut"))]).unwrap();
        assert_eq!(
            (status, failure.unwrap().code.as_str()),
            (Status::Suppressed, "OptedOut")
        );
        let (status, failure) = summarise(&[
            delivery(Failed, Some("UNREGISTERED")),
            delivery(Failed, Some("INVALID")),
        ])
        .unwrap();
        let failure = failure.unwrap();
        assert_eq!(
            (status, failure.code.as_str()),
            (Status::Failed, "UNREGISTERED")
        );
        assert!(
            failure.message.contains("none of the 2 targets"),
            "{}",
            failure.message
        );
        assert_eq!(summarise(&[]).unwrap().1.unwrap().code, "NoTargets");
    }
}
