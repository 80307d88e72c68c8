//! Deep health checks: does the table answer, and how full is each queue and dead-letter
//! queue. Each check is the cheapest call that proves the dependency answers to this
//! function's role (`DescribeTable`, `GetQueueAttributes`).

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use futures::future::join_all;
use serde::Serialize;

use crate::{
    config::QueueUrls,
    domain::{Channel, Priority},
    queue::MemoryQueue,
    store::{DynamoStore, MemoryStore},
};

/// One queue's depth, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    pub channel: Channel,
    pub priority: Priority,
    /// Messages waiting (`ApproximateNumberOfMessages`), in flight and delayed.
    pub waiting: Option<u64>,
    pub in_flight: Option<u64>,
    pub delayed: Option<u64>,
    /// Messages in its dead-letter queue, when one is configured.
    pub dead_letters: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl QueueDepth {
    pub fn healthy(&self) -> bool {
        self.error.is_none()
    }
}

#[async_trait]
pub trait TableHealth: Send + Sync {
    /// Ok with the table's status (`ACTIVE`, ...), or why it cannot be read.
    async fn table_status(&self) -> Result<String, String>;
}

#[async_trait]
pub trait QueueHealth: Send + Sync {
    /// Every configured queue, by channel then priority.
    async fn depths(&self) -> Vec<QueueDepth>;
}

#[async_trait]
impl TableHealth for DynamoStore {
    async fn table_status(&self) -> Result<String, String> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        Ok(out
            .table
            .and_then(|t| t.table_status)
            .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()))
    }
}

#[async_trait]
impl TableHealth for MemoryStore {
    async fn table_status(&self) -> Result<String, String> {
        self.check_up()
            .map(|()| "ACTIVE".to_owned())
            .map_err(|e| e.to_string())
    }
}

/// The depths of SQS queues and their dead-letter queues.
pub struct SqsQueueHealth {
    client: aws_sdk_sqs::Client,
    queues: QueueUrls,
    dlqs: QueueUrls,
}

impl SqsQueueHealth {
    pub fn new(client: aws_sdk_sqs::Client, queues: QueueUrls, dlqs: QueueUrls) -> Self {
        Self {
            client,
            queues,
            dlqs,
        }
    }

    async fn counts(&self, url: &str) -> Result<[Option<u64>; 3], String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let attrs = out.attributes.unwrap_or_default();
        let n = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok());
        Ok([
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ])
    }

    async fn depth(&self, channel: Channel, priority: Priority, url: &str) -> QueueDepth {
        let mut depth = QueueDepth {
            channel,
            priority,
            waiting: None,
            in_flight: None,
            delayed: None,
            dead_letters: None,
            error: None,
        };
        match self.counts(url).await {
            Ok([waiting, in_flight, delayed]) => {
                (depth.waiting, depth.in_flight, depth.delayed) = (waiting, in_flight, delayed);
            }
            Err(e) => depth.error = Some(e),
        }
        if let Some(dlq) = self.dlqs.get(channel, priority) {
            match self.counts(dlq).await {
                Ok([waiting, ..]) => depth.dead_letters = waiting,
                Err(e) => depth.error = Some(format!("dead-letter queue: {e}")),
            }
        }
        depth
    }
}

#[async_trait]
impl QueueHealth for SqsQueueHealth {
    async fn depths(&self) -> Vec<QueueDepth> {
        let checks = Channel::ALL.into_iter().flat_map(|c| {
            Priority::ALL.into_iter().filter_map(move |p| {
                let url = self.queues.get(c, p)?;
                Some(self.depth(c, p, url))
            })
        });
        join_all(checks).await
    }
}

#[async_trait]
impl QueueHealth for MemoryQueue {
    async fn depths(&self) -> Vec<QueueDepth> {
        let messages = self.messages();
        let up = self.is_up();
        Channel::ALL
            .into_iter()
            .flat_map(|c| Priority::ALL.into_iter().map(move |p| (c, p)))
            .map(|(channel, priority)| QueueDepth {
                channel,
                priority,
                waiting: up.then(|| {
                    messages
                        .iter()
                        .filter(|(m, _)| m.channel == channel && m.priority == priority)
                        .count() as u64
                }),
                in_flight: up.then_some(0),
                delayed: up.then_some(0),
                dead_letters: up.then_some(0),
                error: (!up).then(|| "injected outage".to_owned()),
            })
            .collect()
    }
}
