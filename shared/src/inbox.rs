//! What the feed API and the WebSocket function do to a user's inbox: marks, one item or all
//! of them, each applied as a conditional transaction and computed again when another write
//! came in between; and the first fetch of an item, which makes its notification
//! `delivered`.

use tracing::warn;

use crate::{
    domain::{
        NotificationId, Status, TenantId, UserId,
        inbox::{InboxCounts, InboxFilter, InboxItem, Mark},
        time::Timestamp,
    },
    store::{InboxStore, MAX_CHANGES_PER_WRITE, NotificationStore, StoreError, Transition},
};

/// How many times a mark is computed again when concurrent marks changed its items.
const ATTEMPTS: usize = 5;
/// Items one bulk mark changes at most per call (the answer says when more are left).
pub const MAX_BULK_MARK: usize = 1_000;

/// The item after a mark, and whether the mark changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Marked {
    pub item: InboxItem,
    pub changed: bool,
}

fn contended() -> StoreError {
    StoreError::Unavailable("the inbox is being changed concurrently; retry".into())
}

/// Marks one item; `None` when the user has no such item.
pub async fn mark(
    store: &dyn InboxStore,
    tenant: &TenantId,
    user: &UserId,
    id: &NotificationId,
    mark: Mark,
    now: Timestamp,
) -> Result<Option<Marked>, StoreError> {
    for _ in 0..ATTEMPTS {
        let Some(item) = store.item(tenant, user, id, now).await? else {
            return Ok(None);
        };
        let Some(change) = item.marked(mark, now) else {
            return Ok(Some(Marked {
                item,
                changed: false,
            }));
        };
        if store
            .apply(tenant, user, std::slice::from_ref(&change))
            .await?
        {
            return Ok(Some(Marked {
                item: change.item,
                changed: true,
            }));
        }
    }
    Err(contended())
}

/// What a bulk mark did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarkedAll {
    /// The items it changed.
    pub items: Vec<InboxItem>,
    /// Whether items it would change are left (more than [`MAX_BULK_MARK`]).
    pub more: bool,
}

/// Marks every item `mark` would change (in `category`, when given), newest first, up to
/// [`MAX_BULK_MARK`].
pub async fn mark_all(
    store: &dyn InboxStore,
    tenant: &TenantId,
    user: &UserId,
    mark: Mark,
    category: Option<&str>,
    now: Timestamp,
) -> Result<MarkedAll, StoreError> {
    let filter = InboxFilter {
        category: category.map(str::to_owned),
        ..mark.candidates()
    };
    let mut done = MarkedAll::default();
    let mut failures = 0;
    loop {
        let room = MAX_BULK_MARK - done.items.len();
        if room == 0 {
            // Whether any is left: one more look.
            let left = store.items(tenant, user, &filter, None, 1, now).await?;
            done.more = !left.items.is_empty();
            return Ok(done);
        }
        // Always from the top: what was marked no longer matches the filter.
        let page = store
            .items(
                tenant,
                user,
                &filter,
                None,
                room.min(MAX_CHANGES_PER_WRITE),
                now,
            )
            .await?;
        let changes: Vec<_> = page
            .items
            .iter()
            .filter_map(|item| item.marked(mark, now))
            .collect();
        if changes.is_empty() {
            return Ok(done);
        }
        if store.apply(tenant, user, &changes).await? {
            done.items.extend(changes.into_iter().map(|c| c.item));
        } else {
            failures += 1;
            if failures >= ATTEMPTS {
                return Err(contended());
            }
        }
    }
}

/// The user's app has `items` (fetched, or pushed to a live connection): each one's
/// notification becomes `delivered`, the first time. Best effort: a failure is logged, the
/// items are answered anyway.
pub async fn delivered(
    inbox: &dyn InboxStore,
    notifications: &dyn NotificationStore,
    tenant: &TenantId,
    user: &UserId,
    items: &[InboxItem],
    now: Timestamp,
) {
    let one = async |item: &InboxItem| -> Result<(), StoreError> {
        if inbox.mark_delivered(tenant, user, &item.id, now).await? {
            let change = Transition::reported(Status::Delivered, None, now);
            notifications.transition(&item.id, &change).await?;
        }
        Ok(())
    };
    let results = futures::future::join_all(items.iter().map(one)).await;
    for e in results.into_iter().filter_map(Result::err) {
        warn!(error = %e, "could not record an inbox item's delivery");
    }
}

/// The counters as an answer shows them.
pub fn counts_view(counts: InboxCounts) -> serde_json::Value {
    let counts = counts.shown();
    serde_json::json!({ "unreadCount": counts.unread, "unseenCount": counts.unseen })
}
