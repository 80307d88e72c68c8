//! A stand-in for the two FCM HTTP v1 endpoints the push worker calls, on loopback:
//!
//! - `POST /token`: Google's OAuth token endpoint. It checks the JWT bearer grant as Google
//!   does (RS256 signature by the service account's key, issuer, audience, scope, expiry)
//!   and issues an access token valid for an hour.
//! - `POST /v1/projects/{project}/messages:send`: checks the access token and the message,
//!   records it, and answers `{"name": …}`, unless told to answer an error for that token.
//!
//! Control endpoints for tests and `make dev`:
//! - `GET /_standin/messages`: what was accepted, oldest first;
//! - `POST /_standin/script` `{"token": …, "responses": [{"status": 503, "errorCode":
//!   "UNAVAILABLE", "retryAfter": 1}, …]}`: the next sends to that token answer these;
//! - `GET /_standin/stats`: how many access tokens were granted.
//!
//! Tokens starting with `unregistered-` always answer `UNREGISTERED`, for trying the device
//! clean-up by hand.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::Response,
};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A throwaway service-account key for local use: the JSON the push worker reads, in Google's
/// format, and the public half the stand-in verifies grants with.
pub struct DevCredentials {
    pub account_json: String,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl DevCredentials {
    /// A fresh RSA-2048 key for `project_id`, whose grants go to `token_uri`.
    pub fn generate(project_id: &str, token_uri: &str) -> Result<Self, String> {
        let key = KeyPair::generate(KeySize::Rsa2048).map_err(|_| "RSA key generation failed")?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
            .map_err(|_| "PKCS#8 export failed")?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let account = json!({
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": "local-dev-key",
            "private_key": pem,
            "client_email": format!("notify-local@{project_id}.iam.gserviceaccount.com"),
            "token_uri": token_uri,
        });
        Ok(Self::of(account.to_string(), &key))
    }

    fn of(account_json: String, key: &KeyPair) -> Self {
        let public = key.public_key();
        Self {
            account_json,
            modulus: public.modulus().big_endian_without_leading_zero().to_vec(),
            exponent: public.exponent().big_endian_without_leading_zero().to_vec(),
        }
    }

    /// The credentials of an existing key JSON (the public half derived from the private key).
    pub fn from_json(account_json: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(account_json).map_err(|e| e.to_string())?;
        let pem = v["private_key"].as_str().ok_or("no private_key")?;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?;
        let key = KeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
        Ok(Self::of(account_json.to_owned(), &key))
    }

    fn field(&self, name: &str) -> String {
        serde_json::from_str::<Value>(&self.account_json)
            .ok()
            .and_then(|v| v[name].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One scripted answer to a send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scripted {
    pub status: u16,
    /// The FCM error code (`UNREGISTERED`, `UNAVAILABLE`, `QUOTA_EXCEEDED`, …).
    pub error_code: String,
    /// Seconds, sent as `Retry-After`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// A field violation to report (`message.token` makes INVALID_ARGUMENT a bad token).
    #[serde(default)]
    pub field: Option<String>,
}

impl Scripted {
    pub fn error(status: u16, code: &str) -> Self {
        Self {
            status,
            error_code: code.into(),
            retry_after: None,
            field: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// A message FCM accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceivedPush {
    /// The id returned (`projects/<p>/messages/<n>`).
    pub name: String,
    pub token: String,
    /// The `message` object as sent.
    pub message: Value,
}

#[derive(Default)]
struct Inner {
    access_tokens: HashMap<String, Instant>,
    grants: usize,
}

/// The stand-in's state; clone it to keep a handle on a running server.
#[derive(Clone)]
pub struct FcmStandIn {
    inner: Arc<Mutex<Inner>>,
    log: Arc<crate::http::Recorder<ReceivedPush, Scripted>>,
    verifier: Arc<DecodingKey>,
    client_email: String,
    token_uri: String,
    project_id: String,
}

impl FcmStandIn {
    pub fn new(credentials: &DevCredentials) -> Self {
        Self {
            inner: Arc::default(),
            log: Arc::default(),
            verifier: Arc::new(DecodingKey::from_rsa_raw_components(
                &credentials.modulus,
                &credentials.exponent,
            )),
            client_email: credentials.field("client_email"),
            token_uri: credentials.field("token_uri"),
            project_id: credentials.field("project_id"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next sends to `token` answer `responses`, in order.
    pub fn script(&self, token: &str, responses: Vec<Scripted>) {
        self.log.script(token, responses);
    }

    pub fn received(&self) -> Vec<ReceivedPush> {
        self.log.received()
    }

    pub fn received_for(&self, token: &str) -> Vec<ReceivedPush> {
        self.received()
            .into_iter()
            .filter(|r| r.token == token)
            .collect()
    }

    /// How many access tokens were granted (the worker caches them).
    pub fn grants(&self) -> usize {
        self.lock().grants
    }

    /// Serves on `addr` (port 0 picks a free one) until the task is dropped.
    pub async fn serve(
        self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        crate::http::serve(
            addr,
            Router::new().fallback(handle).with_state(self),
            "the FCM stand-in",
        )
        .await
    }

    fn grant(&self, body: &[u8]) -> Response {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return oauth_error(
                "unsupported_grant_type",
                "grant_type must be the JWT bearer grant",
            );
        }
        let Some(assertion) = form.get("assertion") else {
            return oauth_error("invalid_request", "assertion is missing");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.token_uri]);
        validation.set_issuer(&[&self.client_email]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let claims = match jsonwebtoken::decode::<Value>(assertion, &self.verifier, &validation) {
            Ok(data) => data.claims,
            Err(e) => return oauth_error("invalid_grant", &format!("Invalid JWT: {e}")),
        };
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        if exp - iat > 3600 {
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: the lifetime exceeds one hour",
            );
        }
        if !claims["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| s == SCOPE))
        {
            return oauth_error("invalid_scope", "the firebase.messaging scope is required");
        }
        let token = format!("ya29.local-{}", uuid::Uuid::new_v4().simple());
        let mut inner = self.lock();
        inner.grants += 1;
        inner
            .access_tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(3600));
        crate::http::json(
            StatusCode::OK,
            json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
            None,
        )
    }

    fn send(&self, project: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let valid = bearer.is_some_and(|t| {
            self.lock()
                .access_tokens
                .get(t)
                .is_some_and(|exp| Instant::now() < *exp)
        });
        if !valid {
            return fcm_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                None,
                None,
            );
        }
        if project != self.project_id {
            return fcm_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                None,
                None,
            );
        }
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = parsed["message"].clone();
        let Some(token) = message["token"].as_str().map(str::to_owned) else {
            return fcm_error(
                400,
                "INVALID_ARGUMENT",
                "message.token is required",
                None,
                Some("message.token"),
            );
        };
        let payload = json!({"notification": message["notification"], "data": message["data"]});
        if serde_json::to_vec(&payload).map_or(0, |v| v.len()) > 4096 + 40 {
            return fcm_error(
                400,
                "INVALID_ARGUMENT",
                "Message is too big",
                None,
                Some("message"),
            );
        }
        if token.starts_with("unregistered-") {
            return fcm_error(
                404,
                "UNREGISTERED",
                "Requested entity was not found.",
                None,
                None,
            );
        }
        let scripted = self.log.next_answer(&token);
        if let Some(s) = scripted {
            return fcm_error(
                s.status,
                &s.error_code,
                "scripted by the test",
                s.retry_after,
                s.field.as_deref(),
            );
        }
        let name = self
            .log
            .record_numbered(|before| ReceivedPush {
                name: format!("projects/{project}/messages/{}", before + 1),
                token,
                message,
            })
            .name;
        crate::http::json(StatusCode::OK, json!({ "name": name }), None)
    }
}

async fn handle(
    State(s): State<FcmStandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["token"]) => s.grant(&body),
        (&Method::POST, ["v1", "projects", project, "messages:send"]) => {
            s.send(project, &headers, &body)
        }
        (&Method::GET, ["_standin", "messages"]) => {
            crate::http::json(StatusCode::OK, json!(s.received()), None)
        }
        (&Method::GET, ["_standin", "stats"]) => {
            crate::http::json(StatusCode::OK, json!({ "tokenGrants": s.grants() }), None)
        }
        (&Method::POST, ["_standin", "script"]) => s.log.script_request("token", &body),
        _ => fcm_error(
            404,
            "NOT_FOUND",
            &format!("no such endpoint: {method} {path}"),
            None,
            None,
        ),
    }
}

fn oauth_error(code: &str, description: &str) -> Response {
    crate::http::json(
        StatusCode::BAD_REQUEST,
        json!({ "error": code, "error_description": description }),
        None,
    )
}

/// An error in FCM's shape: a google.rpc.Status with an FcmError detail.
fn fcm_error(
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<u64>,
    field: Option<&str>,
) -> Response {
    let mut details = vec![json!({
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": code,
    })];
    if let Some(f) = field {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": f, "description": message }],
        }));
    }
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": { "code": status, "message": message, "status": code, "details": details } });
    crate::http::json(status_code, body, retry_after)
}
