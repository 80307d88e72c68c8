//! The events function: reads what the providers report after sending (SES's delivery,
//! bounce, complaint, reject and delay events, through SNS and the events queue), records it
//! on each notification and keeps the tenants' suppression lists (see
//! [`notify_shared::receipts`] for the rules).
//!
//! SMS delivery statuses come from SNS's delivery status logs through a CloudWatch Logs
//! subscription ([`Receipts::handle_logs`]) and are found by SNS's message id.
//!
//! Each message is one event. A report about a notification the worker has not recorded as
//! sent yet is retried with a backoff until the queue's receives run out (minutes); a body
//! that is not a report of ours is counted and dropped, so it never poisons the queue.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::event::{
    cloudwatch_logs::LogsEvent,
    sqs::{SqsBatchResponse, SqsEvent, SqsMessage},
};
use notify_shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, StoreSettings},
    metrics::Metrics,
    queue::{MessageHandler, Redelivery, SqsConsumer, SqsRedelivery, Verdict},
    receipts::{self, Applied, Unreadable},
    store::{DynamoStore, NotificationStore, SuppressionList},
};
use tracing::{Instrument, info, info_span, warn};

#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub store: StoreSettings,
    /// The first retry of a report that came before its notification's `sent` waits about
    /// this long; each later one twice as long, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// The events queue, for SMS statuses that arrive (from CloudWatch Logs) before their
    /// notification's `sent`.
    pub events_queue_arn: Option<String>,
}

impl EventsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            retry_base: env.seconds("NOTIFY_EVENTS_RETRY_BASE_SECONDS", 10, 1..=900)?,
            retry_max: env.seconds("NOTIFY_EVENTS_RETRY_MAX_SECONDS", 120, 1..=900)?,
            events_queue_arn: env.optional("NOTIFY_EVENTS_QUEUE_ARN").map(str::to_owned),
        })
    }
}

/// A CloudWatch Logs invocation payload, read as Lambda hands it over. (From text: the
/// event's deserialiser borrows its strings, which a `serde_json::Value` cannot lend.)
pub fn logs_event(payload: &serde_json::Value) -> Result<LogsEvent, serde_json::Error> {
    serde_json::from_str(&payload.to_string())
}

/// Messages handled at once: each is a read and a write or two.
const CONCURRENCY: usize = 10;

pub struct Receipts {
    store: Arc<dyn NotificationStore>,
    list: Arc<dyn SuppressionList>,
    clock: Arc<dyn Clock>,
    consumer: SqsConsumer,
    redelivery: Arc<dyn Redelivery>,
    /// Where an SMS status that must wait is put (it came from CloudWatch Logs, not a queue).
    events_queue_arn: Option<String>,
    retry_base: Duration,
}

/// What became of a batch's messages, for the metrics.
#[derive(Default)]
struct Counts {
    by_outcome: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>,
}

impl Counts {
    fn add(&self, outcome: &'static str) {
        let mut map = self
            .by_outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(outcome).or_default() += 1;
    }

    fn metrics(&self) -> Metrics {
        let map = self
            .by_outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        [
            ("Recorded", "recorded"),
            ("Duplicate", "duplicate"),
            ("NotYet", "not_yet"),
            ("Foreign", "foreign"),
            ("Ignored", "ignored"),
            ("Unreadable", "unreadable"),
            ("StoreErrors", "store_error"),
        ]
        .into_iter()
        .fold(
            Metrics::new().dimension("Function", "events"),
            |m, (name, key)| m.count(name, map.get(key).copied().unwrap_or_default()),
        )
    }
}

impl Receipts {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        list: Arc<dyn SuppressionList>,
        redelivery: Arc<dyn Redelivery>,
        clock: Arc<dyn Clock>,
        config: &EventsConfig,
    ) -> Self {
        Self {
            store,
            list,
            clock,
            consumer: SqsConsumer::new(
                redelivery.clone(),
                CONCURRENCY,
                config.retry_base,
                config.retry_max,
            ),
            redelivery,
            events_queue_arn: config.events_queue_arn.clone(),
            retry_base: config.retry_base,
        }
    }

    /// The production wiring: the table for records and the suppression list, SQS for the
    /// retries' visibility changes.
    pub fn on_aws(sdk: &aws_config::SdkConfig, config: EventsConfig) -> Self {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table.clone()));
        let redelivery = SqsRedelivery::new(aws_sdk_sqs::Client::new(sdk));
        Self::new(
            store.clone(),
            store,
            Arc::new(redelivery),
            Arc::new(SystemClock),
            &config,
        )
    }

    /// Handles one SQS batch of events and reports the ones to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let counts = Counts::default();
        let batch = Batch {
            receipts: self,
            counts: &counts,
        };
        let response = self.consumer.consume(event, &batch).await;
        counts.metrics().emit();
        response
    }

    /// Reads and applies one event; true when it must be tried again later.
    async fn one(&self, body: &str, counts: &Counts) -> bool {
        let reading = match receipts::read(body) {
            Ok(reading) => reading,
            Err(e @ (Unreadable::Ignored(_) | Unreadable::Untagged)) => {
                info!(reason = %e, "event dropped");
                counts.add("ignored");
                return false;
            }
            Err(e @ Unreadable::Malformed(_)) => {
                warn!(error = %e, "unreadable event dropped");
                counts.add("unreadable");
                return false;
            }
        };
        let span = info_span!("report", subject = %reading.subject());
        let applied =
            receipts::apply_reading(&*self.store, &*self.list, &reading, self.clock.now())
                .instrument(span.clone())
                .await;
        let _entered = span.enter();
        match applied {
            Ok(Applied::NotYet) => {
                info!("the notification is not recorded as sent yet: retrying the event later");
                counts.add("not_yet");
                true
            }
            Ok(outcome) => {
                counts.add(outcome.name());
                false
            }
            Err(e) => {
                warn!(error = %e, "the store is unavailable: retrying the event");
                counts.add("store_error");
                true
            }
        }
    }

    /// Handles SNS's SMS delivery status records, from a CloudWatch Logs subscription. A
    /// record that must wait goes onto the events queue, to be retried from there like any
    /// other; an error (the queue unreachable) makes Lambda invoke again with the whole batch,
    /// which is safe: what was recorded is not recorded twice.
    pub async fn handle_logs(&self, logs: LogsEvent) -> Result<(), String> {
        let counts = Counts::default();
        let mut result = Ok(());
        for event in &logs.aws_logs.data.log_events {
            if self.one(&event.message, &counts).await {
                let queued = match &self.events_queue_arn {
                    Some(arn) => self
                        .redelivery
                        .requeue(arn, &event.message, self.retry_base)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("NOTIFY_EVENTS_QUEUE_ARN is not set".to_owned()),
                };
                if let Err(e) = queued {
                    warn!(error = %e, "could not queue an SMS status for a retry");
                    result = Err(e);
                }
            }
        }
        counts.metrics().emit();
        result
    }
}

struct Batch<'a> {
    receipts: &'a Receipts,
    counts: &'a Counts,
}

#[async_trait]
impl MessageHandler for Batch<'_> {
    async fn handle(&self, message: &SqsMessage) -> Verdict {
        let body = message.body.as_deref().unwrap_or_default();
        match self.receipts.one(body, self.counts).await {
            true => Verdict::Retry { after: None },
            false => Verdict::Done,
        }
    }
}

#[cfg(test)]
mod tests;
