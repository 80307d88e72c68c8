use notify_shared::config::{ConfigError, Env, QueueUrls, StoreSettings};

use crate::{ApiKeys, CHANNELS};

/// The API function's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub store: StoreSettings,
    pub queues: QueueUrls,
    pub keys: ApiKeys,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
}

impl ApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            queues: QueueUrls::from_env(env, &CHANNELS)?,
            keys: ApiKeys::from_env(env)?,
            // 6 MB is Lambda's limit for a synchronous request payload.
            max_body_bytes: env.number(
                "NOTIFY_MAX_BODY_BYTES",
                1024 * 1024,
                1024..=6 * 1000 * 1000,
            )?,
        })
    }
}
