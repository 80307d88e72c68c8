//! The notification domain and everything the functions share: validation, configuration,
//! telemetry, and the ports (record store, queue, providers) with their AWS adapters and
//! in-memory fakes.

pub mod aws;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod domain;
pub mod health;
pub mod inbox;
pub mod metrics;
pub mod provider;
pub mod queue;
pub mod receipts;
pub mod routing;
pub mod store;
pub mod telemetry;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod unsubscribe;
pub mod user_token;
pub mod validate;
pub mod webhook;
