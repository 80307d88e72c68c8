use std::time::Duration;

use notify_shared::{
    config::{ConfigError, DLQ_VARS, Env, QueueUrls, StoreSettings},
    domain::tenant::TenantLimits,
    provider::url_policy,
};

use crate::{AdminKeys, ApiKeys, CHANNELS, accept::request::DraftLimits, channel};

/// The API function's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub store: StoreSettings,
    pub queues: QueueUrls,
    /// The dead-letter queue of each queue, for redrives.
    pub dlqs: QueueUrls,
    pub keys: ApiKeys,
    pub admin_keys: AdminKeys,
    /// How long a device registration lasts without being renewed.
    pub device_idle: Duration,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// The same for batches (up to 10,000 recipients with their data).
    pub max_batch_body_bytes: usize,
    /// What the channels' validation depends on: the longest SMS, which webhook URLs pass.
    pub channel: channel::Limits,
    /// The limits of a tenant that has none of its own (a static key's, say).
    pub default_limits: TenantLimits,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// Requests a minute of one user's token (an app's), counted apart from its tenant's.
    pub user_requests_per_minute: u32,
}

impl ApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
            queues: QueueUrls::from_env(env, &CHANNELS)?,
            dlqs: QueueUrls::from_env_prefixed(env, DLQ_VARS, &CHANNELS)?,
            keys: ApiKeys::from_env(env)?,
            admin_keys: AdminKeys::from_env(env)?,
            device_idle: Duration::from_secs(
                86_400 * env.number("NOTIFY_DEVICE_MAX_IDLE_DAYS", 270u64, 1..=3650)?,
            ),
            // 6 MB is Lambda's limit for a synchronous request payload.
            max_body_bytes: env.number(
                "NOTIFY_MAX_BODY_BYTES",
                1024 * 1024,
                1024..=6 * 1000 * 1000,
            )?,
            // Lambda's limit for a synchronous request payload is 6 MB.
            max_batch_body_bytes: env.number(
                "NOTIFY_MAX_BATCH_BODY_BYTES",
                6 * 1000 * 1000,
                1024..=6 * 1000 * 1000,
            )?,
            channel: channel::Limits {
                // SNS refuses SMS text over 1600 characters.
                sms_max_chars: env.number("NOTIFY_SMS_MAX_CHARS", 1600, 1..=1600)?,
                url_policy: url_policy(env)?,
            },
            audit_retention: Duration::from_secs(
                86_400 * env.number("NOTIFY_AUDIT_RETENTION_DAYS", 365u64, 1..=3650)?,
            ),
            user_requests_per_minute: env.number(
                "NOTIFY_USER_REQUESTS_PER_MINUTE",
                120,
                1..=1_000_000,
            )?,
            default_limits: TenantLimits {
                requests_per_minute: env.number(
                    "NOTIFY_REQUESTS_PER_MINUTE",
                    TenantLimits::default().requests_per_minute,
                    1..=1_000_000,
                )?,
                daily_quota_per_channel: env.number(
                    "NOTIFY_DAILY_QUOTA_PER_CHANNEL",
                    TenantLimits::default().daily_quota_per_channel,
                    1..=100_000_000,
                )?,
            },
        })
    }

    pub fn draft_limits(&self, now: notify_shared::domain::time::Timestamp) -> DraftLimits {
        DraftLimits {
            channel: self.channel,
            now,
        }
    }
}
