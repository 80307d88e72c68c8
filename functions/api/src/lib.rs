//! The HTTPS API (API Gateway HTTP API → Lambda): authenticates, validates, records and
//! queues notifications, and reports their status.

mod admin;
mod auth;
mod config;
mod devices;
mod draft;
mod error;
mod idempotency;
mod notifications;
mod response;
mod router;

use std::{sync::Arc, time::Instant};

use lambda_http::{Body, Request, RequestExt, Response};
use notify_shared::{
    clock::{Clock, SystemClock},
    domain::Channel,
    queue::{DeadLetters, NotificationQueue, SqsDeadLetters, SqsQueue},
    store::{DeviceRegistry, DynamoStore, IdempotencyStore, NotificationStore},
};
use tracing::{Instrument, info, info_span};

pub use auth::{AdminKeys, ApiKeys};
pub use config::ApiConfig;
pub use error::ApiError;

use router::Route;

/// The channels this deployment accepts.
pub const CHANNELS: [Channel; 3] = Channel::ALL;

/// The ports the API works through.
pub struct Ports {
    pub store: Arc<dyn NotificationStore>,
    pub devices: Arc<dyn DeviceRegistry>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub queue: Arc<dyn NotificationQueue>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub clock: Arc<dyn Clock>,
}

/// Everything a request needs, built once at cold start.
pub struct App {
    store: Arc<dyn NotificationStore>,
    devices: Arc<dyn DeviceRegistry>,
    idempotency: Arc<dyn IdempotencyStore>,
    queue: Arc<dyn NotificationQueue>,
    dead_letters: Arc<dyn DeadLetters>,
    clock: Arc<dyn Clock>,
    config: ApiConfig,
}

impl App {
    pub fn new(ports: Ports, config: ApiConfig) -> Self {
        Self {
            store: ports.store,
            devices: ports.devices,
            idempotency: ports.idempotency,
            queue: ports.queue,
            dead_letters: ports.dead_letters,
            clock: ports.clock,
            config,
        }
    }

    /// The production wiring: DynamoDB and SQS clients from one SDK configuration.
    pub fn from_aws(sdk: &aws_config::SdkConfig, config: ApiConfig) -> Self {
        let store = Arc::new(
            DynamoStore::from_sdk(sdk, config.store.table.clone())
                .with_device_idle(config.device_idle),
        );
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let ports = Ports {
            store: store.clone(),
            devices: store.clone(),
            idempotency: store,
            queue: Arc::new(SqsQueue::new(sqs.clone(), config.queues.clone())),
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs,
                config.queues.clone(),
                config.dlqs.clone(),
            )),
            clock: Arc::new(SystemClock),
        };
        Self::new(ports, config)
    }

    /// Answers one request. Never fails: every error is an HTTP response with a JSON body.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let span = info_span!(
            "request",
            request_id = %request_id,
            method = %req.method(),
            path = %req.uri().path(),
            tenant = tracing::field::Empty,
            notification_id = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let response = match self.route(&req).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            info!(
                status = response.status().as_u16(),
                duration_ms = started.elapsed().as_millis() as u64,
                "request handled"
            );
            response::with_request_id(response, &request_id)
        }
        .instrument(span)
        .await
    }

    async fn route(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let route = router::route(req.method(), req.uri().path())?;
        match route {
            Route::Health => {
                return Ok(response::json(
                    http::StatusCode::OK,
                    &serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
                ));
            }
            Route::Redrive => {
                self.config.admin_keys.authenticate(req)?;
                return admin::redrive(self, req).await;
            }
            _ => {}
        }
        let tenant = self.config.keys.authenticate(req)?;
        tracing::Span::current().record("tenant", tenant.as_str());
        let body = || response::json_body(req, self.config.max_body_bytes);
        match route {
            Route::Health | Route::Redrive => unreachable!("answered above"),
            Route::CreateNotification => {
                let body = body()?;
                idempotency::run(self, &tenant, req, |planned| {
                    notifications::create(self, &tenant, &body, planned)
                })
                .await
            }
            Route::CancelNotification(id) => {
                idempotency::run(self, &tenant, req, |_| {
                    notifications::cancel(self, &tenant, &id)
                })
                .await
            }
            Route::GetNotification(id) => notifications::get(self, &tenant, &id).await,
            Route::ListDevices { user } => devices::list(self, &tenant, &user).await,
            Route::RegisterDevice { user, token } => {
                devices::register(self, &tenant, &user, &token, &body()?).await
            }
            Route::UnregisterDevice { user, token } => {
                devices::unregister(self, &tenant, &user, &token).await
            }
        }
    }
}

#[cfg(test)]
mod tests;
