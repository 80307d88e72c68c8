//! Step 2, the targets: the address, the number, or each registered device of the user. They
//! are resolved once, on the first attempt, and each keeps its own delivery state in the
//! record, so a retry sends only to the targets still pending.

use crate::{
    domain::{Delivery, DeliveryStatus, Notification},
    provider::{Provider, ProviderError},
    store::RETRIES_EXHAUSTED,
};

/// The deliveries of this attempt: the record's, or on the first attempt one pending delivery
/// per target the provider resolves.
pub(super) async fn resolve(
    provider: &dyn Provider,
    n: &Notification,
) -> Result<Vec<Delivery>, ProviderError> {
    let mut deliveries = n.deliveries.clone();
    // A redriven notification: the targets its retries ran out on are tried again.
    for d in deliveries.iter_mut() {
        if d.status == DeliveryStatus::Failed
            && d.error
                .as_ref()
                .is_some_and(|e| e.code == RETRIES_EXHAUSTED)
        {
            d.status = DeliveryStatus::Pending;
        }
    }
    if deliveries.is_empty() {
        let targets = provider.targets(n).await?;
        deliveries = targets.into_iter().map(Delivery::pending).collect();
    }
    Ok(deliveries)
}
