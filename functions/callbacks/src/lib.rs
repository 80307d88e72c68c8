//! The callbacks function: POSTs each status callback of the callbacks queue to its URL,
//! signed by Standard Webhooks with the tenant's signing secret (read at send time, never
//! queued), through the same sender and network guard as the webhook channel.
//!
//! - A 2xx is done. A callback that needed more than one attempt (or was redriven) is
//!   recorded `delivered`.
//! - 408, 429, 5xx, a timeout or a network error is retried after an exponential backoff with
//!   jitter, or the receiver's `Retry-After` when that is longer (never sooner than asked,
//!   never so soon that the queue's receives run out first), for as long as the retry window
//!   (`NOTIFY_CALLBACK_RETRY_HOURS`) since the callback was queued; each retry is recorded
//!   `retrying`, with its next attempt.
//! - Any other answer (a 4xx, a redirect, a refused address, no signing secret), or the window
//!   running out, is recorded `failed` and the message goes to the dead-letter queue, from
//!   where a redrive (SQS's own, to the callbacks queue) queues it again.
//!
//! Nothing here touches the notification: a callback never delays or changes it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use notify_shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, StoreSettings},
    domain::{
        callback::{CallbackDelivery, CallbackDeliveryStatus},
        time::Timestamp,
    },
    metrics::Metrics,
    provider::{ErrorKind, ProviderError, WebhookSender, WebhookSettings, url_policy},
    queue::{
        CallbackMessage, MessageBody, MessageHandler, MessageSink, Redelivery, SqsConsumer,
        SqsRedelivery, SqsSink, Verdict, backoff, receive_count,
    },
    store::{CallbackDeliveries, DynamoStore, WebhookEndpoints},
    webhook::{Lookup, SystemLookup},
};
use tracing::{Instrument, info, warn};

#[derive(Debug, Clone)]
pub struct CallbacksConfig {
    pub store: StoreSettings,
    /// The request's time limit and the network guard's policy (the webhook channel's).
    pub webhook: WebhookSettings,
    /// How long after it was queued a callback is retried (`NOTIFY_CALLBACK_RETRY_HOURS`).
    pub retry_window: Duration,
    /// The first retry waits about this long, each later one twice as long up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Where a callback given up goes (`NOTIFY_CALLBACKS_DLQ_URL`).
    pub dead_letter_url: String,
}

impl CallbacksConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            webhook: WebhookSettings {
                timeout: env.seconds("NOTIFY_CALLBACK_TIMEOUT_SECONDS", 10, 1..=30)?,
                policy: url_policy(env)?,
            },
            // The queue keeps a message two days; a day of retries fits SQS's 50 receives.
            retry_window: Duration::from_secs(
                env.number("NOTIFY_CALLBACK_RETRY_HOURS", 24u64, 1..=24)? * 3600,
            ),
            retry_base: env.seconds("NOTIFY_CALLBACK_RETRY_BASE_SECONDS", 30, 1..=3600)?,
            retry_max: env.seconds("NOTIFY_CALLBACK_RETRY_MAX_SECONDS", 3600, 1..=43_200)?,
            dead_letter_url: env.required("NOTIFY_CALLBACKS_DLQ_URL")?.to_owned(),
        })
    }
}

/// Callbacks POSTed at once within a batch: each waits mostly on its receiver.
const CONCURRENCY: usize = 10;

/// The ports the function works through.
pub struct CallbackPorts {
    pub secrets: Arc<dyn WebhookEndpoints>,
    pub deliveries: Arc<dyn CallbackDeliveries>,
    pub dead_letters: Arc<dyn MessageSink>,
    pub redelivery: Arc<dyn Redelivery>,
    pub clock: Arc<dyn Clock>,
}

pub struct Callbacks {
    sender: WebhookSender,
    ports: CallbackPorts,
    consumer: SqsConsumer,
    retry_window: Duration,
    retry_base: Duration,
    retry_max: Duration,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retried,
    Failed,
    Unreadable,
}

impl Callbacks {
    pub fn new(
        config: &CallbacksConfig,
        lookup: Arc<dyn Lookup>,
        ports: CallbackPorts,
    ) -> Result<Self, ConfigError> {
        let sender = WebhookSender::new(&config.webhook, lookup)
            .map_err(|e| Env::malformed("NOTIFY_CALLBACK_TIMEOUT_SECONDS", e))?;
        Ok(Self {
            sender,
            consumer: SqsConsumer::new(
                ports.redelivery.clone(),
                CONCURRENCY,
                config.retry_base,
                config.retry_max,
            ),
            ports,
            retry_window: config.retry_window,
            retry_base: config.retry_base,
            retry_max: config.retry_max,
        })
    }

    /// The production wiring: the table for secrets and records, SQS for the retries' delays
    /// and the dead-letter queue, the system resolver behind the network guard.
    pub fn on_aws(
        sdk: &aws_config::SdkConfig,
        config: CallbacksConfig,
    ) -> Result<Self, ConfigError> {
        Self::on_aws_with_lookup(sdk, config, Arc::new(SystemLookup))
    }

    /// [`Self::on_aws`] with another DNS lookup (tests answer names without any network).
    pub fn on_aws_with_lookup(
        sdk: &aws_config::SdkConfig,
        config: CallbacksConfig,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, ConfigError> {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table.clone()));
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let ports = CallbackPorts {
            secrets: store.clone(),
            deliveries: store,
            dead_letters: Arc::new(SqsSink::new(sqs.clone(), config.dead_letter_url.clone())),
            redelivery: Arc::new(SqsRedelivery::new(sqs)),
            clock: Arc::new(SystemClock),
        };
        Self::new(&config, lookup, ports)
    }

    /// Sends one SQS batch of callbacks and reports the ones to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes = std::sync::Mutex::new(Vec::new());
        let batch = Batch {
            callbacks: self,
            outcomes: &outcomes,
        };
        let response = self.consumer.consume(event, &batch).await;
        let outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
        let count = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count();
        Metrics::new()
            .dimension("Function", "callbacks")
            .count("Delivered", count(Outcome::Delivered))
            .count("Retried", count(Outcome::Retried))
            .count("Failed", count(Outcome::Failed))
            .count("Unreadable", count(Outcome::Unreadable))
            .emit();
        response
    }

    async fn one(&self, message: &SqsMessage) -> (Verdict, Option<Outcome>) {
        let body = message.body.as_deref().unwrap_or_default();
        let callback = match CallbackMessage::from_body(body) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "unreadable callback message: dead-lettered");
                return (self.dead_letter(body).await, Some(Outcome::Unreadable));
            }
        };
        let receives = receive_count(message);
        let now = self.ports.clock.now();
        let queued_at = sent_at(message).unwrap_or(now);
        let span = tracing::info_span!(
            "callback",
            tenant = %callback.tenant,
            notification_id = %callback.notification_id,
            webhook_id = %callback.webhook_id,
            url = %callback.url.masked(),
            attempt = receives,
        );
        self.attempt(&callback, receives, queued_at, now)
            .instrument(span)
            .await
    }

    async fn attempt(
        &self,
        callback: &CallbackMessage,
        receives: u32,
        queued_at: Timestamp,
        now: Timestamp,
    ) -> (Verdict, Option<Outcome>) {
        let secrets = match self.ports.secrets.signing_secrets(&callback.tenant).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                let e = ProviderError::permanent(
                    "signing_secret_missing",
                    "the tenant has no webhook signing secret (POST /v1/webhooks/signing-secret)",
                );
                return self.give_up(callback, receives, queued_at, now, &e).await;
            }
            Err(e) => {
                warn!(error = %e, "the signing secret could not be read: retrying");
                return (Verdict::Retry { after: None }, None);
            }
        };
        let sent = self
            .sender
            .post(
                &callback.url,
                &callback.webhook_id,
                &callback.body,
                &secrets,
                &BTreeMap::new(),
                now,
            )
            .await;
        match sent {
            Ok(response) => {
                info!(status = response.status, "callback delivered");
                // A first attempt that succeeds leaves no record (most never need one).
                if receives > 1 || callback.recorded {
                    let mut d = delivery(callback, receives, queued_at, now);
                    d.status = CallbackDeliveryStatus::Delivered;
                    d.response = Some(response);
                    self.record(&d).await;
                }
                (Verdict::Done, Some(Outcome::Delivered))
            }
            Err(e) => {
                let retry_after = match e.kind {
                    ErrorKind::Transient { retry_after } => {
                        let backoff = backoff(receives, self.retry_base, self.retry_max);
                        Some(retry_after.map_or(backoff, |asked| asked.max(backoff)))
                    }
                    // The webhook sender never paces; retried as asked if it ever does.
                    ErrorKind::Paced { after } => Some(after),
                    ErrorKind::Permanent | ErrorKind::TargetGone | ErrorKind::OptedOut => None,
                };
                let deadline = queued_at.plus(self.retry_window);
                match retry_after {
                    Some(delay) if now.plus(delay) < deadline => {
                        info!(error = %e, delay_s = delay.as_secs(), "callback not delivered: retrying");
                        let mut d = delivery(callback, receives, queued_at, now);
                        d.next_attempt_at = Some(now.plus(delay));
                        d.error = Some(e.to_failure());
                        self.record(&d).await;
                        (
                            Verdict::Retry { after: Some(delay) },
                            Some(Outcome::Retried),
                        )
                    }
                    _ => self.give_up(callback, receives, queued_at, now, &e).await,
                }
            }
        }
    }

    /// Records the callback `failed` and moves it to the dead-letter queue; if either cannot
    /// be done now, the message is kept for another receive.
    async fn give_up(
        &self,
        callback: &CallbackMessage,
        receives: u32,
        queued_at: Timestamp,
        now: Timestamp,
        error: &ProviderError,
    ) -> (Verdict, Option<Outcome>) {
        warn!(error = %error, "callback failed: dead-lettered");
        let mut d = delivery(callback, receives, queued_at, now);
        d.status = CallbackDeliveryStatus::Failed;
        d.error = Some(error.to_failure());
        if !self.record(&d).await {
            return (Verdict::Retry { after: None }, None);
        }
        let parked = CallbackMessage {
            recorded: true,
            ..callback.clone()
        };
        (
            self.dead_letter(&parked.to_body()).await,
            Some(Outcome::Failed),
        )
    }

    async fn dead_letter(&self, body: &str) -> Verdict {
        match self.ports.dead_letters.send(&[body.to_owned()]).await {
            Ok(()) => Verdict::Done,
            Err(e) => {
                warn!(error = %e, "the dead-letter queue refused the callback: kept on the queue");
                Verdict::Retry { after: None }
            }
        }
    }

    /// True if the record was written.
    async fn record(&self, d: &CallbackDelivery) -> bool {
        match self.ports.deliveries.record_delivery(d).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, "the callback's record could not be written");
                false
            }
        }
    }
}

/// A callback's record after `receives` attempts, `retrying` until told otherwise.
fn delivery(
    c: &CallbackMessage,
    receives: u32,
    queued_at: Timestamp,
    now: Timestamp,
) -> CallbackDelivery {
    CallbackDelivery {
        tenant: c.tenant.clone(),
        webhook_id: c.webhook_id.clone(),
        notification_id: c.notification_id.clone(),
        event: c.event,
        url: c.url.clone(),
        status: CallbackDeliveryStatus::Retrying,
        attempts: receives,
        created_at: queued_at,
        last_attempt_at: now,
        next_attempt_at: None,
        response: None,
        error: None,
    }
}

/// When SQS first got the message (`SentTimestamp`, epoch milliseconds).
fn sent_at(message: &SqsMessage) -> Option<Timestamp> {
    let ms = message.attributes.get("SentTimestamp")?.parse().ok()?;
    Timestamp::from_millis(ms)
}

struct Batch<'a> {
    callbacks: &'a Callbacks,
    outcomes: &'a std::sync::Mutex<Vec<Outcome>>,
}

#[async_trait]
impl MessageHandler for Batch<'_> {
    async fn handle(&self, message: &SqsMessage) -> Verdict {
        let (verdict, outcome) = self.callbacks.one(message).await;
        if let Some(o) = outcome {
            self.outcomes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(o);
        }
        verdict
    }
}

#[cfg(test)]
mod tests;
