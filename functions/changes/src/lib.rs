//! The changes function: reads the table's stream (DynamoDB Streams, new and old images) and
//! keeps the stats counters from the status changes in it, one transaction per batch; and
//! queues the status callbacks of the events in it, one message per event and URL; and takes
//! inbox items that left the table (expired, purged) out of their user's counters.
//!
//! A batch either succeeds whole or fails whole: on an error Lambda hands the same batch
//! again (the stream keeps its order). The stats transaction's token, derived from the
//! batch's first and last sequence numbers, makes DynamoDB apply the retried counts only once;
//! a callback queued twice keeps its `webhook-id`, so its receiver drops the repeat.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lambda_events::event::dynamodb::Event;
use notify_shared::{
    config::{ConfigError, Env, StoreSettings},
    domain::{TenantId, callback::Subscriptions},
    metrics::Metrics,
    queue::{CallbackMessage, MessageBody, MessageSink, QueueError, SqsSink},
    routing::{self, Advanced},
    store::{
        CallbackSubscriptions, DynamoStore, InboxStore, NotificationEvent, NotificationStore,
        StatsStore, StoreError, additions, inbox_removal, notification_events, status_change,
    },
};
use tracing::info;

#[derive(Debug, Clone)]
pub struct ChangesConfig {
    pub store: StoreSettings,
    /// Where status callbacks are queued (`NOTIFY_CALLBACKS_QUEUE_URL`); none are without it.
    pub callbacks_queue_url: Option<String>,
}

impl ChangesConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            callbacks_queue_url: env
                .optional("NOTIFY_CALLBACKS_QUEUE_URL")
                .map(str::to_owned),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How long a tenant's subscriptions are used as read: a change to them applies within this.
pub const SUBSCRIPTIONS_CACHE: Duration = Duration::from_secs(30);

/// A tenant's subscriptions (none: it has none), and when they were read.
type Cached = (Instant, Option<Arc<Subscriptions>>);

/// Turns a batch's events into callbacks queue messages.
pub struct Fanout {
    subscriptions: Arc<dyn CallbackSubscriptions>,
    queue: Arc<dyn MessageSink>,
    cache: Mutex<HashMap<TenantId, Cached>>,
}

impl Fanout {
    pub fn new(subscriptions: Arc<dyn CallbackSubscriptions>, queue: Arc<dyn MessageSink>) -> Self {
        Self {
            subscriptions,
            queue,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn subscriptions(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<Subscriptions>>, StoreError> {
        if let Some((at, subs)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            && at.elapsed() < SUBSCRIPTIONS_CACHE
        {
            return Ok(subs.clone());
        }
        let subs = self
            .subscriptions
            .subscriptions(tenant)
            .await?
            .map(Arc::new);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), (Instant::now(), subs.clone()));
        Ok(subs)
    }

    /// Queues the callbacks of `events`: to the notification's own `callbackUrl` if it has
    /// one, else to each of its tenant's subscribed URLs. Returns how many were queued.
    pub async fn queue(&self, events: &[NotificationEvent]) -> Result<usize, ChangesError> {
        let mut bodies = Vec::new();
        for e in events {
            let subs;
            let urls = match &e.callback_url {
                Some(url) => vec![url],
                None => {
                    subs = self.subscriptions(&e.tenant).await?;
                    subs.as_deref()
                        .map(|s| s.urls_for(e.event, e.channel))
                        .unwrap_or_default()
                }
            };
            for url in urls {
                let message = CallbackMessage {
                    v: CallbackMessage::VERSION,
                    tenant: e.tenant.clone(),
                    notification_id: e.id.clone(),
                    event: e.event,
                    url: url.clone(),
                    webhook_id: e.webhook_id.clone(),
                    body: e.body.clone(),
                    recorded: false,
                };
                bodies.push(message.to_body());
            }
        }
        if !bodies.is_empty() {
            self.queue.send(&bodies).await?;
        }
        Ok(bodies.len())
    }
}

pub struct Changes {
    stats: Arc<dyn StatsStore>,
    callbacks: Option<Fanout>,
    /// Where routed sends' next steps are released or cancelled.
    routes: Arc<dyn NotificationStore>,
    /// Whose counters an inbox item that left the table comes out of.
    inbox: Option<Arc<dyn InboxStore>>,
}

impl Changes {
    pub fn new(
        stats: Arc<dyn StatsStore>,
        callbacks: Option<Fanout>,
        routes: Arc<dyn NotificationStore>,
    ) -> Self {
        Self {
            stats,
            callbacks,
            routes,
            inbox: None,
        }
    }

    /// Also keeps the inbox counters right when items leave the table.
    pub fn with_inbox(mut self, inbox: Arc<dyn InboxStore>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    pub fn on_aws(sdk: &aws_config::SdkConfig, config: ChangesConfig) -> Self {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
        let callbacks = config.callbacks_queue_url.map(|url| {
            let queue = SqsSink::new(aws_sdk_sqs::Client::new(sdk), url);
            Fanout::new(store.clone(), Arc::new(queue))
        });
        Self::new(store.clone(), callbacks, store.clone()).with_inbox(store)
    }

    /// Counts one stream batch and queues its callbacks. An error fails the batch, to be
    /// handed again.
    pub async fn handle(&self, event: &Event) -> Result<(), ChangesError> {
        // Callbacks first: if the counts then fail, the retried batch queues them again (the
        // receivers drop repeats), while counts applied first would be a client's loss if the
        // queue failed for good.
        let events: Vec<NotificationEvent> =
            event.records.iter().flat_map(notification_events).collect();
        let queued = match &self.callbacks {
            Some(fanout) if !events.is_empty() => fanout.queue(&events).await?,
            Some(_) | None => 0,
        };
        let changes: Vec<_> = event.records.iter().filter_map(status_change).collect();
        // Routes before the counts, for the same reason as the callbacks: a retried batch
        // advances them again, which changes nothing the second time.
        let mut advanced = Advanced::default();
        for change in &changes {
            if let Some(link) = &change.route {
                let a = routing::advance(
                    self.routes.as_ref(),
                    link,
                    change.from,
                    change.to,
                    change.at,
                )
                .await?;
                advanced.released += a.released;
                advanced.cancelled += a.cancelled;
            }
        }
        // Inbox items gone: out of the counters, once (the uncount's transaction token).
        let mut uncounted = 0;
        if let Some(inbox) = &self.inbox {
            for gone in event.records.iter().filter_map(inbox_removal) {
                inbox
                    .uncount(&gone.tenant, &gone.user, &gone.id, gone.counts)
                    .await?;
                uncounted += 1;
            }
        }
        let additions = additions(&changes);
        if !additions.is_empty() {
            let first = event
                .records
                .first()
                .and_then(|r| r.change.sequence_number.clone())
                .unwrap_or_default();
            let last = event
                .records
                .last()
                .and_then(|r| r.change.sequence_number.clone())
                .unwrap_or_default();
            self.stats
                .add(&additions, &format!("{first}-{last}"))
                .await?;
        }
        info!(
            records = event.records.len(),
            changes = changes.len(),
            buckets = additions.len(),
            callbacks = queued,
            route_steps_released = advanced.released,
            route_steps_cancelled = advanced.cancelled,
            inbox_items_uncounted = uncounted,
            "stream batch counted"
        );
        Metrics::new()
            .dimension("Function", "changes")
            .count("Records", event.records.len())
            .count("StatusChanges", changes.len())
            .count("CallbacksQueued", queued)
            .emit();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
