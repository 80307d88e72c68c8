use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::{Client, error::DisplayErrorContext, types::SendMessageBatchRequestEntry};
use futures::{StreamExt, stream};
use tracing::warn;

use super::{MessageBody, NotificationQueue, QueueError, QueueMessage};
use crate::config::QueueUrls;

/// SQS: <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// SendMessageBatch takes at most 10 entries.
const BATCH_ENTRIES: usize = 10;
/// Calls in flight at once.
const IN_FLIGHT: usize = 16;
/// Attempts per entry before it is reported as not sent.
const ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }
}

#[async_trait]
impl NotificationQueue for SqsQueue {
    async fn enqueue(&self, message: &QueueMessage, delay: Duration) -> Result<(), QueueError> {
        let url =
            self.urls
                .get(message.channel, message.priority)
                .ok_or(QueueError::NotConfigured {
                    channel: message.channel,
                    priority: message.priority,
                })?;
        let delay_seconds = delay.min(MAX_DELAY).as_secs() as i32;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(message.to_body())
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn enqueue_many(&self, messages: &[(QueueMessage, Duration)]) -> Vec<usize> {
        // One call carries entries of one queue only: group by queue, then cut in tens.
        let mut failed = Vec::new();
        let mut by_url: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for (i, (m, _)) in messages.iter().enumerate() {
            match self.urls.get(m.channel, m.priority) {
                Some(url) => by_url.entry(url).or_default().push(i),
                None => failed.push(i),
            }
        }
        let calls: Vec<(String, Vec<usize>)> = by_url
            .into_iter()
            .flat_map(|(url, idx)| {
                idx.chunks(BATCH_ENTRIES)
                    .map(|c| (url.to_owned(), c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let bodies: Vec<(String, Duration)> =
            messages.iter().map(|(m, d)| (m.to_body(), *d)).collect();
        let bodies = &bodies;
        let results: Vec<Vec<usize>> = stream::iter(calls)
            .map(|(url, idx)| async move { send_batch(&self.client, &url, bodies, idx).await })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let unsent = results.into_iter().flatten();
        failed.extend(unsent);
        failed.sort_unstable();
        failed
    }
}

/// Every body (with its delay) to the queue `url`, ten a call, several calls at once, failed
/// entries retried. Returns the indexes of the bodies not sent.
pub(super) async fn send_all(
    client: &Client,
    url: &str,
    bodies: &[(String, Duration)],
) -> Vec<usize> {
    let calls: Vec<Vec<usize>> = (0..bodies.len())
        .collect::<Vec<_>>()
        .chunks(BATCH_ENTRIES)
        .map(<[usize]>::to_vec)
        .collect();
    let results: Vec<Vec<usize>> = stream::iter(calls)
        .map(|idx| send_batch(client, url, bodies, idx))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut failed: Vec<usize> = results.into_iter().flatten().collect();
    failed.sort_unstable();
    failed
}

/// Sends the entries `idx` of `bodies` to `url`, retrying the failed ones (with backoff)
/// unless SQS says the entry itself is at fault. Returns the ones not sent.
async fn send_batch(
    client: &Client,
    url: &str,
    bodies: &[(String, Duration)],
    mut idx: Vec<usize>,
) -> Vec<usize> {
    let mut given_up = Vec::new();
    let mut delay = Duration::from_millis(100);
    for attempt in 0..ATTEMPTS {
        if idx.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        // Entry ids are the message's index: unique within the call, as SQS requires.
        let entries: Vec<SendMessageBatchRequestEntry> = idx
            .iter()
            .filter_map(|&i| {
                let (body, d) = &bodies[i];
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .delay_seconds(d.min(&MAX_DELAY).as_secs() as i32)
                    .build()
                    .ok()
            })
            .collect();
        match client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let mut retry = Vec::new();
                for f in out.failed() {
                    let Ok(i) = f.id().parse::<usize>() else {
                        continue;
                    };
                    if f.sender_fault() {
                        warn!(code = f.code(), "SQS refused a batch entry");
                        given_up.push(i);
                    } else {
                        retry.push(i);
                    }
                }
                idx = retry;
            }
            Err(e) => {
                warn!(error = %DisplayErrorContext(&e), attempt, "SendMessageBatch failed; retrying");
            }
        }
    }
    given_up.extend(idx);
    given_up
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::{
        operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput},
        types::{BatchResultErrorEntry, SendMessageBatchResultEntry},
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock};

    use super::*;
    use crate::domain::{Channel, NotificationId, Priority, TenantId};

    fn queue(rules: &[&Rule]) -> SqsQueue {
        let config = crate::test_support::mocked_config!(aws_sdk_sqs, RuleMode::Sequential, rules);
        let mut urls = QueueUrls::default();
        urls.insert(Channel::Email, Priority::Normal, "https://sqs/email-normal");
        SqsQueue::new(Client::from_conf(config), urls)
    }

    fn messages(n: usize) -> Vec<(QueueMessage, Duration)> {
        (0..n)
            .map(|_| {
                let m = QueueMessage::new(
                    NotificationId::generate(),
                    TenantId::new("t"),
                    Channel::Email,
                    Priority::Normal,
                );
                (m, Duration::ZERO)
            })
            .collect()
    }

    fn ids(r: &SendMessageBatchInput) -> Vec<String> {
        r.entries().iter().map(|e| e.id().to_owned()).collect()
    }

    fn ok(id: &str) -> SendMessageBatchResultEntry {
        SendMessageBatchResultEntry::builder()
            .id(id)
            .message_id(format!("m-{id}"))
            .md5_of_message_body("x")
            .build()
            .unwrap()
    }

    fn failed(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .code(if sender_fault {
                "InvalidParameterValue"
            } else {
                "InternalError"
            })
            .sender_fault(sender_fault)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn entries_sqs_failed_on_its_side_are_sent_again_and_bad_entries_given_up() {
        let first = mock!(Client::send_message_batch)
            .match_requests(|r| ids(r) == ["0", "1", "2"])
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .successful(ok("0"))
                    .failed(failed("1", false))
                    .failed(failed("2", true))
                    .build()
                    .unwrap()
            });
        let retry = mock!(Client::send_message_batch)
            .match_requests(|r| ids(r) == ["1"])
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .successful(ok("1"))
                    .set_failed(Some(vec![]))
                    .build()
                    .unwrap()
            });
        let failed = queue(&[&first, &retry]).enqueue_many(&messages(3)).await;
        assert_eq!(failed, [2], "only the entry SQS called bad");
        assert_eq!((first.num_calls(), retry.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_message_without_a_configured_queue_is_reported_not_sent() {
        let mut all = messages(1);
        all[0].0.priority = Priority::High;
        let failed = queue(&[]).enqueue_many(&all).await;
        assert_eq!(failed, [0]);
    }
}
