use notify_shared::config::{ConfigError, Env, QueueUrls, StoreSettings};

use crate::{ApiKeys, CHANNELS, draft::DraftLimits};

/// The API function's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub store: StoreSettings,
    pub queues: QueueUrls,
    pub keys: ApiKeys,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// The longest SMS text accepted, in characters.
    pub sms_max_chars: usize,
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
            // SNS refuses SMS text over 1600 characters.
            sms_max_chars: env.number("NOTIFY_SMS_MAX_CHARS", 1600, 1..=1600)?,
        })
    }

    pub fn draft_limits(&self) -> DraftLimits {
        DraftLimits {
            sms_max_chars: self.sms_max_chars,
        }
    }
}
