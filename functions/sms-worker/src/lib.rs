//! The SMS worker: the shared delivery loop with Amazon SNS as its provider.

use std::sync::Arc;

use notify_shared::{
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::DeliveryWorker,
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

/// The production wiring: DynamoDB for records, SNS for sending.
pub fn worker(sdk: &aws_config::SdkConfig, config: SmsWorkerConfig) -> DeliveryWorker {
    let store = DynamoStore::from_sdk(sdk, config.store.table);
    let provider = SnsSmsProvider::new(aws_sdk_sns::Client::new(sdk), config.sms);
    DeliveryWorker::on_aws(sdk, Arc::new(store), Arc::new(provider), config.delivery)
}
