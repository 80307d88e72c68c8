//! The email worker: the shared delivery loop with Amazon SES v2 as its provider.

use std::sync::Arc;

use notify_shared::{
    config::{ConfigError, DeliverySettings, EmailSettings, Env, StoreSettings},
    delivery::{DeliveryWorker, Suppressing},
    provider::SesEmailProvider,
    store::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct EmailWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub email: EmailSettings,
}

impl EmailWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            email: EmailSettings::from_env(env)?,
        })
    }
}

/// The production wiring: DynamoDB for records and the suppression list, SES for sending.
pub fn worker(sdk: &aws_config::SdkConfig, config: EmailWorkerConfig) -> DeliveryWorker {
    let store = DynamoStore::from_sdk(sdk, config.store.table);
    let provider = SesEmailProvider::new(aws_sdk_sesv2::Client::new(sdk), config.email);
    // The tenant's suppression list is read before each send: a listed address costs no call.
    let store = Arc::new(store);
    let provider = Suppressing::new(Arc::new(provider), Some(store.clone()), Some(store.clone()));
    DeliveryWorker::on_aws(sdk, store, Arc::new(provider), config.delivery)
}
