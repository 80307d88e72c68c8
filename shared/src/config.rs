//! Configuration from environment variables, read and validated once at cold start. Every
//! error names the variable, so a bad deployment fails on its first invocation with a message
//! that says what to fix.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

use crate::domain::{Channel, EmailAddress, Priority};

#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(String),
    #[error("environment variable {var} is malformed: {reason}")]
    Malformed { var: String, reason: String },
}

// `main` returns this error to the runtime, which prints it with `Debug`: show the sentence.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Where configuration values come from: the process environment, or a map in tests.
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value, with an empty string treated as unset.
    pub fn optional(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, var: &str) -> Result<&str, ConfigError> {
        self.optional(var)
            .ok_or_else(|| ConfigError::Missing(var.to_owned()))
    }

    pub fn malformed(var: &str, reason: impl Display) -> ConfigError {
        ConfigError::Malformed {
            var: var.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// A number within `range`, or `default` when unset.
    pub fn number<T>(
        &self,
        var: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let Some(raw) = self.optional(var) else {
            return Ok(default);
        };
        let value: T = raw
            .trim()
            .parse()
            .map_err(|_| Self::malformed(var, format!("`{raw}` is not a whole number")))?;
        if !range.contains(&value) {
            return Err(Self::malformed(
                var,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    pub fn seconds(
        &self,
        var: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(var, default, range).map(Duration::from_secs)
    }
}

/// The notification table.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub table: String,
    /// How long a notification record is kept (then DynamoDB TTL removes it).
    pub retention: Duration,
    /// How long a notification may take to be delivered, from when it was wanted, before the
    /// sweep marks it `expired`.
    pub lifetime: Duration,
}

impl StoreSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: env.required("NOTIFY_TABLE")?.to_owned(),
            retention: Duration::from_secs(
                86_400 * env.number("NOTIFY_RETENTION_DAYS", 30u64, 1..=3650)?,
            ),
            lifetime: Duration::from_secs(
                3600 * env.number("NOTIFY_MAX_DELIVERY_HOURS", 24u64, 1..=720)?,
            ),
        })
    }
}

/// The URL of every queue, one per channel and priority.
#[derive(Debug, Clone, Default)]
pub struct QueueUrls(HashMap<(Channel, Priority), String>);

/// The variables naming the delivery queues.
pub const QUEUE_VARS: &str = "NOTIFY_QUEUE_URL";
/// The variables naming their dead-letter queues.
pub const DLQ_VARS: &str = "NOTIFY_DLQ_URL";

impl QueueUrls {
    /// `NOTIFY_QUEUE_URL_EMAIL_HIGH`, `..._EMAIL_NORMAL`, ...
    pub fn var_name(channel: Channel, priority: Priority) -> String {
        Self::prefixed_var(QUEUE_VARS, channel, priority)
    }

    /// `<prefix>_<CHANNEL>_<PRIORITY>`.
    pub fn prefixed_var(prefix: &str, channel: Channel, priority: Priority) -> String {
        format!(
            "{prefix}_{}_{}",
            channel.as_str().to_uppercase(),
            priority.as_str().to_uppercase()
        )
    }

    /// The delivery queues of `channels`.
    pub fn from_env(env: &Env, channels: &[Channel]) -> Result<Self, ConfigError> {
        Self::from_env_prefixed(env, QUEUE_VARS, channels)
    }

    pub fn from_env_prefixed(
        env: &Env,
        prefix: &str,
        channels: &[Channel],
    ) -> Result<Self, ConfigError> {
        let mut urls = HashMap::new();
        for &channel in channels {
            for priority in Priority::ALL {
                let var = Self::prefixed_var(prefix, channel, priority);
                let url = env.required(&var)?;
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(Env::malformed(
                        &var,
                        "must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
                    ));
                }
                urls.insert((channel, priority), url.to_owned());
            }
        }
        Ok(Self(urls))
    }

    pub fn insert(&mut self, channel: Channel, priority: Priority, url: impl Into<String>) {
        self.0.insert((channel, priority), url.into());
    }

    pub fn get(&self, channel: Channel, priority: Priority) -> Option<&str> {
        self.0.get(&(channel, priority)).map(String::as_str)
    }
}

/// How a worker processes its SQS batches.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Must equal the queues' redrive `maxReceiveCount`: on this receive a transient failure
    /// is recorded as final before SQS moves the message to the dead-letter queue.
    pub max_receives: u32,
    /// Messages of one batch processed at once.
    pub concurrency: usize,
    /// How long a claim protects a notification being sent from a duplicate delivery.
    /// Longer than the function timeout, so only a crashed worker's claim ever runs out.
    pub lease: Duration,
    /// The first retry waits about this long; each later one twice as long...
    pub retry_base: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// Transient provider failures in a row that open the circuit breaker...
    pub breaker_threshold: u32,
    /// ...for this long.
    pub breaker_cooldown: Duration,
    /// The provider's rate across every instance of the worker, in messages (an SMS: parts)
    /// a second; `None`: the provider's own throttling answers are the only limit.
    pub send_rate: Option<u32>,
}

impl DeliverySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_receives: env.number("NOTIFY_MAX_RECEIVES", 5, 1..=1000)?,
            concurrency: env.number("NOTIFY_WORKER_CONCURRENCY", 10, 1..=100)?,
            lease: env.seconds("NOTIFY_CLAIM_LEASE_SECONDS", 120, 5..=43_200)?,
            retry_base: env.seconds("NOTIFY_RETRY_BASE_SECONDS", 30, 1..=3600)?,
            // 12 hours is the longest SQS visibility timeout.
            retry_max: env.seconds("NOTIFY_RETRY_MAX_SECONDS", 900, 1..=43_200)?,
            breaker_threshold: env.number("NOTIFY_BREAKER_FAILURES", 5, 1..=1000)?,
            // At most the SQS delay limit: deferred messages are re-sent with this delay.
            breaker_cooldown: env.seconds("NOTIFY_BREAKER_COOLDOWN_SECONDS", 30, 1..=900)?,
            // 0: unlimited. Above ~1,000 a second one counter item would be DynamoDB's limit.
            send_rate: Some(env.number("NOTIFY_SEND_RATE_PER_SECOND", 0u32, 0..=1000)?)
                .filter(|r| *r > 0),
        })
    }
}

/// How the email worker addresses SES.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// A verified SES identity.
    pub from: EmailAddress,
    pub configuration_set: Option<String>,
}

impl EmailSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let from = env.required("NOTIFY_EMAIL_FROM")?;
        Ok(Self {
            from: EmailAddress::parse(from).map_err(|e| Env::malformed("NOTIFY_EMAIL_FROM", e))?,
            configuration_set: env
                .optional("NOTIFY_SES_CONFIGURATION_SET")
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_variable_is_named() {
        let err = StoreSettings::from_env(&Env::from_pairs([("OTHER", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable NOTIFY_TABLE is required but not set"
        );
    }

    #[test]
    fn empty_counts_as_unset() {
        let err = StoreSettings::from_env(&Env::from_pairs([("NOTIFY_TABLE", " ")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("NOTIFY_TABLE".into()));
    }

    #[test]
    fn numbers_are_parsed_and_bounded() {
        let env = Env::from_pairs([("NOTIFY_TABLE", "t"), ("NOTIFY_RETENTION_DAYS", "7")]);
        assert_eq!(
            StoreSettings::from_env(&env).unwrap().retention,
            Duration::from_secs(7 * 86_400)
        );

        let env = Env::from_pairs([("NOTIFY_TABLE", "t"), ("NOTIFY_RETENTION_DAYS", "seven")]);
        let err = StoreSettings::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains("NOTIFY_RETENTION_DAYS") && err.contains("not a whole number"),
            "{err}"
        );

        let env = Env::from_pairs([("NOTIFY_MAX_RECEIVES", "0")]);
        let err = DeliverySettings::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains("NOTIFY_MAX_RECEIVES") && err.contains("outside 1..=1000"),
            "{err}"
        );
    }

    #[test]
    fn defaults_apply_when_unset() {
        let s = DeliverySettings::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(
            (s.max_receives, s.concurrency, s.lease),
            (5, 10, Duration::from_secs(120))
        );
    }

    #[test]
    fn every_queue_url_is_required() {
        let mut pairs: Vec<(String, String)> = Priority::ALL
            .iter()
            .map(|&p| {
                (
                    QueueUrls::var_name(Channel::Email, p),
                    format!("http://localhost/q-{p}"),
                )
            })
            .collect();
        let urls = QueueUrls::from_env(&Env::from_pairs(pairs.clone()), &[Channel::Email]).unwrap();
        assert_eq!(
            urls.get(Channel::Email, Priority::Low),
            Some("http://localhost/q-low")
        );

        pairs.pop();
        let err = QueueUrls::from_env(&Env::from_pairs(pairs), &[Channel::Email]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing("NOTIFY_QUEUE_URL_EMAIL_LOW".into())
        );
    }

    #[test]
    fn sender_must_be_an_address() {
        let err = EmailSettings::from_env(&Env::from_pairs([("NOTIFY_EMAIL_FROM", "noreply")]))
            .unwrap_err();
        assert!(err.to_string().contains("NOTIFY_EMAIL_FROM"), "{err}");
    }
}
