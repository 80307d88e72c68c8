//! Logging: JSON lines on stdout (CloudWatch Logs), and the one helper that masks personal data.

use std::time::{Duration, Instant};

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the JSON log subscriber. The level comes from `RUST_LOG` (default `info`).
/// Lambda adds its own timestamp to every line, so ours is kept only for local runs.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    // A second init (tests, warm reuse) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .try_init();
}

/// Where a cold start's init went, step by step: one log line when the handler is ready
/// (Lambda's `Init Duration` gives only the total).
pub struct InitSteps {
    started: Instant,
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl InitSteps {
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            steps: Vec::new(),
        }
    }

    /// Ends the step named `name` (it began where the last one ended).
    pub fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps.push((name, now - self.last));
        self.last = now;
    }

    /// Logs the steps, in microseconds, and the total in milliseconds.
    pub fn done(self) {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(name, took)| format!("{name}={}", took.as_micros()))
            .collect();
        tracing::info!(
            init_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            steps_us = %steps.join(" "),
            "ready"
        );
    }
}

/// `alice@example.com` → `a***@example.com`. The domain stays: it is what operators need to
/// see a provider-side problem, and it does not identify a person.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+33612345678` → `+33*******78`: country code and last two digits only.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 5 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// A device token shows its first six characters only: enough to match log lines.
pub fn mask_token(token: &str) -> String {
    let head: String = token.chars().take(6).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_local_part_of_emails() {
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_email("é@example.com"), "é***@example.com");
        assert_eq!(mask_email("no-at-sign"), "***");
    }

    #[test]
    fn masks_all_but_the_ends_of_phone_numbers() {
        assert_eq!(mask_phone("+33612345678"), "+33*******78");
        assert_eq!(mask_phone("+1"), "***");
    }

    #[test]
    fn masks_device_tokens() {
        assert_eq!(mask_token("abcdefghijkl"), "abcdef…");
    }
}
