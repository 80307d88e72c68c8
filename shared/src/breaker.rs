//! A circuit breaker per provider, in the warm worker: after repeated transient failures it
//! stops calling the provider for a cool-down. Messages that arrive meanwhile are put back
//! on their queue for later, as new messages, so an outage does not use up their receives
//! and push them into the dead-letter queue.
//!
//! Closed → (N transient failures in a row) → open → (cool-down over) → half-open: one call
//! goes through; success closes the circuit, failure opens it again.

use std::{sync::Mutex, time::Duration};

use tracing::{info, warn};

use crate::domain::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Timestamp },
    HalfOpen,
}

pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go to the provider now; if not, how long until it may.
    pub fn allow(&self, now: Timestamp) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(now.until(until)),
            State::Open { .. } => {
                info!("circuit half-open: trying the provider again");
                *state = State::HalfOpen;
                Ok(())
            }
            // One probe is out; the others wait for its verdict.
            State::HalfOpen => Err(self.cooldown),
        }
    }

    /// The provider answered (success or a permanent refusal: it is up).
    pub fn record_answer(&self) {
        let mut state = self.lock();
        if *state != (State::Closed { failures: 0 }) {
            if *state == State::HalfOpen {
                info!("circuit closed: the provider answers again");
            }
            *state = State::Closed { failures: 0 };
        }
    }

    /// The provider failed transiently.
    pub fn record_transient_failure(&self, now: Timestamp) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::HalfOpen | State::Open { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            warn!(
                failures,
                cooldown_s = self.cooldown.as_secs(),
                "circuit open: pausing calls to the provider"
            );
            State::Open {
                until: now.plus(self.cooldown),
            }
        } else {
            State::Closed { failures }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000)
            .unwrap()
            .plus(Duration::from_secs(secs))
    }

    #[test]
    fn opens_after_the_threshold_and_half_opens_after_the_cooldown() {
        let b = CircuitBreaker::new(3, Duration::from_secs(30));
        for _ in 0..2 {
            b.record_transient_failure(t(0));
        }
        assert_eq!(b.allow(t(0)), Ok(()));
        b.record_transient_failure(t(0));
        assert_eq!(b.allow(t(10)), Err(Duration::from_secs(20)));
        // Cool-down over: one probe goes, the rest wait for it.
        assert_eq!(b.allow(t(30)), Ok(()));
        assert!(b.allow(t(30)).is_err());
        b.record_transient_failure(t(31));
        assert_eq!(
            b.allow(t(40)),
            Err(Duration::from_secs(21)),
            "a failed probe opens it again"
        );
        assert_eq!(b.allow(t(61)), Ok(()));
        b.record_answer();
        assert_eq!(b.allow(t(61)), Ok(()));
        assert_eq!(b.allow(t(61)), Ok(()), "closed again");
    }

    #[test]
    fn an_answer_resets_the_count() {
        let b = CircuitBreaker::new(3, Duration::from_secs(30));
        b.record_transient_failure(t(0));
        b.record_transient_failure(t(0));
        b.record_answer();
        b.record_transient_failure(t(0));
        b.record_transient_failure(t(0));
        assert_eq!(b.allow(t(0)), Ok(()), "not three in a row");
    }
}
