//! The SMS worker: the shared delivery loop with Amazon SNS as its provider.

use std::sync::Arc;

use notify_shared::{
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::{DeliveryWorker, Suppressing},
    provider::{SmsSettings, SnsSmsProvider},
    store::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct SmsWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub sms: SmsSettings,
}

impl SmsWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            sms: SmsSettings::from_env(env)?,
        })
    }
}

/// The production wiring: DynamoDB for records and the suppression list, SNS for sending.
pub fn worker(sdk: &aws_config::SdkConfig, config: SmsWorkerConfig) -> DeliveryWorker {
    let store = DynamoStore::from_sdk(sdk, config.store.table);
    let provider = SnsSmsProvider::new(aws_sdk_sns::Client::new(sdk), config.sms);
    // The tenant's suppression list is read before each send: a listed address costs no call.
    let store = Arc::new(store);
    let provider = Suppressing::new(Arc::new(provider), Some(store.clone()), Some(store.clone()));
    DeliveryWorker::on_aws(sdk, store, Arc::new(provider), config.delivery)
}
