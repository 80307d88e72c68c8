//! Handing a notification to its queue: the step the API, the scheduled release and the
//! sweep's re-enqueue share.

use std::time::Duration;

use tracing::warn;

use crate::{
    domain::{
        Notification,
        schedule::{self, Due, DueKind},
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
    confirm(store, n, schedule::expiry(now, n.scheduled_at, lifetime)).await;
    Ok(())
}

/// Replaces the `enqueue` marker of a notification whose message is sent with `expiry`. Its
/// index entry stays where it is (one write less) unless that would make the sweep find it
/// late: a lifetime shorter than the grace period.
async fn confirm(store: &dyn NotificationStore, n: &Notification, expiry: Due) {
    let confirmed = if n.due.is_some_and(|pending| pending.at <= expiry.at) {
        store.confirm_enqueued(&n.id, expiry).await
    } else {
        store.replace_due(&n.id, DueKind::Enqueue, expiry).await
    };
    if let Err(e) = confirmed {
        warn!(error = %e, notification_id = %n.id, "queued, but not confirmed on the record: the sweep will queue it again");
    }
}

/// Sends the messages of many notifications in batches, and returns the positions of those
/// the queue refused. No record changes: in bulk, the request's outbox says which messages
/// are not sent (see `store::Outbox`), so a notification costs no write for it.
pub async fn send_all(
    queue: &dyn NotificationQueue,
    notifications: &[&Notification],
    now: Timestamp,
) -> Vec<usize> {
    let messages: Vec<(QueueMessage, Duration)> = notifications
        .iter()
        .map(|n| {
            (
                QueueMessage::new(n.id.clone(), n.tenant.clone(), n.channel, n.priority),
                schedule::queue_delay(now, n.scheduled_at),
            )
        })
        .collect();
    queue.enqueue_many(&messages).await
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
    async fn in_bulk_the_refused_positions_are_reported_and_no_record_changes() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::new());
        let batch: Vec<Notification> = (0..3).map(|_| queued_email()).collect();
        assert!(store.insert_many(&batch).await.is_empty());
        queue.refuse_sends(1);
        let refs: Vec<&Notification> = batch.iter().collect();
        assert_eq!(send_all(&queue, &refs, batch[0].created_at).await, [0]);
        assert_eq!(queue.messages().len(), 2);
        for n in &batch {
            assert_eq!(store.record(&n.id).unwrap(), *n);
        }
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
