//! The suppression list in front of a provider: a target on the tenant's list is refused as
//! opted out before the provider hears of it, so the send loop records it `suppressed` (with
//! the list's reason as its code) exactly as it records an SMS opt-out.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::{Address, Channel, Notification, SuppressedAddress},
    provider::{ErrorKind, Provider, ProviderError, Receipt},
    store::SuppressionList,
};

pub struct Suppressing {
    provider: Arc<dyn Provider>,
    list: Arc<dyn SuppressionList>,
}

impl Suppressing {
    pub fn new(provider: Arc<dyn Provider>, list: Arc<dyn SuppressionList>) -> Self {
        Self { provider, list }
    }
}

#[async_trait]
impl Provider for Suppressing {
    fn name(&self) -> &'static str {
        self.provider.name()
    }

    fn channel(&self) -> Channel {
        self.provider.channel()
    }

    async fn targets(&self, notification: &Notification) -> Result<Vec<Address>, ProviderError> {
        self.provider.targets(notification).await
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        if let Some(address) = SuppressedAddress::of(to) {
            // The list unreadable: retry later rather than send to an address that may be on it.
            let listed = self
                .list
                .suppression(&n.tenant, &address)
                .await
                .map_err(|e| {
                    ProviderError::transient("SuppressionListUnavailable", e.to_string())
                })?;
            if let Some(entry) = listed {
                return Err(ProviderError {
                    kind: ErrorKind::OptedOut,
                    code: entry.reason.as_str().to_owned(),
                    message: format!(
                        "the address is on the tenant's suppression list ({}) since {}",
                        entry.reason, entry.created_at
                    ),
                });
            }
        }
        self.provider.send(n, to).await
    }

    fn reports_by_message_id(&self) -> bool {
        self.provider.reports_by_message_id()
    }

    async fn forget(&self, n: &Notification, to: &Address) {
        self.provider.forget(n, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Suppression, SuppressionReason, TenantId},
        provider::ScriptedProvider,
        store::{MemorySuppressions, tests::at, tests::queued_email},
    };

    /// A provider behind a list holding the notification's address for `tenant`, and the
    /// provider's own record of its calls.
    async fn listed_for(tenant: &str, n: &Notification) -> (Suppressing, Arc<ScriptedProvider>) {
        let list = Arc::new(MemorySuppressions::new());
        let entry = Suppression {
            tenant: TenantId::new(tenant),
            address: SuppressedAddress::of(&n.recipient.address().unwrap()).unwrap(),
            reason: SuppressionReason::Bounced,
            created_at: at(0),
            notification_id: None,
            detail: None,
        };
        list.suppress(&entry, false).await.unwrap();
        let inner = Arc::new(ScriptedProvider::new(Channel::Email));
        (Suppressing::new(inner.clone(), list), inner)
    }

    #[tokio::test]
    async fn a_listed_address_is_refused_as_opted_out_without_calling_the_provider() {
        let n = queued_email();
        let (provider, inner) = listed_for(n.tenant.as_str(), &n).await;
        let err = provider
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::OptedOut);
        assert_eq!(err.code, "bounced");
        assert_eq!(inner.calls().len(), 0);
    }

    #[tokio::test]
    async fn another_tenants_list_does_not_apply() {
        let n = queued_email();
        let (provider, inner) = listed_for("other", &n).await;
        provider
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap();
        assert_eq!(inner.calls().len(), 1);
    }
}
