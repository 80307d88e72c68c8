use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::{Client, error::DisplayErrorContext};

use super::{NotificationQueue, QueueError, QueueMessage};
use crate::config::QueueUrls;

/// SQS: <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

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
}
