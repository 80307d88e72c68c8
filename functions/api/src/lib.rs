//! The HTTPS API (API Gateway HTTP API → Lambda): authenticates, validates, records and
//! queues notifications, and reports their status.

mod accept;
mod admin;
mod audit;
mod auth;
mod batch;
mod callbacks;
mod callers;
mod catalog;
mod channel;
mod chat;
mod compat;
mod config;
mod console;
mod content;
mod devices;
mod drafts;
mod error;
mod health;
mod idempotency;
mod inbox;
mod limits;
mod notifications;
mod paging;
mod response;
mod router;
mod routes;
mod stats;
mod suppressions;
mod templates;
mod tenants;
mod unsubscribe;
mod users;
mod webhooks;

use std::{sync::Arc, time::Instant};

use lambda_http::{Body, Request, RequestExt, Response};
use notify_shared::unsubscribe::UnsubscribeKey;
use notify_shared::{
    clock::{Clock, SystemClock},
    domain::{Channel, TenantId},
    health::{QueueHealth, SqsQueueHealth, TableHealth},
    queue::{DeadLetters, NotificationQueue, SqsDeadLetters, SqsQueue},
    store::{
        AuditLog, BatchStore, CallbackDeliveries, CallbackSubscriptions, ChatTargets,
        DeviceRegistry, DynamoStore, IdempotencyStore, InboxStore, LimitCounters,
        NotificationSearch, NotificationStore, RouteStore, StatsStore, SuppressionList,
        TemplateStore, TenantStore, UserStore, WebhookEndpoints,
    },
};
use tracing::{Instrument, info, info_span};

pub use auth::{AdminKeys, ApiKeys};
pub use channel::Limits as ChannelLimits;
pub use config::ApiConfig;
pub use error::ApiError;

use router::Route;

/// The channels this deployment accepts.
pub const CHANNELS: [Channel; Channel::ALL.len()] = Channel::ALL;

/// The ports the API works through.
pub struct Ports {
    pub store: Arc<dyn NotificationStore>,
    pub devices: Arc<dyn DeviceRegistry>,
    pub users: Arc<dyn UserStore>,
    pub routes: Arc<dyn RouteStore>,
    pub inbox: Arc<dyn InboxStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub counters: Arc<dyn LimitCounters>,
    pub audit: Arc<dyn AuditLog>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub batches: Arc<dyn BatchStore>,
    pub webhooks: Arc<dyn WebhookEndpoints>,
    pub chat_targets: Arc<dyn ChatTargets>,
    pub suppressions: Arc<dyn SuppressionList>,
    pub callbacks: Arc<dyn CallbackSubscriptions>,
    pub callback_deliveries: Arc<dyn CallbackDeliveries>,
    pub search: Arc<dyn NotificationSearch>,
    pub stats: Arc<dyn StatsStore>,
    pub queue: Arc<dyn NotificationQueue>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub table_health: Arc<dyn TableHealth>,
    pub queue_health: Arc<dyn QueueHealth>,
    pub clock: Arc<dyn Clock>,
}

/// Everything a request needs, built once at cold start.
pub struct App {
    store: Arc<dyn NotificationStore>,
    devices: Arc<dyn DeviceRegistry>,
    users: Arc<dyn UserStore>,
    routes: Arc<dyn RouteStore>,
    inbox: Arc<dyn InboxStore>,
    tenants: Arc<dyn TenantStore>,
    /// What this warm function read of table keys (see `callers`).
    key_cache: callers::KeyCache,
    counters: Arc<dyn LimitCounters>,
    audit: Arc<dyn AuditLog>,
    idempotency: Arc<dyn IdempotencyStore>,
    templates: Arc<dyn TemplateStore>,
    catalog: catalog::Catalog,
    batches: Arc<dyn BatchStore>,
    webhooks: Arc<dyn WebhookEndpoints>,
    chat_targets: Arc<dyn ChatTargets>,
    suppressions: Arc<dyn SuppressionList>,
    callbacks: Arc<dyn CallbackSubscriptions>,
    callback_deliveries: Arc<dyn CallbackDeliveries>,
    search: Arc<dyn NotificationSearch>,
    stats: Arc<dyn StatsStore>,
    queue: Arc<dyn NotificationQueue>,
    dead_letters: Arc<dyn DeadLetters>,
    table_health: Arc<dyn TableHealth>,
    queue_health: Arc<dyn QueueHealth>,
    clock: Arc<dyn Clock>,
    config: ApiConfig,
    /// Cold start, for `uptime` in the health answers.
    started: Instant,
    /// Each tenant's unsubscribe-link key once read: it never changes, so a warm function
    /// reads it once.
    unsubscribe_keys: std::sync::Mutex<std::collections::HashMap<TenantId, UnsubscribeKey>>,
}

impl App {
    pub fn new(ports: Ports, config: ApiConfig) -> Self {
        Self {
            store: ports.store,
            devices: ports.devices,
            users: ports.users,
            routes: ports.routes,
            inbox: ports.inbox,
            tenants: ports.tenants,
            key_cache: callers::KeyCache::default(),
            counters: ports.counters,
            audit: ports.audit,
            idempotency: ports.idempotency,
            catalog: catalog::Catalog::new(ports.templates.clone()),
            templates: ports.templates,
            batches: ports.batches,
            webhooks: ports.webhooks,
            chat_targets: ports.chat_targets,
            suppressions: ports.suppressions,
            callbacks: ports.callbacks,
            callback_deliveries: ports.callback_deliveries,
            search: ports.search,
            stats: ports.stats,
            queue: ports.queue,
            dead_letters: ports.dead_letters,
            table_health: ports.table_health,
            queue_health: ports.queue_health,
            clock: ports.clock,
            config,
            started: Instant::now(),
            unsubscribe_keys: Default::default(),
        }
    }

    /// The tenant's unsubscribe-link key, from this function's memory or the store.
    async fn unsubscribe_key(
        &self,
        tenant: &TenantId,
    ) -> Result<UnsubscribeKey, notify_shared::store::StoreError> {
        let cached = self
            .unsubscribe_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        let key = self
            .users
            .unsubscribe_key(tenant, true)
            .await?
            .ok_or_else(|| notify_shared::store::StoreError::Unavailable("no key".into()))?;
        self.unsubscribe_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), key.clone());
        Ok(key)
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
            users: store.clone(),
            routes: store.clone(),
            inbox: store.clone(),
            tenants: store.clone(),
            counters: store.clone(),
            audit: store.clone(),
            idempotency: store.clone(),
            templates: store.clone(),
            batches: store.clone(),
            webhooks: store.clone(),
            chat_targets: store.clone(),
            suppressions: store.clone(),
            callbacks: store.clone(),
            callback_deliveries: store.clone(),
            search: store.clone(),
            stats: store.clone(),
            table_health: store,
            queue: Arc::new(SqsQueue::new(sqs.clone(), config.queues.clone())),
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                config.queues.clone(),
                config.dlqs.clone(),
            )),
            queue_health: Arc::new(SqsQueueHealth::new(
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
            let response = match self.route(&req, &request_id).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            // The Event Planner API's routes answer in their own envelope, failures included.
            let response =
                if req.uri().path().starts_with("/api/") && !response.status().is_success() {
                    compat::error_envelope(response)
                } else {
                    response
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

    /// The request's tenant key: a static one (`NOTIFY_API_KEYS`), or one kept in the table.
    async fn caller(&self, req: &Request) -> Result<callers::Caller, ApiError> {
        let (store, defaults, now) = (
            self.tenants.as_ref(),
            self.config.default_limits,
            self.clock.now(),
        );
        if let Ok(tenant) = self.config.keys.authenticate(req) {
            return self
                .key_cache
                .static_caller(store, tenant, defaults, now)
                .await;
        }
        let presented = auth::bearer(req).ok_or(ApiError::Unauthorized)?;
        self.key_cache.caller(store, presented, defaults, now).await
    }

    /// The feed's routes, for the tenant's key or the user's token alike.
    async fn inbox_route(
        &self,
        req: &Request,
        tenant: &TenantId,
        route: Route,
    ) -> Result<Response<Body>, ApiError> {
        match route {
            Route::Inbox(user) => inbox::feed(self, tenant, &user, req).await,
            Route::InboxMark { user, id, mark } => {
                inbox::mark(self, tenant, &user, &id, mark).await
            }
            Route::InboxMarkAll(user) => {
                let body = response::json_body(req, self.config.max_body_bytes)?;
                inbox::mark_all(self, tenant, &user, &body).await
            }
            other => Err(ApiError::NotFound(format!(
                "{other:?} is not an inbox route"
            ))),
        }
    }

    async fn route(&self, req: &Request, request_id: &str) -> Result<Response<Body>, ApiError> {
        // The web console's page and assets: not API operations, no key.
        if matches!(*req.method(), http::Method::GET | http::Method::HEAD)
            && let Some(page) = console::serve(req.uri().path())
        {
            return Ok(page);
        }
        let route = router::route(req.method(), req.uri().path())?;
        match route {
            Route::Health => return Ok(health::basic(self)),
            Route::HealthDetailed => return Ok(health::detailed(self).await),
            Route::Redrive
            | Route::CreateTenant
            | Route::ListTenants
            | Route::GetTenant(_)
            | Route::PatchTenant(_)
            | Route::CreateTenantKey(_)
            | Route::ListTenantKeys(_)
            | Route::RevokeTenantKey { .. }
            | Route::GetAdminAudit => {
                self.config.admin_keys.authenticate(req)?;
                let tenant = audit::admin_tenant(&route);
                let response = self
                    .admin_route(req, route.clone())
                    .await
                    .unwrap_or_else(ApiError::into_response);
                audit::record(
                    self,
                    req,
                    &route,
                    tenant,
                    "admin".into(),
                    &response,
                    request_id,
                )
                .await;
                return Ok(response);
            }
            // The link's signed token is the authority: no API key.
            Route::UnsubscribePage(token) => return Ok(unsubscribe::page(self, &token, req).await),
            Route::Unsubscribe(token) => return Ok(unsubscribe::confirm(self, &token, req).await),
            _ => {}
        }
        // An app acknowledges a read with a user token its tenant's backend signed.
        if let Route::ReadNotification(id) = &route
            && self.caller(req).await.is_err()
        {
            let token = users::user_token(self, req).await?;
            tracing::Span::current().record("tenant", token.tenant.as_str());
            return Ok(self
                .as_user(
                    &token,
                    routes::read(self, &token.tenant, id, Some(&token.user)),
                )
                .await);
        }
        // The user's app reads and marks its own inbox with a user token.
        if let Some(user) = route.inbox_user()
            && self.caller(req).await.is_err()
        {
            let token = users::user_token(self, req).await?;
            tracing::Span::current().record("tenant", token.tenant.as_str());
            if token.user.as_str() != user {
                return Err(ApiError::Forbidden(
                    "the user token is for another user".into(),
                ));
            }
            return Ok(self
                .as_user(&token, self.inbox_route(req, &token.tenant, route))
                .await);
        }
        let caller = self.caller(req).await?;
        if let Some(scope) = route.scope() {
            caller.require(scope)?;
        }
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        let mut rate = match limits::admit(self, &caller, 1, self.clock.now()).await {
            Ok(state) => state,
            Err(state) => return Ok(limits::refused(state)),
        };
        let mut response = self
            .tenant_route(req, route.clone(), &caller, &mut rate)
            .await
            .unwrap_or_else(ApiError::into_response);
        let actor = caller
            .key
            .as_ref()
            .map_or_else(|| "static".to_owned(), |k| format!("key:{}", k.prefix));
        let tenant = Some(caller.tenant.clone());
        audit::record(self, req, &route, tenant, actor, &response, request_id).await;
        if let Some(state) = rate {
            state.stamp(&mut response);
        }
        Ok(response)
    }

    /// Answers a request made with a user token, counted against that user's rate limit.
    async fn as_user(
        &self,
        token: &notify_shared::user_token::UserToken,
        answer: impl Future<Output = Result<Response<Body>, ApiError>>,
    ) -> Response<Body> {
        match limits::admit_user(self, &token.tenant, &token.user, self.clock.now()).await {
            Err(state) => limits::refused(state),
            Ok(rate) => {
                let mut response = answer.await.unwrap_or_else(ApiError::into_response);
                if let Some(state) = rate {
                    state.stamp(&mut response);
                }
                response
            }
        }
    }

    /// An accepted batch costs its recipients against the rate limit (one was counted on the
    /// way in), or what is left of the window when that is less: it is never refused for its
    /// size, but the requests after it wait for the next window.
    async fn charge_batch(
        &self,
        caller: &callers::Caller,
        body: &serde_json::Value,
        answered: Result<Response<Body>, ApiError>,
        rate: &mut Option<limits::RateState>,
    ) -> Result<Response<Body>, ApiError> {
        if answered.as_ref().is_ok_and(|r| r.status().is_success()) {
            let extra = limits::recipients_in(body).saturating_sub(1);
            *rate = limits::charge_up_to(self, caller, extra, *rate, self.clock.now()).await;
        }
        answered
    }

    /// The routes of a tenant's API key, within its scopes and rate.
    async fn tenant_route(
        &self,
        req: &Request,
        route: Route,
        caller: &callers::Caller,
        rate: &mut Option<limits::RateState>,
    ) -> Result<Response<Body>, ApiError> {
        let tenant = caller.tenant.clone();
        // A test key's notifications: simulated, and seen only by test keys.
        let origin = caller.origin();
        let test = origin.test;
        let body = || response::json_body(req, self.config.max_body_bytes);
        let public = response::public_base(req);
        let base = public.as_deref();
        // A batch of 10,000 recipients is larger than a notification: its own limit.
        let batch_body = || response::json_body(req, self.config.max_batch_body_bytes);
        match route {
            Route::Health
            | Route::HealthDetailed
            | Route::Redrive
            | Route::CreateTenant
            | Route::ListTenants
            | Route::GetTenant(_)
            | Route::PatchTenant(_)
            | Route::CreateTenantKey(_)
            | Route::ListTenantKeys(_)
            | Route::RevokeTenantKey { .. }
            | Route::GetAdminAudit
            | Route::UnsubscribePage(_)
            | Route::Unsubscribe(_) => {
                unreachable!("answered above")
            }
            Route::CreateNotification => {
                let body = body()?;
                idempotency::run(self, &tenant, req, |planned| {
                    notifications::create(self, &tenant, &body, planned.id, base, &origin)
                })
                .await
            }
            Route::CreateBatch => {
                let body = batch_body()?;
                let answered = idempotency::run(self, &tenant, req, |planned| {
                    batch::create(self, &tenant, &body, planned, base, &origin)
                })
                .await;
                self.charge_batch(caller, &body, answered, rate).await
            }
            Route::CancelNotification(id) => {
                idempotency::run(self, &tenant, req, |_| {
                    notifications::cancel(self, &tenant, &id, test)
                })
                .await
            }
            Route::GetNotification(id) => notifications::get(self, &tenant, &id, test).await,
            Route::ReadNotification(id) => routes::read(self, &tenant, &id, None).await,
            Route::ListNotifications => notifications::list(self, &tenant, req, test).await,
            Route::GetStats => stats::get(self, &tenant, req).await,
            Route::GetBatch(id) => batch::get(self, &tenant, &id).await,
            Route::ListTemplates => templates::list(self, &tenant).await,
            Route::PutTemplate(name) => templates::put(self, &tenant, &name, &body()?).await,
            Route::GetTemplate(name) => templates::get(self, &tenant, &name, req).await,
            Route::DeleteTemplate(name) => templates::delete(self, &tenant, &name).await,
            Route::RenderTemplate(name) => templates::render(self, &tenant, &name, &body()?).await,
            Route::ListDevices { user } => devices::list(self, &tenant, &user).await,
            Route::RegisterDevice { user, token } => {
                devices::register(self, &tenant, &user, &token, &body()?).await
            }
            Route::UnregisterDevice { user, token } => {
                devices::unregister(self, &tenant, &user, &token).await
            }
            Route::PutUser(user) => users::put(self, &tenant, &user, &body()?).await,
            Route::GetUser(user) => users::get(self, &tenant, &user).await,
            Route::PatchUser(user) => users::patch(self, &tenant, &user, &body()?).await,
            Route::DeleteUser(user) => users::delete(self, &tenant, &user).await,
            Route::GetPreferences(user) => {
                users::get_preferences(self, &tenant, users::user_subscriber(&user)?).await
            }
            route @ (Route::Inbox(_) | Route::InboxMark { .. } | Route::InboxMarkAll(_)) => {
                self.inbox_route(req, &tenant, route).await
            }
            Route::PutPreferences(user) => {
                let who = users::user_subscriber(&user)?;
                users::put_preferences(self, &tenant, who, &body()?).await
            }
            Route::GetAddressPreferences(address) => {
                let who = users::address_subscriber(&address)?;
                users::get_preferences(self, &tenant, who).await
            }
            Route::PutAddressPreferences(address) => {
                let who = users::address_subscriber(&address)?;
                users::put_preferences(self, &tenant, who, &body()?).await
            }
            Route::GetPreferenceDefaults => users::get_defaults(self, &tenant).await,
            // Not behind Idempotency-Key: a replayed answer would show a secret again.
            Route::RotateUserTokenSecret => users::rotate_user_token_secret(self, &tenant).await,
            Route::PutPreferenceDefaults => users::put_defaults(self, &tenant, &body()?).await,
            Route::CompatEmail | Route::CompatSms => {
                let channel = if route == Route::CompatEmail {
                    "email"
                } else {
                    "sms"
                };
                let body = body()?;
                idempotency::run(self, &tenant, req, |planned| {
                    compat::send(self, &tenant, &body, channel, planned, base, &origin)
                })
                .await
            }
            Route::CompatBulkEmail => {
                let body = batch_body()?;
                let answered = idempotency::run(self, &tenant, req, |planned| {
                    compat::bulk_email(self, &tenant, &body, planned, base, &origin)
                })
                .await;
                self.charge_batch(caller, &body, answered, rate).await
            }
            Route::CompatStatus(id) => compat::status(self, &tenant, &id, test).await,
            Route::ListChatTargets => chat::list(self, &tenant).await,
            Route::PutChatTarget(name) => chat::put(self, &tenant, &name, &body()?).await,
            Route::GetChatTarget(name) => chat::get(self, &tenant, &name).await,
            Route::DeleteChatTarget(name) => chat::delete(self, &tenant, &name).await,
            Route::ListWebhookEndpoints => webhooks::list(self, &tenant).await,
            Route::PutWebhookEndpoint(name) => webhooks::put(self, &tenant, &name, &body()?).await,
            Route::GetWebhookEndpoint(name) => webhooks::get(self, &tenant, &name).await,
            Route::DeleteWebhookEndpoint(name) => webhooks::delete(self, &tenant, &name).await,
            // Not behind Idempotency-Key: a replayed answer would show a secret again.
            Route::RotateWebhookSecret(name) => {
                webhooks::rotate(self, &tenant, &name, optional_body(req, self)?.as_ref()).await
            }
            Route::RotateSigningSecret => {
                webhooks::signing_secret(self, &tenant, optional_body(req, self)?.as_ref()).await
            }
            Route::ListSuppressions => suppressions::list(self, &tenant, req).await,
            Route::GetSuppression { channel, address } => {
                suppressions::get(self, &tenant, &channel, &address).await
            }
            Route::PutSuppression { channel, address } => {
                let body = optional_body(req, self)?;
                suppressions::put(self, &tenant, &channel, &address, body.as_ref()).await
            }
            Route::DeleteSuppression { channel, address } => {
                suppressions::delete(self, &tenant, &channel, &address).await
            }
            Route::GetCallbacks => callbacks::get(self, &tenant).await,
            Route::PutCallbacks => callbacks::put(self, &tenant, &body()?).await,
            Route::DeleteCallbacks => callbacks::delete(self, &tenant).await,
            Route::ListCallbackDeliveries => callbacks::deliveries(self, &tenant, req).await,
            // Not behind Idempotency-Key: a replayed answer would show a key again.
            Route::CreateKey => {
                let granter = tenants::Granter::Tenant(caller);
                tenants::create_key(self, &tenant, granter, &body()?).await
            }
            Route::ListKeys => tenants::list_keys(self, &tenant).await,
            Route::RevokeKey(prefix) => tenants::revoke_key(self, &tenant, &prefix).await,
            Route::ApproveNotification(id) => drafts::one(self, caller, &id, true).await,
            Route::RejectNotification(id) => drafts::one(self, caller, &id, false).await,
            Route::ApproveBatch(id) => drafts::batch(self, caller, &id, true).await,
            Route::RejectBatch(id) => drafts::batch(self, caller, &id, false).await,
            Route::GetAudit => {
                let scope = notify_shared::store::AuditScope::Tenant(tenant.clone());
                audit::list(self, req, Some(scope)).await
            }
        }
    }

    /// The operator's routes (an admin key).
    async fn admin_route(&self, req: &Request, route: Route) -> Result<Response<Body>, ApiError> {
        let body = || response::json_body(req, self.config.max_body_bytes);
        match route {
            Route::Redrive => admin::redrive(self, req).await,
            Route::GetAdminAudit => audit::list(self, req, None).await,
            Route::CreateTenant => tenants::create(self, &body()?).await,
            Route::ListTenants => tenants::list(self).await,
            Route::GetTenant(id) => tenants::get(self, &id).await,
            Route::PatchTenant(id) => tenants::patch(self, &id, &body()?).await,
            Route::CreateTenantKey(id) => {
                let tenant = tenants::admin_tenant(self, &id).await?;
                tenants::create_key(self, &tenant, tenants::Granter::Operator, &body()?).await
            }
            Route::ListTenantKeys(id) => {
                let tenant = tenants::admin_tenant(self, &id).await?;
                tenants::list_keys(self, &tenant).await
            }
            Route::RevokeTenantKey { tenant, prefix } => {
                let tenant = tenants::admin_tenant(self, &tenant).await?;
                tenants::revoke_key(self, &tenant, &prefix).await
            }
            other => Err(ApiError::NotFound(format!(
                "{other:?} is not an operator route"
            ))),
        }
    }
}

/// A body that may be absent (no bytes): `None`, else it must be JSON like any other.
fn optional_body(req: &Request, app: &App) -> Result<Option<serde_json::Value>, ApiError> {
    if req.body().as_ref().is_empty() {
        return Ok(None);
    }
    response::json_body(req, app.config.max_body_bytes).map(Some)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_audit;
#[cfg(test)]
mod tests_batch;
#[cfg(test)]
mod tests_callbacks;
#[cfg(test)]
mod tests_chat;
#[cfg(test)]
mod tests_drafts;
#[cfg(test)]
mod tests_inbox;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_listing;
#[cfg(test)]
mod tests_routes;
#[cfg(test)]
mod tests_suppressions;
#[cfg(test)]
mod tests_templates;
#[cfg(test)]
mod tests_users;
#[cfg(test)]
mod tests_webhooks;
