//! A provider's send rate (issue "Tenants and API keys": SES's maximum send rate, SMS parts
//! per second of an origination identity), held across every concurrent instance of a
//! worker: each send first counts its units (a message; an SMS's parts) in the current
//! second's counter, one DynamoDB item changed only by a conditional `ADD`, so no second
//! ever holds more than the rate. A send that does not fit waits for the next second when it
//! is high priority; otherwise its message is put back for later without using a receive
//! ([`ErrorKind::Paced`]), normal priority a second after high and low three: delayed, never
//! failed, high priority first.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tracing::warn;

use super::{ErrorKind, Provider, ProviderError, Receipt};
use crate::{
    clock::Clock,
    domain::{Address, Channel, Content, Delivery, Notification, Priority, TenantId},
    store::LimitCounters,
};

/// The counters' owner: not a tenant (a tenant id has no `~`).
const PROVIDERS: &str = "~providers";

/// `inner`, at most `per_second` units a second across all instances sharing `counters`.
pub struct PacedProvider {
    pub inner: Arc<dyn Provider>,
    pub counters: Arc<dyn LimitCounters>,
    pub clock: Arc<dyn Clock>,
    pub per_second: u32,
}

/// What a send counts against the rate: an SMS's parts (what carriers and SNS limit), else one.
fn units(n: &Notification) -> u32 {
    match &n.content {
        Content::Sms(sms) => sms.segments.count.max(1),
        _ => 1,
    }
}

/// How much later than the next second a paced message of `priority` comes back.
fn behind(priority: Priority) -> Duration {
    match priority {
        Priority::High => Duration::ZERO,
        Priority::Normal => Duration::from_secs(1),
        Priority::Low => Duration::from_secs(3),
    }
}

impl PacedProvider {
    /// Counts `cost` in the current second: `Ok(())` when it fits, else how long until the
    /// next second.
    async fn take(&self, cost: u32) -> Result<(), Duration> {
        let now = self.clock.now().as_millis();
        let second = now.div_euclid(1000);
        let counted = self
            .counters
            .add_within(
                &TenantId::new(PROVIDERS),
                &format!("SEND#{}#{second}", self.inner.channel()),
                cost.min(self.per_second),
                self.per_second,
                second + 120,
            )
            .await;
        match counted {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Duration::from_millis((1000 - now.rem_euclid(1000)) as u64)),
            Err(e) => {
                // The provider's own throttling answers (transient) still protect it.
                warn!(error = %e, "the send-rate counter could not be written; sending");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Provider for PacedProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn channel(&self) -> Channel {
        self.inner.channel()
    }

    async fn targets(&self, n: &Notification) -> Result<Vec<Address>, ProviderError> {
        self.inner.targets(n).await
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let cost = units(n);
        let mut waited = false;
        loop {
            match self.take(cost).await {
                Ok(()) => return self.inner.send(n, to).await,
                // High priority waits for the next second, once, rather than the queue.
                Err(wait) if n.priority == Priority::High && !waited => {
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => {
                    return Err(ProviderError {
                        kind: ErrorKind::Paced {
                            after: wait + behind(n.priority),
                        },
                        code: "paced".into(),
                        message: format!(
                            "the {} provider's rate of {} a second is reached; sent later",
                            self.inner.channel(),
                            self.per_second
                        ),
                    });
                }
            }
        }
    }

    fn reports_by_message_id(&self) -> bool {
        self.inner.reports_by_message_id()
    }

    fn delivered(&self, deliveries: &[Delivery]) -> bool {
        self.inner.delivered(deliveries)
    }

    async fn forget(&self, n: &Notification, to: &Address) {
        self.inner.forget(n, to).await
    }
}
