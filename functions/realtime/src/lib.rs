//! The WebSocket API's function (API Gateway's `$connect`, `$disconnect`, `$default` and the
//! client's `ack`, `seen`, `read` and `ping` routes; the same events from the local stand-in
//! under `make dev`).
//!
//! - `$connect` authenticates the user's app with a user token its tenant's backend signed
//!   (`?token=`, or `Sec-WebSocket-Protocol: notify.v1, <token>`), and keeps the connection in
//!   the user's partition, where the in-app worker finds it;
//! - `$disconnect` forgets it;
//! - a message `{"action": "ack" | "seen" | "read" | "ping", "id"?}` is answered on the same
//!   connection (the route's response): an `ack` makes the notification `delivered`, `seen`
//!   and `read` mark the inbox item (a read also reads the notification, dropping its route's
//!   `unless: read` steps), `ping` is the heartbeat.

use std::sync::Arc;

use notify_shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, StoreSettings},
    domain::{NotificationId, inbox::Mark},
    inbox,
    store::{
        Connection, Connections, DynamoStore, InboxStore, NotificationStore, RouteStore,
        StoreError, UserStore,
    },
    user_token::UserToken,
};
use serde_json::{Value, json};
use tracing::{info, warn};

/// The subprotocol a client names first when it sends its token as the second.
pub const SUBPROTOCOL: &str = "notify.v1";

#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    pub store: StoreSettings,
}

impl RealtimeConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreSettings::from_env(env)?,
        })
    }
}

pub struct Realtime {
    users: Arc<dyn UserStore>,
    connections: Arc<dyn Connections>,
    inbox: Arc<dyn InboxStore>,
    notifications: Arc<dyn NotificationStore>,
    routes: Arc<dyn RouteStore>,
    clock: Arc<dyn Clock>,
}

/// The pieces of the store the function uses.
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub connections: Arc<dyn Connections>,
    pub inbox: Arc<dyn InboxStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub routes: Arc<dyn RouteStore>,
    pub clock: Arc<dyn Clock>,
}

fn response(status: u16, body: Option<Value>) -> Value {
    let mut r = json!({ "statusCode": status });
    if let Some(body) = body {
        r["body"] = Value::String(body.to_string());
    }
    r
}

fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"type": "error", "code": code, "message": message.into()})
}

fn unavailable(e: StoreError) -> Value {
    warn!(error = %e, "the store is unavailable");
    error("unavailable", "the store is unavailable; send it again")
}

/// A header of the event, whatever its case (API Gateway keeps the client's).
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The token, and whether it came as a subprotocol (then the answer must select one).
fn presented_token(event: &Value) -> Option<(String, bool)> {
    if let Some(token) = event["queryStringParameters"]["token"].as_str() {
        return Some((token.to_owned(), false));
    }
    let protocols = header(event, "sec-websocket-protocol")?;
    let mut values = protocols.split(',').map(str::trim);
    (values.next()? == SUBPROTOCOL)
        .then(|| values.next().map(|t| (t.to_owned(), true)))
        .flatten()
}

impl Realtime {
    pub fn new(ports: Ports) -> Self {
        Self {
            users: ports.users,
            connections: ports.connections,
            inbox: ports.inbox,
            notifications: ports.notifications,
            routes: ports.routes,
            clock: ports.clock,
        }
    }

    pub fn on_aws(sdk: &aws_config::SdkConfig, config: RealtimeConfig) -> Self {
        let store = Arc::new(DynamoStore::from_sdk(sdk, config.store.table));
        Self::new(Ports {
            users: store.clone(),
            connections: store.clone(),
            inbox: store.clone(),
            notifications: store.clone(),
            routes: store,
            clock: Arc::new(SystemClock),
        })
    }

    /// Answers one WebSocket event with the response API Gateway expects.
    pub async fn handle(&self, event: &Value) -> Value {
        let context = &event["requestContext"];
        let Some(connection) = context["connectionId"].as_str() else {
            return response(400, Some(error("bad_request", "no connection id")));
        };
        match context["routeKey"].as_str().unwrap_or("$default") {
            "$connect" => self.connect(event, connection).await,
            "$disconnect" => {
                if let Err(e) = self.connections.disconnect(connection).await {
                    // It expires with API Gateway's limit anyway.
                    warn!(error = %e, "a closed connection could not be forgotten");
                }
                info!("disconnected");
                response(200, None)
            }
            _ => {
                let answer = self.message(connection, event["body"].as_str()).await;
                response(200, Some(answer))
            }
        }
    }

    async fn connect(&self, event: &Value, connection: &str) -> Value {
        let Some((token, as_protocol)) = presented_token(event) else {
            info!("connection refused: no user token");
            return response(401, None);
        };
        let user = match self.verify(&token).await {
            Ok(Some(user)) => user,
            Ok(None) => return response(401, None),
            Err(e) => {
                warn!(error = %e, "connection refused: the store is unavailable");
                return response(503, None);
            }
        };
        let c = Connection {
            id: connection.to_owned(),
            tenant: user.tenant,
            user: user.user,
            connected_at: self.clock.now(),
        };
        if let Err(e) = self.connections.connect(&c).await {
            warn!(error = %e, "connection refused: it could not be kept");
            return response(503, None);
        }
        info!(tenant = %c.tenant, user = c.user.as_str(), "connected");
        let mut r = response(200, None);
        if as_protocol {
            r["headers"] = json!({ "Sec-WebSocket-Protocol": SUBPROTOCOL });
        }
        r
    }

    async fn verify(&self, token: &str) -> Result<Option<UserToken>, StoreError> {
        let Ok(tenant) = UserToken::claimed_tenant(token) else {
            info!("connection refused: not a user token");
            return Ok(None);
        };
        let Some(secret) = self.users.user_token_secret(&tenant).await? else {
            info!("connection refused: the tenant has no user-token secret");
            return Ok(None);
        };
        Ok(UserToken::verify(token, &secret, self.clock.now())
            .inspect_err(|e| info!(reason = %e, "connection refused"))
            .ok())
    }

    /// A client's message, answered.
    async fn message(&self, connection: &str, body: Option<&str>) -> Value {
        let Some(message) = body.and_then(|b| serde_json::from_str::<Value>(b).ok()) else {
            return error(
                "bad_request",
                "send JSON: {\"action\": \"ack\" | \"seen\" | \"read\" | \"ping\", \"id\"?}",
            );
        };
        let action = message["action"].as_str().unwrap_or_default();
        if action == "ping" {
            return json!({"type": "pong"});
        }
        let mark = match action {
            "ack" => None,
            "seen" => Some(Mark::Seen),
            "read" => Some(Mark::Read),
            _ => return error("bad_request", "action must be ack, seen, read or ping"),
        };
        let Some(id) = message["id"].as_str().and_then(NotificationId::parse) else {
            return error(
                "bad_request",
                "id must be the item's (its notification's) id",
            );
        };
        let now = self.clock.now();
        let c = match self.connections.connection(connection, now).await {
            Ok(Some(c)) => c,
            Ok(None) => return error("not_connected", "this connection is not known: reconnect"),
            Err(e) => return unavailable(e),
        };
        let (inbox, tenant, user) = (self.inbox.as_ref(), &c.tenant, &c.user);
        let Some(mark) = mark else {
            return match inbox.item(tenant, user, &id, now).await {
                Ok(Some(item)) => {
                    inbox::delivered(
                        inbox,
                        self.notifications.as_ref(),
                        tenant,
                        user,
                        &[item],
                        now,
                    )
                    .await;
                    json!({"type": "ack", "id": id})
                }
                Ok(None) => error("not_found", format!("no inbox item {id}")),
                Err(e) => unavailable(e),
            };
        };
        let marked = match inbox::mark(inbox, tenant, user, &id, mark, now).await {
            Ok(Some(marked)) => marked,
            Ok(None) => return error("not_found", format!("no inbox item {id}")),
            Err(e) => return unavailable(e),
        };
        if mark == Mark::Read
            && let Err(e) = notify_shared::routing::read(
                self.notifications.as_ref(),
                self.routes.as_ref(),
                tenant,
                &id,
                Some(user),
                now,
            )
            .await
        {
            return unavailable(e);
        }
        let counts = match inbox.counts(tenant, user).await {
            Ok(c) => c,
            Err(e) => return unavailable(e),
        };
        let mut answer = json!({"type": "marked", "item": marked.item});
        if let (Value::Object(a), Value::Object(c)) = (&mut answer, inbox::counts_view(counts)) {
            a.extend(c);
        }
        answer
    }
}
