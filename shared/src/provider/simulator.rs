//! The simulator a test key's notifications meet instead of a provider (issue "Tenants and API
//! keys": test keys run the whole pipeline for free). Nothing leaves the service: the outcome
//! is chosen by the target's address, as GOV.UK Notify's and SES's simulators do.
//!
//! | address | outcome |
//! |---|---|
//! | `bounce@simulator.notify`, `+12025550102`, device token `simulator-bounce` | `failed` (`Bounced`, permanent) |
//! | `temp-fail@simulator.notify`, `+12025550103`, `simulator-temp-fail` | a temporary failure on the first attempt: retried, then `delivered` |
//! | `timeout@simulator.notify`, `+12025550104`, `simulator-timeout` | the provider times out on the first attempt: retried, then `delivered` |
//! | anything else (any webhook, chat target or in-app user too) | `sent`, then `delivered` |
//!
//! The numbers are in the US range kept for fiction (555-0100 to 555-0199).

use async_trait::async_trait;

use super::{Provider, ProviderError, Receipt};
use crate::domain::{Address, Channel, Delivery, DeliveryStatus, Notification};

/// What the simulator does with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated {
    Delivered,
    Bounced,
    TemporaryFailure,
    Timeout,
}

impl Simulated {
    pub fn of(to: &Address) -> Self {
        let address = to.as_str().to_ascii_lowercase();
        let is = |local: &str, phone: &str| {
            address == format!("{local}@simulator.notify")
                || address == phone
                || address == format!("simulator-{local}")
        };
        if is("bounce", "+12025550102") {
            Simulated::Bounced
        } else if is("temp-fail", "+12025550103") {
            Simulated::TemporaryFailure
        } else if is("timeout", "+12025550104") {
            Simulated::Timeout
        } else {
            Simulated::Delivered
        }
    }
}

/// Stands in for `real` (whose targets it keeps: a user's devices, a webhook's URL) without
/// calling it.
pub struct Simulator<'a> {
    pub real: &'a dyn Provider,
}

#[async_trait]
impl Provider for Simulator<'_> {
    fn name(&self) -> &'static str {
        "simulator"
    }

    fn channel(&self) -> Channel {
        self.real.channel()
    }

    async fn targets(&self, notification: &Notification) -> Result<Vec<Address>, ProviderError> {
        self.real.targets(notification).await
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        // The failures that pass fail the first attempt only: the retry path is exercised,
        // and nothing of a test key's ends in a dead-letter queue.
        let first = n.attempts <= 1;
        match Simulated::of(to) {
            Simulated::Delivered => Ok(Receipt {
                message_id: format!("simulated-{}", n.id),
                response: None,
            }),
            Simulated::Bounced => Err(ProviderError::permanent(
                "Bounced",
                "the simulator bounced it (a test key's notification)",
            )),
            Simulated::TemporaryFailure | Simulated::Timeout if !first => Ok(Receipt {
                message_id: format!("simulated-{}", n.id),
                response: None,
            }),
            Simulated::TemporaryFailure => Err(ProviderError::transient(
                "TemporaryFailure",
                "the simulator failed it for now (a test key's notification)",
            )),
            Simulated::Timeout => Err(ProviderError::transient(
                "Timeout",
                "the simulated provider did not answer in time (a test key's notification)",
            )),
        }
    }

    /// A simulated send is in the recipient's hands at once.
    fn delivered(&self, deliveries: &[Delivery]) -> bool {
        deliveries.iter().any(|d| d.status == DeliveryStatus::Sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, PhoneNumber};

    #[test]
    fn the_documented_addresses_choose_the_outcome() {
        let email = |a: &str| Address::Email(EmailAddress::parse(a).unwrap());
        let phone = |p: &str| Address::Phone(PhoneNumber::parse(p).unwrap());
        assert_eq!(
            Simulated::of(&email("bounce@simulator.notify")),
            Simulated::Bounced
        );
        assert_eq!(
            Simulated::of(&email("Temp-Fail@simulator.notify")),
            Simulated::TemporaryFailure
        );
        assert_eq!(Simulated::of(&phone("+12025550104")), Simulated::Timeout);
        assert_eq!(
            Simulated::of(&phone("+12025550103")),
            Simulated::TemporaryFailure
        );
        assert_eq!(Simulated::of(&phone("+12025550102")), Simulated::Bounced);
        assert_eq!(
            Simulated::of(&email("bounce@example.com")),
            Simulated::Delivered
        );
        assert_eq!(Simulated::of(&phone("+12025550101")), Simulated::Delivered);
    }
}
