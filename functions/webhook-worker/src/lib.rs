//! The webhook worker: the shared delivery loop with signed HTTPS POSTs as its provider, the
//! endpoint registry resolving an endpoint's name to its URL, secrets and headers, and the
//! network guard checking every address after DNS.

use std::sync::Arc;

use notify_shared::{
    clock::SystemClock,
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::DeliveryWorker,
    provider::{WebhookProvider, WebhookSettings},
    store::DynamoStore,
    webhook::{Lookup, SystemLookup},
};

#[derive(Debug, Clone)]
pub struct WebhookWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub webhook: WebhookSettings,
}

impl WebhookWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            webhook: WebhookSettings::from_env(env)?,
        })
    }
}

/// The production wiring: DynamoDB for records and endpoints, the system resolver behind the
/// network guard.
pub fn worker(
    sdk: &aws_config::SdkConfig,
    config: WebhookWorkerConfig,
) -> Result<DeliveryWorker, ConfigError> {
    worker_with_lookup(sdk, config, Arc::new(SystemLookup))
}

/// [`worker`] with another DNS lookup (tests answer names without any network).
pub fn worker_with_lookup(
    sdk: &aws_config::SdkConfig,
    config: WebhookWorkerConfig,
    lookup: Arc<dyn Lookup>,
) -> Result<DeliveryWorker, ConfigError> {
    let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
    let provider = WebhookProvider::new(
        &config.webhook,
        lookup,
        store.clone(),
        Arc::new(SystemClock),
    )
    .map_err(|e| Env::malformed("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", e))?;
    Ok(DeliveryWorker::on_aws(
        sdk,
        store,
        Arc::new(provider),
        config.delivery,
    ))
}
