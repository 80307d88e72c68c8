//! Drafts at acceptance: a send or batch made with `"draft": true` (or a batch above the
//! tenant's `approvalAbove`) is recorded as `draft`, nothing queued, with an `expire` marker
//! at the tenant's `draftExpiryHours` (the approve and reject routes decide them).

use std::time::Duration;

use notify_shared::domain::{
    HistoryEntry, Notification, Status, TenantId,
    schedule::{Due, DueKind},
    tenant::TenantSettings,
    time::Timestamp,
};

use crate::{ApiError, App, callers::Origin, limits};

/// The tenant's approval settings (its own, else the defaults).
pub async fn settings(
    app: &App,
    tenant: &TenantId,
    now: Timestamp,
) -> Result<TenantSettings, ApiError> {
    Ok(app
        .key_cache
        .tenant(app.tenants.as_ref(), tenant, now)
        .await?
        .map(|t| t.settings)
        .unwrap_or_default())
}

/// Makes drafts of the notifications that would go (not those preferences suppressed).
pub fn hold(
    notifications: &mut [Notification],
    origin: &Origin,
    settings: &TenantSettings,
    now: Timestamp,
) {
    let expires = now.plus(Duration::from_secs(
        u64::from(settings.draft_expiry_hours) * 3600,
    ));
    for n in notifications.iter_mut().filter(|n| limits::counts(n)) {
        n.status = Status::Draft;
        n.due = Some(Due {
            kind: DueKind::Expire,
            at: expires,
        });
        n.created_by = Some(origin.key.clone());
        n.history = vec![HistoryEntry {
            status: Status::Draft,
            at: now,
            reason: Some(format!(
                "awaiting approval (expires after {} hours)",
                settings.draft_expiry_hours
            )),
            event: None,
        }];
    }
}
