//! The HTTPS API (API Gateway HTTP API → Lambda): authenticates, validates, records and
//! queues notifications, and reports their status.

mod auth;
mod config;
mod devices;
mod draft;
mod error;
mod notifications;
mod response;
mod router;

use std::{sync::Arc, time::Instant};

use lambda_http::{Body, Request, RequestExt, Response};
use notify_shared::{
    clock::{Clock, SystemClock},
    domain::Channel,
    queue::{NotificationQueue, SqsQueue},
    store::{DeviceRegistry, DynamoStore, NotificationStore},
};
use tracing::{Instrument, info, info_span};

pub use auth::ApiKeys;
pub use config::ApiConfig;
pub use error::ApiError;

use router::Route;

/// The channels this deployment accepts.
pub const CHANNELS: [Channel; 3] = Channel::ALL;

/// Everything a request needs, built once at cold start.
pub struct App {
    store: Arc<dyn NotificationStore>,
    devices: Arc<dyn DeviceRegistry>,
    queue: Arc<dyn NotificationQueue>,
    clock: Arc<dyn Clock>,
    config: ApiConfig,
}

impl App {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        devices: Arc<dyn DeviceRegistry>,
        queue: Arc<dyn NotificationQueue>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
    ) -> Self {
        Self {
            store,
            devices,
            queue,
            clock,
            config,
        }
    }

    /// The production wiring: DynamoDB and SQS clients from one SDK configuration.
    pub fn from_aws(sdk: &aws_config::SdkConfig, config: ApiConfig) -> Self {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table.clone()));
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.queues.clone());
        Self::new(
            store.clone(),
            store,
            Arc::new(queue),
            Arc::new(SystemClock),
            config,
        )
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
        if route == Route::Health {
            return Ok(response::json(
                http::StatusCode::OK,
                &serde_json::json!({
                    "status": "ok",
                    "version": env!("CARGO_PKG_VERSION"),
                }),
            ));
        }
        let tenant = self.config.keys.authenticate(req)?;
        tracing::Span::current().record("tenant", tenant.as_str());
        let body = || response::json_body(req, self.config.max_body_bytes);
        match route {
            Route::Health => unreachable!("answered above, without a key"),
            Route::CreateNotification => notifications::create(self, &tenant, &body()?).await,
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
