//! The events function: reads what the providers report after sending (SES's delivery,
//! bounce, complaint, reject and delay events, through SNS and the events queue), records it
//! on each notification and keeps the tenants' suppression lists (see
//! [`notify_shared::receipts`] for the rules).
//!
//! Each message is one event. A report about a notification the worker has not recorded as
//! sent yet is retried with a backoff until the queue's receives run out (minutes); a body
//! that is not a report of ours is counted and dropped, so it never poisons the queue.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use notify_shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, StoreSettings},
    metrics::Metrics,
    queue::{MessageHandler, Redelivery, SqsConsumer, SqsRedelivery, Verdict},
    receipts::{self, Applied, ses},
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
}

impl EventsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            retry_base: env.seconds("NOTIFY_EVENTS_RETRY_BASE_SECONDS", 10, 1..=900)?,
            retry_max: env.seconds("NOTIFY_EVENTS_RETRY_MAX_SECONDS", 120, 1..=900)?,
        })
    }
}

/// Messages handled at once: each is a read and a write or two.
const CONCURRENCY: usize = 10;

pub struct Receipts {
    store: Arc<dyn NotificationStore>,
    list: Arc<dyn SuppressionList>,
    clock: Arc<dyn Clock>,
    consumer: SqsConsumer,
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
                redelivery,
                CONCURRENCY,
                config.retry_base,
                config.retry_max,
            ),
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

    async fn one(&self, body: &str, counts: &Counts) -> Verdict {
        let report = match ses::parse(body) {
            Ok(report) => report,
            Err(e @ (ses::Unreadable::Ignored(_) | ses::Unreadable::Untagged)) => {
                info!(reason = %e, "event dropped");
                counts.add("ignored");
                return Verdict::Done;
            }
            Err(e @ ses::Unreadable::Malformed(_)) => {
                warn!(error = %e, "unreadable event dropped");
                counts.add("unreadable");
                return Verdict::Done;
            }
        };
        let span = info_span!("report", notification_id = %report.notification, event = report.event.name());
        let applied = receipts::apply(&*self.store, &*self.list, &report, self.clock.now())
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match applied {
            Ok(Applied::NotYet) => {
                info!("the notification is not recorded as sent yet: retrying the event later");
                counts.add("not_yet");
                Verdict::Retry { after: None }
            }
            Ok(outcome) => {
                counts.add(outcome.name());
                Verdict::Done
            }
            Err(e) => {
                warn!(error = %e, "the store is unavailable: retrying the event");
                counts.add("store_error");
                Verdict::Retry { after: None }
            }
        }
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
        self.receipts.one(body, self.counts).await
    }
}

#[cfg(test)]
mod tests;
