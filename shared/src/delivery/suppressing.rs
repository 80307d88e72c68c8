//! The suppression list and the recipient's preferences in front of a provider: a target on
//! the tenant's list, or a notification to a user whose preferences now decline it (they may
//! have changed since it was accepted), is refused as opted out before the provider hears of
//! it, so the send loop records it `suppressed` (with the list's reason, or `preference`, as
//! its code) exactly as it records an SMS opt-out.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::{
        Address, Channel, Notification, Recipient, SuppressedAddress, preferences::PREFERENCE,
    },
    provider::{ErrorKind, Provider, ProviderError, Receipt},
    store::{SuppressionList, UserStore},
    unsubscribe::Subscriber,
};

pub struct Suppressing {
    provider: Arc<dyn Provider>,
    list: Option<Arc<dyn SuppressionList>>,
    users: Option<Arc<dyn UserStore>>,
}

impl Suppressing {
    /// In front of `provider`, the tenant's suppression list (`list`) and the preferences of
    /// a notification's user (`users`), either optional.
    pub fn new(
        provider: Arc<dyn Provider>,
        list: Option<Arc<dyn SuppressionList>>,
        users: Option<Arc<dyn UserStore>>,
    ) -> Self {
        Self {
            provider,
            list,
            users,
        }
    }

    /// Why the preferences of `n`'s user decline it now, if they do; for an email in a
    /// category sent to an address without a user, the address's (set by unsubscribing).
    async fn declined(&self, n: &Notification) -> Result<Option<String>, ProviderError> {
        let Some(users) = &self.users else {
            return Ok(None);
        };
        let subscriber = match (n.user(), &n.recipient) {
            (Some(user), _) => Subscriber::User(user.clone()),
            (None, Recipient::Email(address)) if n.category.is_some() => {
                Subscriber::address(address)
            }
            // An address without a user is checked only for an email in a category (what an
            // unsubscribe link can have turned off).
            (None, Recipient::Email(_))
            | (
                None,
                Recipient::Phone(_)
                | Recipient::User(_)
                | Recipient::Device(_)
                | Recipient::Endpoint(_)
                | Recipient::Url(_)
                | Recipient::ChatTarget(_)
                | Recipient::Erased(_),
            ) => return Ok(None),
        };
        // Unreadable: retry later rather than send what the user may have turned off.
        let unreadable = |e: crate::store::StoreError| {
            ProviderError::transient("PreferencesUnavailable", e.to_string())
        };
        let (preferences, defaults) = tokio::join!(
            users.preferences(&n.tenant, &subscriber),
            users.defaults(&n.tenant)
        );
        let preferences = preferences.map_err(unreadable)?.unwrap_or_default();
        let defaults = defaults.map_err(unreadable)?.unwrap_or_default();
        Ok(defaults
            .decide(&preferences, n.channel, n.category.as_deref())
            .err()
            .map(|d| d.0))
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
        if let Some(why) = self.declined(n).await? {
            return Err(ProviderError {
                kind: ErrorKind::OptedOut,
                code: PREFERENCE.to_owned(),
                message: why,
            });
        }
        if let (Some(list), Some(address)) = (&self.list, SuppressedAddress::of(to)) {
            // The list unreadable: retry later rather than send to an address that may be on it.
            let listed = list.suppression(&n.tenant, &address).await.map_err(|e| {
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

    fn delivered(&self, deliveries: &[crate::domain::Delivery]) -> bool {
        self.provider.delivered(deliveries)
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
        (Suppressing::new(inner.clone(), Some(list), None), inner)
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
