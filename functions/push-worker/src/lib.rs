//! The push worker: the shared delivery loop with FCM as its provider and the device registry
//! resolving a user to their devices.

use std::sync::Arc;

use notify_shared::{
    clock::SystemClock,
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::{DeliveryWorker, Suppressing},
    provider::{FcmConfig, FcmPushProvider, FcmSettings},
    store::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct PushWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub fcm: FcmConfig,
}

impl PushWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            fcm: FcmConfig::from_env(env)?,
        })
    }
}

/// The production wiring: DynamoDB for records and devices, FCM for sending. Reads the
/// service-account key (file or Secrets Manager) once, here at cold start.
pub async fn worker(
    sdk: &aws_config::SdkConfig,
    config: PushWorkerConfig,
) -> Result<DeliveryWorker, ConfigError> {
    let account = config
        .fcm
        .load_account(&aws_sdk_secretsmanager::Client::new(sdk))
        .await?;
    let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
    let provider = FcmPushProvider::new(
        FcmSettings::new(&config.fcm, account),
        store.clone(),
        Arc::new(SystemClock),
    )
    .map_err(|e| Env::malformed(config.fcm.credentials.var(), e))?;
    // The user's preferences are read again before the push goes (no suppression list:
    // a device token is not an address a bounce lists).
    let provider = Suppressing::new(Arc::new(provider), None, Some(store.clone()));
    Ok(DeliveryWorker::on_aws(
        sdk,
        store,
        Arc::new(provider),
        config.delivery,
    ))
}
