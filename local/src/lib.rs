//! The local stack: everything `make dev` and the integration tests need around the functions.
//!
//! - [`resources`] creates the table, the queues with their dead-letter queues, and the SES
//!   sender identity on the AWS-API emulator;
//! - [`esm`] plays the SQS event source mapping: it receives batches (high priority first),
//!   invokes the worker, and deletes what the worker did not report as failed;
//! - [`lambda`] runs the functions as Lambda does (the Runtime API, their own environment,
//!   their timeout), starting them again when they die, and [`function_url`] puts a Lambda
//!   function URL in front of the API;
//! - [`outbox`] lists what the emulated providers were asked to send;
//! - [`fcm`], [`receiver`] and [`chat`] stand in for FCM, the receivers of webhooks and
//!   Slack and Teams, and
//!   [`websocket`] for API Gateway's WebSocket API in front of the realtime function;
//! - [`coldstart`] times one cold start of a function's binary (`make bench`).

pub mod chat;
pub mod coldstart;
pub mod esm;
pub mod fcm;
pub mod function_url;
mod http;
pub mod lambda;
pub mod logs;
pub mod outbox;
pub mod receiver;
pub mod resources;
pub mod stream;
pub mod websocket;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The region every local resource lives in.
pub const REGION: &str = "us-east-1";

/// An SDK configuration that talks to the emulator at `endpoint` with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "notify-local"))
        .load()
        .await
}
