//! Push through the Firebase Cloud Messaging HTTP v1 API. Android, iOS (APNs) and web devices
//! are all reached through FCM, each with its own block in the message.
//!
//! Authentication is OAuth 2.0 with a Google service-account key: a JWT signed with the key is
//! exchanged for an access token (the JWT bearer grant), which is cached until shortly before
//! it expires.

use std::{
    fmt,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{ErrorKind, Provider, ProviderError, Receipt, parse_retry_after};
use crate::{
    clock::Clock,
    config::{ConfigError, Env},
    domain::{Address, Channel, Content, Notification, Priority, PushContent, Recipient},
    store::DeviceRegistry,
};

/// FCM's limit on a message's payload (its `notification` and `data`)
/// (<https://firebase.google.com/docs/cloud-messaging/concept-options#notifications_and_data_messages>).
pub const MAX_PAYLOAD_BYTES: usize = 4096;
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A token is renewed this long before it expires, so no request carries an expired one.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

/// A Google service-account key, as the Firebase console downloads it.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl fmt::Debug for ServiceAccount {
    // The private key never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ServiceAccount {
    pub fn parse(json: &str) -> Result<Self, String> {
        let account: Self =
            serde_json::from_str(json).map_err(|e| format!("not a service-account key: {e}"))?;
        if !account.private_key.contains("PRIVATE KEY") {
            return Err("private_key is not a PEM private key".into());
        }
        Ok(account)
    }
}

/// Where the service-account key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// A Secrets Manager secret (name or ARN) whose string is the key's JSON.
    Secret(String),
    /// A file holding the key's JSON.
    File(PathBuf),
}

/// The push worker's FCM configuration, before the key is loaded.
#[derive(Debug, Clone)]
pub struct FcmConfig {
    pub credentials: CredentialsSource,
    /// Defaults to the key's `project_id`.
    pub project_id: Option<String>,
    pub base_url: String,
    /// Defaults to the key's `token_uri`.
    pub token_url: Option<String>,
}

impl CredentialsSource {
    /// The variable that configured it, for error messages.
    pub fn var(&self) -> &'static str {
        match self {
            CredentialsSource::Secret(_) => "NOTIFY_FCM_CREDENTIALS_SECRET",
            CredentialsSource::File(_) => "NOTIFY_FCM_CREDENTIALS_FILE",
        }
    }
}

impl FcmConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let secret = env.optional("NOTIFY_FCM_CREDENTIALS_SECRET");
        let file = env.optional("NOTIFY_FCM_CREDENTIALS_FILE");
        let credentials = match (secret, file) {
            (Some(s), None) => CredentialsSource::Secret(s.to_owned()),
            (None, Some(f)) => CredentialsSource::File(PathBuf::from(f)),
            (Some(_), Some(_)) => {
                return Err(Env::malformed(
                    "NOTIFY_FCM_CREDENTIALS_SECRET",
                    "set it or NOTIFY_FCM_CREDENTIALS_FILE, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::Missing("NOTIFY_FCM_CREDENTIALS_SECRET".into()));
            }
        };
        let url = |var: &str| -> Result<Option<String>, ConfigError> {
            match env.optional(var) {
                Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                    Ok(Some(u.trim_end_matches('/').to_owned()))
                }
                Some(_) => Err(Env::malformed(var, "must be an http(s) URL")),
                None => Ok(None),
            }
        };
        Ok(Self {
            credentials,
            project_id: env.optional("NOTIFY_FCM_PROJECT_ID").map(str::to_owned),
            base_url: url("NOTIFY_FCM_BASE_URL")?
                .unwrap_or_else(|| "https://fcm.googleapis.com".into()),
            token_url: url("NOTIFY_FCM_TOKEN_URL")?,
        })
    }

    /// Reads the key from its file or secret (once, at cold start).
    pub async fn load_account(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<ServiceAccount, ConfigError> {
        let (var, json) = match &self.credentials {
            CredentialsSource::File(path) => (
                "NOTIFY_FCM_CREDENTIALS_FILE",
                std::fs::read_to_string(path).map_err(|e| {
                    Env::malformed(
                        "NOTIFY_FCM_CREDENTIALS_FILE",
                        format!("{}: {e}", path.display()),
                    )
                })?,
            ),
            CredentialsSource::Secret(id) => {
                let out = secrets
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        Env::malformed(
                            "NOTIFY_FCM_CREDENTIALS_SECRET",
                            format!(
                                "cannot read secret {id}: {}",
                                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                            ),
                        )
                    })?;
                let json = out.secret_string.ok_or_else(|| {
                    Env::malformed(
                        "NOTIFY_FCM_CREDENTIALS_SECRET",
                        format!("secret {id} has no string value"),
                    )
                })?;
                ("NOTIFY_FCM_CREDENTIALS_SECRET", json)
            }
        };
        ServiceAccount::parse(&json).map_err(|e| Env::malformed(var, e))
    }
}

/// Where and as whom the provider talks to FCM.
#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub project_id: String,
    pub base_url: String,
    pub token_url: String,
    pub account: ServiceAccount,
}

impl FcmSettings {
    pub fn new(config: &FcmConfig, account: ServiceAccount) -> Self {
        Self {
            project_id: config
                .project_id
                .clone()
                .unwrap_or_else(|| account.project_id.clone()),
            base_url: config.base_url.clone(),
            token_url: config
                .token_url
                .clone()
                .unwrap_or_else(|| account.token_uri.clone()),
            account,
        }
    }
}

/// The data key carrying the notification's id, so an app can acknowledge an open
/// (`POST /v1/notifications/{id}/read`).
pub const NOTIFICATION_ID_KEY: &str = "notificationId";

/// The parts of a message FCM counts towards its payload limit; `id` joins the data.
fn payload(c: &PushContent, id: &str) -> Map<String, Value> {
    let mut message = Map::new();
    let mut notification = Map::new();
    if let Some(t) = &c.title {
        notification.insert("title".into(), json!(t));
    }
    if let Some(b) = &c.body {
        notification.insert("body".into(), json!(b));
    }
    if let Some(i) = &c.image_url {
        notification.insert("image".into(), json!(i));
    }
    if !notification.is_empty() {
        message.insert("notification".into(), Value::Object(notification));
    }
    let mut data = Map::new();
    for (k, v) in &c.data {
        data.insert(k.clone(), json!(v));
    }
    data.insert(NOTIFICATION_ID_KEY.into(), json!(id));
    message.insert("data".into(), Value::Object(data));
    message
}

/// Bytes of the payload FCM limits to [`MAX_PAYLOAD_BYTES`].
pub fn payload_size(c: &PushContent) -> usize {
    // Counted with an id of the length every notification id has (a UUID).
    let id = "00000000-0000-0000-0000-000000000000";
    serde_json::to_vec(&Value::Object(payload(c, id))).map_or(usize::MAX, |v| v.len())
}

/// The `messages:send` body for one device: the payload, and the Android, APNs and web push
/// blocks carrying priority, time to live, collapse key, badge and sound.
pub fn fcm_message(
    c: &PushContent,
    id: &str,
    priority: Priority,
    token: &str,
    now_secs: i64,
) -> Value {
    let mut message = payload(c, id);
    message.insert("token".into(), json!(token));
    let high = priority == Priority::High;
    let alert = c.title.is_some() || c.body.is_some();

    let mut android = Map::new();
    android.insert(
        "priority".into(),
        json!(if high { "HIGH" } else { "NORMAL" }),
    );
    if let Some(ttl) = c.ttl_seconds {
        android.insert("ttl".into(), json!(format!("{ttl}s")));
    }
    if let Some(k) = &c.collapse_key {
        android.insert("collapse_key".into(), json!(k));
    }
    if let Some(s) = &c.sound {
        android.insert("notification".into(), json!({ "sound": s }));
    }

    // A push without title or body is a background update on iOS: it must say so and go at
    // priority 5 (https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns).
    let mut headers = Map::new();
    headers.insert(
        "apns-push-type".into(),
        json!(if alert { "alert" } else { "background" }),
    );
    headers.insert(
        "apns-priority".into(),
        json!(if high && alert { "10" } else { "5" }),
    );
    if let Some(k) = &c.collapse_key {
        headers.insert("apns-collapse-id".into(), json!(k));
    }
    if let Some(ttl) = c.ttl_seconds {
        headers.insert(
            "apns-expiration".into(),
            json!((now_secs + i64::from(ttl)).to_string()),
        );
    }
    let mut aps = Map::new();
    if let Some(b) = c.badge {
        aps.insert("badge".into(), json!(b));
    }
    if let Some(s) = &c.sound {
        aps.insert("sound".into(), json!(s));
    }
    if !alert {
        aps.insert("content-available".into(), json!(1));
    }
    let mut apns = json!({ "headers": headers, "payload": { "aps": aps } });
    if let Some(i) = &c.image_url {
        apns["payload"]["aps"]["mutable-content"] = json!(1);
        apns["fcm_options"] = json!({ "image": i });
    }

    let urgency = match priority {
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
    };
    let mut webpush_headers = Map::new();
    webpush_headers.insert("Urgency".into(), json!(urgency));
    if let Some(ttl) = c.ttl_seconds {
        webpush_headers.insert("TTL".into(), json!(ttl.to_string()));
    }

    message.insert("android".into(), Value::Object(android));
    message.insert("apns".into(), apns);
    message.insert("webpush".into(), json!({ "headers": webpush_headers }));
    json!({ "message": message })
}

/// An FCM error: the HTTP status, the FCM error code from the details, and whether the
/// request's token is what was wrong
/// (<https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>).
pub fn classify_error(status: u16, body: &str, retry_after: Option<Duration>) -> ProviderError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let fcm_code = details
        .iter()
        .find_map(|d| d["errorCode"].as_str())
        .or_else(|| error["status"].as_str())
        .unwrap_or("UNKNOWN")
        .to_owned();
    let token_field = details.iter().any(|d| {
        d["fieldViolations"].as_array().is_some_and(|v| {
            v.iter()
                .any(|f| f["field"].as_str() == Some("message.token"))
        })
    });
    let message = error["message"]
        .as_str()
        .map_or_else(|| format!("HTTP {status}"), str::to_owned);
    let kind = match (fcm_code.as_str(), status) {
        ("UNREGISTERED", _) | ("SENDER_ID_MISMATCH", _) => ErrorKind::TargetGone,
        ("INVALID_ARGUMENT", _) if token_field => ErrorKind::TargetGone,
        ("QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL", _) => ErrorKind::Transient { retry_after },
        (_, 429) | (_, 500..) => ErrorKind::Transient { retry_after },
        _ => ErrorKind::Permanent,
    };
    ProviderError {
        kind,
        code: fcm_code,
        message,
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

struct AccessToken {
    value: String,
    renew_at: Instant,
}

/// Push to every registered device of a user (or one token) through FCM.
pub struct FcmPushProvider {
    http: reqwest::Client,
    settings: FcmSettings,
    signing_key: jsonwebtoken::EncodingKey,
    token: Mutex<Option<AccessToken>>,
    devices: Arc<dyn DeviceRegistry>,
    clock: Arc<dyn Clock>,
}

impl FcmPushProvider {
    pub fn new(
        settings: FcmSettings,
        devices: Arc<dyn DeviceRegistry>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let signing_key =
            jsonwebtoken::EncodingKey::from_rsa_pem(settings.account.private_key.as_bytes())
                .map_err(|e| format!("the service-account private key cannot be used: {e}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            settings,
            signing_key,
            token: Mutex::new(None),
            devices,
            clock,
        })
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    async fn access_token(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let now = self.clock.now().as_seconds();
        let claims = Claims {
            iss: &self.settings.account.client_email,
            scope: SCOPE,
            aud: &self.settings.token_url,
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.settings.account.private_key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.signing_key).map_err(|e| {
            ProviderError::permanent(
                "FcmAuthFailed",
                format!("cannot sign the token request: {e}"),
            )
        })?;
        let response = self
            .http
            .post(&self.settings.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| ProviderError::transient("FcmAuthUnavailable", e.to_string()))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        // A refused grant (revoked key, wrong clock) is retried too: once the operator fixes
        // the key, the messages still queued or re-driven go out.
        if !status.is_success() {
            return Err(ProviderError::transient(
                "FcmAuthFailed",
                format!("the token endpoint answered {status}: {body}"),
            ));
        }
        #[derive(Deserialize)]
        struct Grant {
            access_token: String,
            #[serde(default = "an_hour")]
            expires_in: u64,
        }
        fn an_hour() -> u64 {
            3600
        }
        let grant: Grant = serde_json::from_str(&body).map_err(|e| {
            ProviderError::transient("FcmAuthFailed", format!("unusable token response: {e}"))
        })?;
        let lifetime = Duration::from_secs(grant.expires_in).saturating_sub(TOKEN_MARGIN);
        info!(
            valid_for_s = lifetime.as_secs(),
            "obtained an FCM access token"
        );
        *cached = Some(AccessToken {
            value: grant.access_token.clone(),
            renew_at: Instant::now() + lifetime,
        });
        Ok(grant.access_token)
    }

    async fn post(&self, message: &Value) -> Result<reqwest::Response, ProviderError> {
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.settings.base_url, self.settings.project_id
        );
        let token = self.access_token().await?;
        self.http
            .post(&url)
            .bearer_auth(token)
            .json(message)
            .send()
            .await
            .map_err(|e| ProviderError::transient("NetworkError", e.to_string()))
    }
}

#[async_trait]
impl Provider for FcmPushProvider {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    async fn targets(&self, n: &Notification) -> Result<Vec<Address>, ProviderError> {
        let Recipient::User(user) = &n.recipient else {
            return Ok(n.recipient.address().into_iter().collect());
        };
        let devices = self
            .devices
            .devices(&n.tenant, user, self.clock.now())
            .await
            .map_err(|e| ProviderError::transient("DeviceRegistryUnavailable", e.to_string()))?;
        Ok(devices
            .into_iter()
            .map(|d| Address::Device {
                token: d.token,
                platform: Some(d.platform),
            })
            .collect())
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let (Address::Device { token, .. }, Content::Push(content)) = (to, &n.content) else {
            return Err(ProviderError::permanent(
                "WrongChannel",
                "FCM sends push notifications only",
            ));
        };
        let message = fcm_message(
            content,
            n.id.as_str(),
            n.priority,
            token.as_str(),
            self.clock.now().as_seconds(),
        );
        let mut response = self.post(&message).await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // The token was revoked or expired early: get a new one and try once more.
            warn!("FCM refused the access token; renewing it");
            *self.token.lock().await = None;
            response = self.post(&message).await?;
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, self.clock.now()));
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(classify_error(status.as_u16(), &body, retry_after));
        }
        #[derive(Deserialize)]
        struct Sent {
            name: String,
        }
        let sent: Sent = serde_json::from_str(&body).map_err(|e| {
            ProviderError::permanent(
                "UnusableResponse",
                format!("FCM accepted but answered {body:?}: {e}"),
            )
        })?;
        Ok(Receipt {
            message_id: sent.name,
            response: None,
        })
    }

    async fn forget(&self, n: &Notification, to: &Address) {
        let Address::Device { token, .. } = to else {
            return;
        };
        match self.devices.forget_token(&n.tenant, token).await {
            Ok(removed) => {
                info!(token = %token.masked(), removed, "removed an unregistered device token")
            }
            Err(e) => {
                warn!(token = %token.masked(), error = %e, "could not remove an unregistered device token")
            }
        }
    }
}

/// The data keys FCM reserves (<https://firebase.google.com/docs/cloud-messaging/concept-options>).
pub fn is_reserved_data_key(key: &str) -> bool {
    matches!(
        key,
        "from" | "notification" | "message_type" | "collapse_key"
    ) || key.starts_with("google.")
        || key.starts_with("gcm.")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn content() -> PushContent {
        PushContent {
            title: Some("Your order".into()),
            body: Some("It shipped".into()),
            data: BTreeMap::from([("orderId".into(), "42".into())]),
            image_url: Some("https://example.com/p.png".into()),
            badge: Some(3),
            sound: Some("default".into()),
            collapse_key: Some("order-42".into()),
            ttl_seconds: Some(3600),
        }
    }

    #[test]
    fn a_message_carries_the_android_apns_and_webpush_blocks() {
        let m = fcm_message(&content(), "n-1", Priority::High, "tok", 1_000);
        let msg = &m["message"];
        assert_eq!(
            msg["data"]["notificationId"], "n-1",
            "for the app's read acknowledgement"
        );
        assert_eq!(msg["token"], "tok");
        assert_eq!(msg["notification"]["title"], "Your order");
        assert_eq!(msg["notification"]["image"], "https://example.com/p.png");
        assert_eq!(msg["data"]["orderId"], "42");
        assert_eq!(msg["android"]["priority"], "HIGH");
        assert_eq!(msg["android"]["ttl"], "3600s");
        assert_eq!(msg["android"]["collapse_key"], "order-42");
        assert_eq!(msg["apns"]["headers"]["apns-priority"], "10");
        assert_eq!(msg["apns"]["headers"]["apns-expiration"], "4600");
        assert_eq!(msg["apns"]["headers"]["apns-collapse-id"], "order-42");
        assert_eq!(msg["apns"]["payload"]["aps"]["badge"], 3);
        assert_eq!(msg["apns"]["payload"]["aps"]["mutable-content"], 1);
        assert_eq!(
            msg["apns"]["fcm_options"]["image"],
            "https://example.com/p.png"
        );
        assert_eq!(msg["webpush"]["headers"]["Urgency"], "high");
        assert_eq!(msg["webpush"]["headers"]["TTL"], "3600");
    }

    #[test]
    fn a_data_only_push_is_a_background_update_on_ios() {
        let c = PushContent {
            data: BTreeMap::from([("sync".into(), "1".into())]),
            ..Default::default()
        };
        let m = fcm_message(&c, "n-1", Priority::High, "tok", 0);
        let apns = &m["message"]["apns"];
        assert_eq!(apns["headers"]["apns-push-type"], "background");
        assert_eq!(apns["headers"]["apns-priority"], "5");
        assert_eq!(apns["payload"]["aps"]["content-available"], 1);
        assert!(m["message"].get("notification").is_none());
    }

    #[test]
    fn the_payload_size_counts_notification_and_data() {
        let small = content();
        assert!(payload_size(&small) < 200);
        let mut big = content();
        big.data
            .insert("blob".into(), "x".repeat(MAX_PAYLOAD_BYTES));
        assert!(payload_size(&big) > MAX_PAYLOAD_BYTES);
    }

    fn fcm_error(status: u16, code: &str, field: Option<&str>) -> String {
        let mut details = vec![
            json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}),
        ];
        if let Some(f) = field {
            details.push(json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": f, "description": "bad"}]}));
        }
        json!({"error": {"code": status, "message": "m", "status": code, "details": details}})
            .to_string()
    }

    #[test]
    fn fcm_errors_are_classified() {
        let gone = classify_error(404, &fcm_error(404, "UNREGISTERED", None), None);
        assert_eq!(
            (gone.kind, gone.code.as_str()),
            (ErrorKind::TargetGone, "UNREGISTERED")
        );
        let bad_token = classify_error(
            400,
            &fcm_error(400, "INVALID_ARGUMENT", Some("message.token")),
            None,
        );
        assert_eq!(bad_token.kind, ErrorKind::TargetGone);
        let bad_payload = classify_error(
            400,
            &fcm_error(400, "INVALID_ARGUMENT", Some("message.data")),
            None,
        );
        assert_eq!(bad_payload.kind, ErrorKind::Permanent);
        let wait = Some(Duration::from_secs(7));
        for (status, code) in [
            (429, "QUOTA_EXCEEDED"),
            (503, "UNAVAILABLE"),
            (500, "INTERNAL"),
        ] {
            let e = classify_error(status, &fcm_error(status, code, None), wait);
            assert_eq!(e.kind, ErrorKind::Transient { retry_after: wait }, "{code}");
        }
        let html = classify_error(502, "<html>bad gateway</html>", None);
        assert!(html.is_transient());
        let auth = classify_error(401, &fcm_error(401, "THIRD_PARTY_AUTH_ERROR", None), None);
        assert_eq!(auth.kind, ErrorKind::Permanent);
    }

    #[test]
    fn the_private_key_is_never_shown() {
        let a = ServiceAccount::parse(
            r#"{"project_id":"p","client_email":"c@p.iam","private_key":"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"}"#,
        )
        .unwrap();
        assert!(!format!("{a:?}").contains("secret"));
        assert_eq!(a.token_uri, "https://oauth2.googleapis.com/token");
        assert!(
            ServiceAccount::parse(r#"{"project_id":"p","client_email":"c","private_key":"nope"}"#)
                .is_err()
        );
    }

    #[test]
    fn credentials_come_from_exactly_one_place() {
        let both = Env::from_pairs([
            ("NOTIFY_FCM_CREDENTIALS_SECRET", "s"),
            ("NOTIFY_FCM_CREDENTIALS_FILE", "f"),
        ]);
        assert!(FcmConfig::from_env(&both).is_err());
        let none = Env::from_pairs::<&str, &str>([]);
        assert_eq!(
            FcmConfig::from_env(&none).unwrap_err(),
            ConfigError::Missing("NOTIFY_FCM_CREDENTIALS_SECRET".into())
        );
        let ok = Env::from_pairs([
            ("NOTIFY_FCM_CREDENTIALS_FILE", "/k.json"),
            ("NOTIFY_FCM_BASE_URL", "http://127.0.0.1:1/"),
        ]);
        let c = FcmConfig::from_env(&ok).unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:1");
        assert_eq!(c.credentials, CredentialsSource::File("/k.json".into()));
    }
}
