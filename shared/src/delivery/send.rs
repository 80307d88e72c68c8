//! Step 3, the send: one provider call per pending target, all at once, behind the
//! provider's circuit breaker. The kind of a refusal decides the target's state: permanent
//! and gone targets fail (a gone device token leaves the registry), opted-out ones are
//! suppressed, transient ones stay pending for a retry.

use std::time::{Duration, Instant};

use futures::future::join_all;
use tracing::{info, warn};

use super::outcome::Outcome;
use crate::{
    breaker::CircuitBreaker,
    clock::Clock,
    domain::{Delivery, DeliveryStatus, Notification, time::Timestamp},
    provider::{ErrorKind, Provider, ProviderError},
};

/// While the provider's circuit is open the message waits, deferred, before it is claimed.
pub(super) fn circuit_open(breaker: &CircuitBreaker, now: Timestamp) -> Option<Outcome> {
    let wait = breaker.allow(now).err()?;
    info!(
        wait_s = wait.as_secs(),
        "circuit open: deferring the message"
    );
    Some(Outcome::Deferred { after: wait })
}

/// Sends to every pending target and records each answer in its delivery; `latency` hears
/// how long each call took. Returns the transient error that asks for the longest wait, if
/// any target got one.
pub(super) async fn send_pending(
    provider: &dyn Provider,
    breaker: &CircuitBreaker,
    clock: &dyn Clock,
    n: &Notification,
    deliveries: &mut [Delivery],
    latency: impl Fn(Duration) + Sync,
) -> Option<ProviderError> {
    let pending: Vec<usize> = (0..deliveries.len())
        .filter(|&i| deliveries[i].status == DeliveryStatus::Pending)
        .collect();
    let sends = pending.iter().map(|&i| {
        let (to, latency) = (&deliveries[i].to, &latency);
        async move {
            let started = Instant::now();
            let result = provider.send(n, to).await;
            latency(started.elapsed());
            result
        }
    });
    let results = join_all(sends).await;
    let mut transient: Option<ProviderError> = None;
    for (&i, result) in pending.iter().zip(results) {
        let d = &mut deliveries[i];
        match &result {
            Err(e) if e.is_transient() => breaker.record_transient_failure(clock.now()),
            _ => breaker.record_answer(),
        }
        match result {
            Ok(receipt) => {
                info!(to = %d.to.masked(), provider_message_id = %receipt.message_id, "provider accepted the message");
                d.status = DeliveryStatus::Sent;
                d.provider_message_id = Some(receipt.message_id);
                d.response = receipt.response;
                d.error = None;
            }
            Err(e) => {
                warn!(to = %d.to.masked(), code = %e.code, error = %e.message, kind = ?e.kind, "provider refused");
                d.error = Some(e.to_failure());
                match e.kind {
                    ErrorKind::Permanent => d.status = DeliveryStatus::Failed,
                    ErrorKind::OptedOut => d.status = DeliveryStatus::Suppressed,
                    ErrorKind::TargetGone => {
                        d.status = DeliveryStatus::Failed;
                        provider.forget(n, &d.to).await;
                    }
                    ErrorKind::Transient { .. } | ErrorKind::Paced { .. } => {
                        // Keep the error that asks for the longest wait.
                        if transient
                            .as_ref()
                            .is_none_or(|t| e.retry_after() > t.retry_after())
                        {
                            transient = Some(e);
                        }
                    }
                }
            }
        }
    }
    transient
}
