//! Handing a notification to its queue: the step the API, the scheduled release and the
//! sweep's re-enqueue share.

use std::time::Duration;

use tracing::warn;

use crate::{
    domain::{
        Notification,
        schedule::{self, DueKind},
        time::Timestamp,
    },
    queue::{NotificationQueue, QueueError, QueueMessage},
    store::NotificationStore,
};

/// Sends the notification's queue message (delayed until its `scheduledAt`, up to the SQS
/// limit), then replaces its `enqueue` marker with its expiry. If the process dies between
/// the two, the marker stays and the sweep sends the message again: a duplicate the workers'
/// claim turns into a single send.
pub async fn enqueue(
    store: &dyn NotificationStore,
    queue: &dyn NotificationQueue,
    n: &Notification,
    now: Timestamp,
    lifetime: Duration,
) -> Result<(), QueueError> {
    let message = QueueMessage::new(n.id.clone(), n.tenant.clone(), n.channel, n.priority);
    queue
        .enqueue(&message, schedule::queue_delay(now, n.scheduled_at))
        .await?;
    let expiry = schedule::expiry(now, n.scheduled_at, lifetime);
    if let Err(e) = store.replace_due(&n.id, DueKind::Enqueue, expiry).await {
        warn!(error = %e, notification_id = %n.id, "queued, but not confirmed on the record: the sweep will queue it again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::schedule::Due,
        queue::MemoryQueue,
        store::{MemoryStore, tests::queued_email},
    };

    #[tokio::test]
    async fn the_message_goes_out_then_the_marker_says_when_it_expires() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
        let n = queued_email();
        store.insert(&n).await.unwrap();
        assert_eq!(n.due.unwrap().kind, DueKind::Enqueue);
        enqueue(&store, &queue, &n, n.created_at, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(queue.messages().len(), 1);
        let due: Due = store.record(&n.id).unwrap().due.unwrap();
        assert_eq!(
            (due.kind, due.at),
            (
                DueKind::Expire,
                n.created_at.plus(Duration::from_secs(3600))
            )
        );
    }

    #[tokio::test]
    async fn a_failed_send_leaves_the_marker_for_the_sweep() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
        let n = queued_email();
        store.insert(&n).await.unwrap();
        queue.set_unavailable(true);
        assert!(
            enqueue(&store, &queue, &n, n.created_at, Duration::from_secs(3600))
                .await
                .is_err()
        );
        assert_eq!(
            store.record(&n.id).unwrap().due.unwrap().kind,
            DueKind::Enqueue
        );
    }
}
