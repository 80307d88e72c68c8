use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;

use super::{NotificationQueue, QueueError, QueueMessage};

/// An in-memory queue for unit tests: records what was enqueued, and can be told to fail.
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<(QueueMessage, Duration)>>,
    unavailable: AtomicBool,
    refuse: AtomicUsize,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    pub fn is_up(&self) -> bool {
        !self.unavailable.load(Ordering::SeqCst)
    }

    /// The next `count` sends fail.
    pub fn refuse_sends(&self, count: usize) {
        self.refuse.store(count, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<(QueueMessage, Duration)> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The notifications of the messages sent, in order.
    pub fn sent_ids(&self) -> Vec<crate::domain::NotificationId> {
        self.messages().into_iter().map(|(m, _)| m.id).collect()
    }
}

#[async_trait]
impl NotificationQueue for MemoryQueue {
    async fn enqueue(&self, message: &QueueMessage, delay: Duration) -> Result<(), QueueError> {
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if refused || self.unavailable.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("injected outage".into()));
        }
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((message.clone(), delay));
        Ok(())
    }
}
