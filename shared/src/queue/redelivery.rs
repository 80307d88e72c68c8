//! When a kept message comes back. A worker that reports a message as failed leaves it
//! invisible for the rest of the queue's visibility timeout; instead it sets the delay itself
//! (`ChangeMessageVisibility`): the provider's `Retry-After` when it gave one, otherwise an
//! exponential backoff with jitter, so retries spread out instead of hammering a provider
//! that is struggling.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::{Client, error::DisplayErrorContext};
use rand::Rng;

use super::QueueError;

/// SQS's longest visibility timeout
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// The delay before receive `receive_count + 1`: `base · 2^(n-1)`, capped at `max`, half of
/// it fixed and half random ("equal jitter").
pub fn backoff(receive_count: u32, base: Duration, max: Duration) -> Duration {
    let exp = receive_count.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exp).min(max);
    let half = full / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

/// SQS takes whole seconds: a delay is rounded up, so a backoff of 0.7 s is not a retry at
/// once.
fn whole_seconds(delay: Duration) -> i32 {
    delay.as_secs_f64().ceil() as i32
}

#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Makes the received message (of the queue `queue_arn`) visible again after `delay`.
    async fn redeliver_after(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError>;

    /// Puts `body` on the queue again as a new message, delayed (at most 15 minutes): its
    /// receive count starts over.
    async fn requeue(&self, queue_arn: &str, body: &str, delay: Duration)
    -> Result<(), QueueError>;
}

/// SQS, which needs the queue URL: resolved from the event's queue ARN once per queue.
pub struct SqsRedelivery {
    client: Client,
    urls: Mutex<HashMap<String, String>>,
}

impl SqsRedelivery {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            urls: Mutex::new(HashMap::new()),
        }
    }

    async fn url(&self, arn: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.lock().unwrap_or_else(|p| p.into_inner()).get(arn) {
            return Ok(url.clone());
        }
        // arn:aws:sqs:<region>:<account>:<name>
        let parts: Vec<&str> = arn.split(':').collect();
        let (account, name) = match parts.as_slice() {
            [_, _, "sqs", _, account, name] => (*account, *name),
            _ => {
                return Err(QueueError::Unavailable(format!(
                    "not an SQS queue ARN: {arn}"
                )));
            }
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?
            .queue_url
            .ok_or_else(|| QueueError::Unavailable(format!("no URL for {arn}")))?;
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(arn.to_owned(), url.clone());
        Ok(url)
    }
}

#[async_trait]
impl Redelivery for SqsRedelivery {
    async fn redeliver_after(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = self.url(queue_arn).await?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(whole_seconds(delay.min(MAX_VISIBILITY)))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn requeue(
        &self,
        queue_arn: &str,
        body: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = self.url(queue_arn).await?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(whole_seconds(
                delay.min(crate::domain::schedule::MAX_QUEUE_DELAY),
            ))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Records the delays and re-sends asked for, for unit tests.
#[derive(Default)]
pub struct MemoryRedelivery {
    delays: Mutex<Vec<(String, Duration)>>,
    requeued: Mutex<Vec<(String, Duration)>>,
}

impl MemoryRedelivery {
    pub fn new() -> Self {
        Self::default()
    }

    /// (receipt handle, delay) of every call.
    pub fn delays(&self) -> Vec<(String, Duration)> {
        self.delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// (body, delay) of every re-sent message.
    pub fn requeued(&self) -> Vec<(String, Duration)> {
        self.requeued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Redelivery for MemoryRedelivery {
    async fn redeliver_after(
        &self,
        _queue_arn: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((receipt_handle.to_owned(), delay));
        Ok(())
    }

    async fn requeue(
        &self,
        _queue_arn: &str,
        body: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.requeued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((body.to_owned(), delay));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(60);
        for _ in 0..100 {
            let first = backoff(1, base, max);
            assert!(
                first >= Duration::from_secs(5) && first <= base,
                "{first:?}"
            );
            let third = backoff(3, base, max);
            assert!(
                third >= Duration::from_secs(20) && third <= Duration::from_secs(40),
                "{third:?}"
            );
            let late = backoff(30, base, max);
            assert!(late >= Duration::from_secs(30) && late <= max, "{late:?}");
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let base = Duration::from_secs(100);
        let samples: std::collections::HashSet<Duration> =
            (0..50).map(|_| backoff(2, base, MAX_VISIBILITY)).collect();
        assert!(
            samples.len() > 10,
            "retries of many messages must not line up"
        );
    }
}
