//! The in-app worker: the shared delivery loop with the user's inbox and live WebSocket
//! connections as its targets (see `notify_shared::provider::InAppProvider`).

use std::sync::Arc;

use notify_shared::{
    clock::SystemClock,
    config::{ConfigError, DeliverySettings, Env, StoreSettings},
    delivery::{DeliveryWorker, Suppressing},
    provider::{ApiGatewayPoster, InAppProvider},
    store::DynamoStore,
};

/// The WebSocket API's management endpoint: `https://<api id>.execute-api.<region>.amazonaws.com/<stage>`
/// on AWS, the local stand-in's URL under `make dev`.
pub const WEBSOCKET_ENDPOINT_VAR: &str = "NOTIFY_WEBSOCKET_ENDPOINT";

#[derive(Debug, Clone)]
pub struct InAppWorkerConfig {
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub websocket_endpoint: String,
}

impl InAppWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let websocket_endpoint = env.required(WEBSOCKET_ENDPOINT_VAR)?.to_owned();
        if !websocket_endpoint.starts_with("https://") && !websocket_endpoint.starts_with("http://")
        {
            return Err(Env::malformed(
                WEBSOCKET_ENDPOINT_VAR,
                "must be the WebSocket API's https:// management endpoint",
            ));
        }
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            delivery: DeliverySettings::from_env(env)?,
            websocket_endpoint,
        })
    }
}

/// The production wiring: DynamoDB for records, inboxes and connections, API Gateway's
/// management API for the pushes; the user's preferences read again before each delivery.
pub fn worker(
    sdk: &aws_config::SdkConfig,
    config: InAppWorkerConfig,
) -> Result<DeliveryWorker, ConfigError> {
    let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
    let poster = ApiGatewayPoster::new(sdk, &config.websocket_endpoint);
    let provider = InAppProvider::new(
        store.clone(),
        store.clone(),
        Arc::new(poster),
        Arc::new(SystemClock),
    );
    let provider = Suppressing::new(Arc::new(provider), None, Some(store.clone()));
    Ok(DeliveryWorker::on_aws(
        sdk,
        store,
        Arc::new(provider),
        config.delivery,
    ))
}
