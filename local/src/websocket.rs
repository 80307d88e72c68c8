//! A stand-in for API Gateway's WebSocket API on loopback, in front of the realtime function:
//!
//! - a client connects to `ws://{addr}/` (the token in `?token=` or in
//!   `Sec-WebSocket-Protocol`); the function hears `$connect` with the request's query and
//!   headers, and the connection opens only if it answers 2xx (selecting the subprotocol it
//!   names in its answer's `Sec-WebSocket-Protocol`);
//! - each text message is routed by its `action` (`ack`, `seen`, `read`, `ping`, else
//!   `$default`), and the function's answer body is sent back on the connection (a route
//!   response);
//! - a closed connection is `$disconnect`;
//! - the management API at the same address: `POST /@connections/{id}` sends the body to the
//!   connection (`410 Gone`, `GoneException`, when it is not open), `DELETE` closes it,
//!   `GET` describes it; what the in-app worker's AWS SDK client calls.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::{
        Path, RawQuery, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The routes a message's `action` selects, as the stack's route selection expression
/// (`$request.body.action`) and routes do.
pub const ROUTES: [&str; 4] = ["ack", "seen", "read", "ping"];

/// Runs the realtime function on one event and gives its answer.
#[async_trait]
pub trait InvokeJson: Send + Sync {
    async fn invoke_json(&self, event: &Value) -> Result<Value, String>;
}

#[async_trait]
impl InvokeJson for crate::lambda::LocalFunction {
    async fn invoke_json(&self, event: &Value) -> Result<Value, String> {
        crate::lambda::LocalFunction::invoke_json(self, event).await
    }
}

enum Out {
    Text(String),
    Close,
}

struct Inner {
    function: Arc<dyn InvokeJson>,
    open: Mutex<HashMap<String, (mpsc::UnboundedSender<Out>, i64)>>,
}

/// The stand-in; cheap to clone.
#[derive(Clone)]
pub struct WebSocketStandIn {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl WebSocketStandIn {
    pub fn new(function: Arc<dyn InvokeJson>) -> Self {
        Self {
            inner: Arc::new(Inner {
                function,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Serves it on `addr` until the task is dropped.
    pub async fn serve(
        self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let app = Router::new()
            .route("/", get(upgrade))
            .route(
                "/@connections/{id}",
                post(post_to).delete(close).get(describe),
            )
            .with_state(self);
        crate::http::serve(addr, app, "WebSocket stand-in").await
    }

    /// The connections open now.
    pub fn open_connections(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (mpsc::UnboundedSender<Out>, i64)>> {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn event(&self, route: &str, connection: &str, extra: Value) -> Value {
        let event_type = match route {
            "$connect" => "CONNECT",
            "$disconnect" => "DISCONNECT",
            _ => "MESSAGE",
        };
        let mut event = json!({
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "connectionId": connection,
                "stage": "local",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "requestTimeEpoch": now_ms(),
                "connectedAt": self.lock().get(connection).map(|(_, at)| *at).unwrap_or_else(now_ms),
                "messageDirection": "IN",
            },
            "isBase64Encoded": false,
        });
        if let (Value::Object(e), Value::Object(x)) = (&mut event, extra) {
            e.extend(x);
        }
        event
    }

    async fn invoke(&self, event: &Value) -> Option<Value> {
        match self.inner.function.invoke_json(event).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::warn!(error = %e, "the realtime function failed");
                None
            }
        }
    }

    /// One open connection: what the function sends it, and its messages to the function.
    async fn run(self, socket: WebSocket, id: String, mut out: mpsc::UnboundedReceiver<Out>) {
        let (mut sink, mut stream) = futures::StreamExt::split(socket);
        use futures::{SinkExt, StreamExt};
        loop {
            tokio::select! {
                sent = out.recv() => match sent {
                    Some(Out::Text(text)) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Out::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                },
                received = stream.next() => match received {
                    Some(Ok(Message::Text(text))) => {
                        let text = text.to_string();
                        let route = serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v["action"].as_str().map(str::to_owned))
                            .filter(|a| ROUTES.contains(&a.as_str()))
                            .unwrap_or_else(|| "$default".to_owned());
                        let event = self.event(&route, &id, json!({"body": text}));
                        if let Some(body) = self
                            .invoke(&event)
                            .await
                            .and_then(|a| a["body"].as_str().map(str::to_owned))
                            && sink.send(Message::Text(body.into())).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                },
            }
        }
        self.lock().remove(&id);
        let event = self.event("$disconnect", &id, json!({}));
        self.invoke(&event).await;
    }
}

/// API Gateway's connection ids: 16 random bytes, base64 (with `=`), made URL-safe here.
fn connection_id() -> String {
    let bytes: [u8; 12] = rand::random();
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

async fn upgrade(
    State(front): State<WebSocketStandIn>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = connection_id();
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_owned(),
                Value::String(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let query: serde_json::Map<String, Value> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
    let query = if query.is_empty() {
        Value::Null
    } else {
        Value::Object(query)
    };
    let event = front.event(
        "$connect",
        &id,
        json!({"headers": header_map, "queryStringParameters": query}),
    );
    let Some(answer) = front.invoke(&event).await else {
        return (StatusCode::BAD_GATEWAY, "the realtime function failed").into_response();
    };
    let status = answer["statusCode"].as_u64().unwrap_or(502) as u16;
    if !(200..300).contains(&status) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return (status, "connection refused").into_response();
    }
    let protocol = answer["headers"]
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
        })
        .and_then(|(_, v)| v.as_str())
        .map(str::to_owned);
    let ws = match protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    let (sender, receiver) = mpsc::unbounded_channel();
    front.lock().insert(id.clone(), (sender, now_ms()));
    ws.on_upgrade(move |socket| front.run(socket, id, receiver))
}

fn gone(id: &str) -> Response {
    let mut r = crate::http::json(
        StatusCode::GONE,
        json!({"message": format!("connection {id} is gone")}),
        None,
    );
    if let Ok(v) = "GoneException".parse() {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

async fn post_to(
    State(front): State<WebSocketStandIn>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let sent = front
        .lock()
        .get(&id)
        .is_some_and(|(s, _)| s.send(Out::Text(text)).is_ok());
    if sent {
        StatusCode::OK.into_response()
    } else {
        gone(&id)
    }
}

async fn close(State(front): State<WebSocketStandIn>, Path(id): Path<String>) -> Response {
    match front.lock().remove(&id) {
        Some((s, _)) => {
            let _ = s.send(Out::Close);
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(&id),
    }
}

async fn describe(State(front): State<WebSocketStandIn>, Path(id): Path<String>) -> Response {
    match front.lock().get(&id).map(|(_, at)| *at) {
        Some(at) => crate::http::json(
            StatusCode::OK,
            json!({"connectedAt": at, "identity": {"sourceIp": "127.0.0.1"}}),
            None,
        ),
        None => gone(&id),
    }
}
