//! A webhook receiver on loopback, for `make dev` and the tests: it accepts every POST to any
//! path, verifies its Standard Webhooks signature against the secrets it knows, records it,
//! and answers `200 {"received": true}` unless told otherwise.
//!
//! Control endpoints:
//! - `GET /_receiver/requests`: what arrived, oldest first, each with whether its signature
//!   verified (and with which secret's owner);
//! - `POST /_receiver/script` `{"path": "/hooks/orders", "responses": [{"status": 503,
//!   "retryAfter": 1, "delayMs": 0, "location": null}, …]}`: the next deliveries to that path
//!   answer these, in order (a delay makes the receiver slow; a location makes a redirect).
//!
//! Where the secrets come from is the caller's choice ([`SecretSource`]): `make dev` reads
//! every webhook secret in the local table, so an endpoint registered through the API is
//! verified without further setup.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::Response,
};
use notify_shared::{
    clock::{Clock, SystemClock},
    domain::time::Timestamp,
    webhook::{self, SigningSecrets, WebhookSecret},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::Recorder;

/// Secrets a delivery may be signed with, each with a label saying whose it is.
#[async_trait]
pub trait SecretSource: Send + Sync + 'static {
    async fn secrets(&self) -> Vec<(String, WebhookSecret)>;
}

/// Secrets given by hand (tests).
#[derive(Default, Clone)]
pub struct KnownSecrets(Arc<Mutex<Vec<(String, WebhookSecret)>>>);

impl KnownSecrets {
    pub fn add(&self, label: &str, secret: WebhookSecret) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((label.to_owned(), secret));
    }
}

#[async_trait]
impl SecretSource for KnownSecrets {
    async fn secrets(&self) -> Vec<(String, WebhookSecret)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Every webhook secret in a table (endpoints' and tenants' signing secrets, the current and
/// any previous one still signing): what `make dev` and the tests verify deliveries with. A
/// scan on each delivery: fine for a local table, never for a deployed one.
pub struct TableSecrets {
    client: aws_sdk_dynamodb::Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl TableSecrets {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self {
            client: aws_sdk_dynamodb::Client::new(sdk),
            table: table.to_owned(),
            clock: Arc::new(SystemClock),
        }
    }
}

#[async_trait]
impl SecretSource for TableSecrets {
    async fn secrets(&self) -> Vec<(String, WebhookSecret)> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = match self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("attribute_exists(secrets)")
                .set_exclusive_start_key(start.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "could not read the webhook secrets");
                    return out;
                }
            };
            for mut item in page.items.unwrap_or_default() {
                let label = match item.get("name").and_then(|v| v.as_s().ok()) {
                    Some(name) => format!("endpoint {name}"),
                    None => "the tenant's signing secret".to_owned(),
                };
                let Some(secrets) = item
                    .remove("secrets")
                    .and_then(|v| serde_dynamo::from_attribute_value::<_, SigningSecrets>(v).ok())
                else {
                    continue;
                };
                for secret in secrets.signing(self.clock.now()) {
                    out.push((label.clone(), secret.clone()));
                }
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return out,
            }
        }
    }
}

/// One scripted answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub status: u16,
    /// Seconds, sent as `Retry-After`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How long to wait before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Sent as `Location` (with a 3xx, a redirect the worker must not follow).
    #[serde(default)]
    pub location: Option<String>,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}

/// A delivery as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedWebhook {
    pub path: String,
    /// Every header, names lower-case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
    /// Whose secret verified the signature, if any did.
    pub verified_by: Option<String>,
    /// Why it did not verify.
    pub verify_error: Option<String>,
}

impl ReceivedWebhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone)]
pub struct WebhookReceiver {
    log: Arc<Recorder<ReceivedWebhook, Answer>>,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
}

impl WebhookReceiver {
    pub fn new(secrets: Arc<dyn SecretSource>) -> Self {
        Self {
            log: Arc::default(),
            secrets,
            clock: Arc::new(SystemClock),
        }
    }

    /// The next deliveries to `path` answer `answers`, in order.
    pub fn script(&self, path: &str, answers: Vec<Answer>) {
        self.log.script(path, answers);
    }

    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.log.received()
    }

    pub fn received_at(&self, path: &str) -> Vec<ReceivedWebhook> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Serves on `addr` (port 0 picks a free one) until the task is dropped.
    pub async fn serve(
        self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        crate::http::serve(
            addr,
            Router::new().fallback(handle).with_state(self),
            "the webhook receiver",
        )
        .await
    }

    async fn verify(
        &self,
        headers: &HashMap<String, String>,
        body: &str,
    ) -> (Option<String>, Option<String>) {
        let now: Timestamp = self.clock.now();
        let mut last = "no secret is known for it".to_owned();
        for (label, secret) in self.secrets.secrets().await {
            match webhook::verify(
                &secret,
                headers.get("webhook-id").map(String::as_str),
                headers.get("webhook-timestamp").map(String::as_str),
                headers.get("webhook-signature").map(String::as_str),
                body,
                now,
            ) {
                Ok(()) => return (Some(label), None),
                Err(e) => last = e.to_string(),
            }
        }
        (None, Some(last))
    }

    async fn deliver(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        let answer = self
            .log
            .next_answer(path)
            .unwrap_or_else(|| Answer::status(200));
        if let Some(ms) = answer.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let headers: HashMap<String, String> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = String::from_utf8_lossy(body).into_owned();
        let (verified_by, verify_error) = self.verify(&headers, &body).await;
        self.log.record(ReceivedWebhook {
            path: path.to_owned(),
            headers,
            body,
            answered: answer.status,
            verified_by,
            verify_error,
        });
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        let mut response = crate::http::json(
            status,
            json!({ "received": status.is_success() }),
            answer.retry_after,
        );
        if let Some(location) = answer.location
            && let Ok(v) = location.parse()
        {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
    }
}

async fn handle(
    State(r): State<WebhookReceiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    match (&method, path.as_str()) {
        (&Method::GET, "/_receiver/requests") => {
            crate::http::json(StatusCode::OK, json!(r.received()), None)
        }
        (&Method::POST, "/_receiver/script") => r.log.script_request("path", &body),
        (&Method::POST, _) => r.deliver(&path, &headers, &body).await,
        _ => crate::http::json(
            StatusCode::METHOD_NOT_ALLOWED,
            Value::String("deliveries are POSTs".into()),
            None,
        ),
    }
}
