//! The changes function: reads the table's stream (DynamoDB Streams, new and old images) and
//! keeps the stats counters from the status changes in it, one transaction per batch.
//!
//! A batch either counts whole or fails whole: on an error Lambda hands the same batch again
//! (the stream keeps its order), and the transaction's token, derived from the batch's first
//! and last sequence numbers, makes DynamoDB apply the retried counts only once.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use notify_shared::{
    config::{ConfigError, Env, StoreSettings},
    metrics::Metrics,
    store::{DynamoStore, StatsStore, StoreError, additions, status_change},
};
use tracing::info;

#[derive(Debug, Clone)]
pub struct ChangesConfig {
    pub store: StoreSettings,
}

impl ChangesConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
        })
    }
}

pub struct Changes {
    stats: Arc<dyn StatsStore>,
}

impl Changes {
    pub fn new(stats: Arc<dyn StatsStore>) -> Self {
        Self { stats }
    }

    pub fn on_aws(sdk: &aws_config::SdkConfig, config: ChangesConfig) -> Self {
        Self::new(Arc::new(DynamoStore::from_sdk(sdk, config.store.table)))
    }

    /// Counts one stream batch. An error fails the batch, to be handed again.
    pub async fn handle(&self, event: &Event) -> Result<(), StoreError> {
        let changes: Vec<_> = event.records.iter().filter_map(status_change).collect();
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
            "stream batch counted"
        );
        Metrics::new()
            .dimension("Function", "changes")
            .count("Records", event.records.len())
            .count("StatusChanges", changes.len())
            .emit();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
