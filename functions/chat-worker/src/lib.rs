//! The chat worker: the shared delivery loop with Slack and Teams as its provider, the chat
//! targets resolving a target's name to its address and credentials, and the network guard
//! checking every address after DNS (as for webhooks).

use std::sync::Arc;

use notify_shared::{
    clock::SystemClock,
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::DeliveryWorker,
    provider::{ChatProvider, ChatSettings},
    store::DynamoStore,
    webhook::{Lookup, SystemLookup},
};

#[derive(Debug, Clone)]
pub struct ChatWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub chat: ChatSettings,
}

impl ChatWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            chat: ChatSettings::from_env(env)?,
        })
    }
}

/// The production wiring: DynamoDB for records, targets and send slots, the system resolver
/// behind the network guard.
pub fn worker(
    sdk: &aws_config::SdkConfig,
    config: ChatWorkerConfig,
) -> Result<DeliveryWorker, ConfigError> {
    worker_with_lookup(sdk, config, Arc::new(SystemLookup))
}

/// [`worker`] with another DNS lookup (tests answer names without any network).
pub fn worker_with_lookup(
    sdk: &aws_config::SdkConfig,
    config: ChatWorkerConfig,
    lookup: Arc<dyn Lookup>,
) -> Result<DeliveryWorker, ConfigError> {
    let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
    let provider = ChatProvider::new(&config.chat, lookup, store.clone(), Arc::new(SystemClock))
        .map_err(|e| Env::malformed("NOTIFY_SLACK_API_URL", e))?;
    Ok(DeliveryWorker::on_aws(
        sdk,
        store,
        Arc::new(provider),
        config.delivery,
    ))
}
