//! Webhooks: an HTTPS POST of the notification's JSON payload, signed by the Standard
//! Webhooks specification, to a tenant's registered endpoint or to an inline URL.
//!
//! - `webhook-id` is the notification's id (stable across retries, so a receiver can drop
//!   duplicates); `webhook-timestamp` is the attempt's time; every secret that is valid at
//!   that time signs (two during a rotation's grace period).
//! - 2xx is `sent` (the status code and a short excerpt of the answer are recorded);
//!   408, 429, 5xx, timeouts and network errors are transient (honouring `Retry-After`);
//!   `410 Gone` disables the endpoint; any other answer is permanent. Redirects are never
//!   followed (a 3xx is permanent): a receiver must not be able to send us elsewhere.
//! - The connection goes only to addresses the network guard checked, after DNS
//!   ([`crate::webhook::GuardedResolver`]); proxies from the environment are ignored so
//!   nothing bypasses it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use tracing::{info, warn};

use super::{ErrorKind, Provider, ProviderError, Receipt, parse_retry_after};
use crate::{
    clock::Clock,
    config::{ConfigError, Env},
    domain::{
        Address, Channel, Content, EndpointName, HttpResponse, Notification, Recipient, WebhookUrl,
        time::Timestamp,
    },
    store::WebhookEndpoints,
    webhook::{self, Disabled, GuardedResolver, Lookup, SigningSecrets, UrlPolicy},
};

/// What an answer's excerpt may hold; the rest of the body is not even read.
pub const MAX_RESPONSE_EXCERPT_BYTES: usize = 512;
/// The body is read up to this much (a receiver answering megabytes is not our problem).
const MAX_RESPONSE_READ_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The whole request, connect to last byte (`NOTIFY_WEBHOOK_TIMEOUT_SECONDS`, default 15).
    pub timeout: Duration,
    /// `NOTIFY_WEBHOOK_ALLOW_LOOPBACK=true` (local development only) lets deliveries go to
    /// loopback over http; `only` (what `make dev` sets) lets them go nowhere else.
    pub policy: UrlPolicy,
}

impl WebhookSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            timeout: env.seconds("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", 15, 1..=60)?,
            policy: url_policy(env)?,
        })
    }
}

/// `NOTIFY_WEBHOOK_ALLOW_LOOPBACK`: the API and the worker must agree on it.
pub fn url_policy(env: &Env) -> Result<UrlPolicy, ConfigError> {
    match env.optional("NOTIFY_WEBHOOK_ALLOW_LOOPBACK") {
        None | Some("false") => Ok(UrlPolicy::PublicHttps),
        Some("true") => Ok(UrlPolicy::AllowLoopback),
        Some("only") => Ok(UrlPolicy::LoopbackOnly),
        Some(other) => Err(Env::malformed(
            "NOTIFY_WEBHOOK_ALLOW_LOOPBACK",
            format!("`{other}` is not true, false or only"),
        )),
    }
}

/// A signed POST, as every webhook and status callback is sent: only to addresses the network
/// guard passed after DNS, no proxies, no redirects, in bounded time, the answer read up to
/// [`MAX_RESPONSE_READ_BYTES`].
pub struct WebhookSender {
    http: reqwest::Client,
    policy: UrlPolicy,
}

impl WebhookSender {
    pub fn new(settings: &WebhookSettings, lookup: Arc<dyn Lookup>) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(lookup, settings.policy)))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .timeout(settings.timeout)
            .user_agent(concat!("notify-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::permanent("ClientSetup", e.to_string()))?;
        Ok(Self {
            http,
            policy: settings.policy,
        })
    }

    /// POSTs the JSON `body` to `url` as the Standard Webhooks message `id`, signed at `now`
    /// by every secret of `secrets` valid then, with `headers` besides. A 2xx is the answer;
    /// anything else is judged by [`classify_status`].
    pub async fn post(
        &self,
        url: &WebhookUrl,
        id: &str,
        body: &str,
        secrets: &SigningSecrets,
        headers: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<HttpResponse, ProviderError> {
        webhook::check_delivery(url, self.policy)
            .map_err(|r| ProviderError::permanent("refused_address", r.0))?;
        let timestamp = now.as_seconds();
        let mut request = self
            .http
            .post(url.url())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                secrets.signature_header(id, timestamp, body, now),
            );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| classify_request_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let excerpt = excerpt(&read_bounded(response).await);
        if (200..300).contains(&status) {
            return Ok(HttpResponse { status, excerpt });
        }
        Err(classify_status(status, retry_after, &excerpt))
    }
}

/// What a receiver answered to an unsigned POST ([`WebhookSender::post_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainAnswer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// The start of the body, as read (at most [`MAX_RESPONSE_READ_BYTES`]).
    pub body: String,
}

impl WebhookSender {
    /// POSTs the JSON `body` to `url` unsigned, with `headers` (a chat service's own auth),
    /// behind the same guard: the answer whatever its status, for the caller to judge.
    pub async fn post_json(
        &self,
        url: &WebhookUrl,
        body: &str,
        headers: &[(&str, String)],
        now: Timestamp,
    ) -> Result<PlainAnswer, ProviderError> {
        webhook::check_delivery(url, self.policy)
            .map_err(|r| ProviderError::permanent("refused_address", r.0))?;
        let mut request = self
            .http
            .post(url.url())
            .header("content-type", "application/json; charset=utf-8");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| classify_request_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let body = String::from_utf8_lossy(&read_bounded(response).await).into_owned();
        Ok(PlainAnswer {
            status,
            retry_after,
            body,
        })
    }
}

pub struct WebhookProvider {
    sender: WebhookSender,
    endpoints: Arc<dyn WebhookEndpoints>,
    clock: Arc<dyn Clock>,
}

impl WebhookProvider {
    pub fn new(
        settings: &WebhookSettings,
        lookup: Arc<dyn Lookup>,
        endpoints: Arc<dyn WebhookEndpoints>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            sender: WebhookSender::new(settings, lookup)?,
            endpoints,
            clock,
        })
    }

    fn unavailable(e: impl std::fmt::Display) -> ProviderError {
        ProviderError::transient("StoreUnavailable", e.to_string())
    }

    /// The URL, secrets and headers of a delivery: its endpoint's as they are now (the URL
    /// may have changed since the targets were resolved), or for an inline URL the tenant's
    /// signing secret.
    async fn signing(
        &self,
        n: &Notification,
        url: &WebhookUrl,
        endpoint: Option<&EndpointName>,
    ) -> Result<(WebhookUrl, SigningSecrets, BTreeMap<String, String>), ProviderError> {
        if let Some(name) = endpoint {
            let e = self.live_endpoint(n, name).await?;
            return Ok((e.url, e.secrets, e.headers));
        }
        let secrets = self
            .endpoints
            .signing_secrets(&n.tenant)
            .await
            .map_err(Self::unavailable)?
            .ok_or_else(|| {
                ProviderError::permanent(
                    "signing_secret_missing",
                    "the tenant has no webhook signing secret (POST /v1/webhooks/signing-secret)",
                )
            })?;
        Ok((url.clone(), secrets, BTreeMap::new()))
    }

    async fn live_endpoint(
        &self,
        n: &Notification,
        name: &EndpointName,
    ) -> Result<webhook::Endpoint, ProviderError> {
        let e = self
            .endpoints
            .endpoint(&n.tenant, name)
            .await
            .map_err(Self::unavailable)?
            .ok_or_else(|| {
                ProviderError::permanent(
                    "endpoint_not_found",
                    format!("no webhook endpoint named {}", name.as_str()),
                )
            })?;
        if let Some(d) = &e.disabled {
            return Err(ProviderError::permanent(
                "endpoint_disabled",
                format!(
                    "the endpoint {} is disabled since {} ({}); re-enable it with PUT and \"enabled\": true",
                    name.as_str(),
                    d.at,
                    d.reason
                ),
            ));
        }
        Ok(e)
    }
}

/// The JSON body of a webhook notification.
fn payload(n: &Notification) -> Result<&str, ProviderError> {
    match &n.content {
        Content::Webhook(w) => Ok(&w.payload),
        Content::Email(_)
        | Content::Sms(_)
        | Content::Push(_)
        | Content::InApp(_)
        | Content::Chat(_) => Err(ProviderError::permanent(
            "WrongChannel",
            "not a webhook notification",
        )),
    }
}

/// An answer body as recorded: at most [`MAX_RESPONSE_EXCERPT_BYTES`], one line, and without
/// anything that looks like a credential echoed back.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_RESPONSE_EXCERPT_BYTES)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
        .split(' ')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let secretish = lower.contains("whsec_")
                || lower.starts_with("v1,")
                || lower.contains("bearer")
                || (word.len() >= 32
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c)));
            if secretish { "[redacted]" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// The service's judgement of a receiver's answer that is not 2xx.
pub fn classify_status(status: u16, retry_after: Option<Duration>, excerpt: &str) -> ProviderError {
    let message = if excerpt.is_empty() {
        format!("the receiver answered HTTP {status}")
    } else {
        format!("the receiver answered HTTP {status}: {excerpt}")
    };
    let (code, kind) = match status {
        408 | 429 | 500..=599 => (
            format!("http_{status}"),
            ErrorKind::Transient { retry_after },
        ),
        410 => ("endpoint_gone".to_owned(), ErrorKind::TargetGone),
        300..=399 => ("redirect_not_followed".to_owned(), ErrorKind::Permanent),
        _ => (format!("http_{status}"), ErrorKind::Permanent),
    };
    ProviderError {
        kind,
        code,
        message,
    }
}

/// A request that got no answer: refused by the guard (permanent), timed out or failed on
/// the network (transient).
fn classify_request_error(e: &reqwest::Error) -> ProviderError {
    if let Some(refused) = webhook::refusal_in(e) {
        return ProviderError::permanent("refused_address", refused.0.clone());
    }
    if e.is_timeout() {
        return ProviderError::transient("timeout", "the receiver did not answer in time");
    }
    ProviderError::transient(
        "network_error",
        format!("could not reach the receiver: {e}"),
    )
}

async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_RESPONSE_READ_BYTES);
    body
}

#[async_trait]
impl Provider for WebhookProvider {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn targets(&self, n: &Notification) -> Result<Vec<Address>, ProviderError> {
        match &n.recipient {
            Recipient::Endpoint(name) => {
                let e = self.live_endpoint(n, name).await?;
                Ok(vec![Address::Webhook {
                    url: e.url,
                    endpoint: Some(name.clone()),
                }])
            }
            Recipient::Url(url) => Ok(vec![Address::Webhook {
                url: url.clone(),
                endpoint: None,
            }]),
            Recipient::Email(_)
            | Recipient::Phone(_)
            | Recipient::User(_)
            | Recipient::Device(_)
            | Recipient::ChatTarget(_)
            | Recipient::Erased(_) => Err(ProviderError::permanent(
                "UnsupportedRecipient",
                format!("webhooks cannot deliver to {}", n.recipient.masked()),
            )),
        }
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let Address::Webhook { url, endpoint } = to else {
            return Err(ProviderError::permanent(
                "UnsupportedRecipient",
                "not a webhook target",
            ));
        };
        let body = payload(n)?;
        let (target, secrets, headers) = self.signing(n, url, endpoint.as_ref()).await?;
        // `webhook-id` is the notification's id: the same on every attempt.
        let id = n.id.as_str();
        let response = self
            .sender
            .post(&target, id, body, &secrets, &headers, self.clock.now())
            .await?;
        Ok(Receipt {
            message_id: id.to_owned(),
            response: Some(response),
        })
    }

    /// `410 Gone`: the endpoint is disabled, so later sends fail at once until it is enabled
    /// again. An inline URL has nothing to disable.
    async fn forget(&self, n: &Notification, to: &Address) {
        let Address::Webhook {
            endpoint: Some(name),
            ..
        } = to
        else {
            return;
        };
        let disabled = Disabled {
            at: self.clock.now(),
            reason: "the receiver answered 410 Gone".into(),
        };
        match self
            .endpoints
            .disable_endpoint(&n.tenant, name, &disabled)
            .await
        {
            Ok(()) => info!(
                endpoint = name.as_str(),
                "webhook endpoint disabled (410 Gone)"
            ),
            Err(e) => {
                warn!(error = %e, endpoint = name.as_str(), "could not disable the webhook endpoint")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_the_contract_says() {
        let kind = |s| classify_status(s, None, "").kind;
        for transient in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(kind(transient), ErrorKind::Transient { .. }),
                "{transient}"
            );
        }
        assert_eq!(kind(410), ErrorKind::TargetGone);
        for permanent in [301, 302, 307, 400, 401, 403, 404, 422] {
            assert_eq!(kind(permanent), ErrorKind::Permanent, "{permanent}");
        }
        assert_eq!(classify_status(302, None, "").code, "redirect_not_followed");
        let wait = Some(Duration::from_secs(7));
        assert_eq!(classify_status(429, wait, "").retry_after(), wait);
    }

    #[test]
    fn excerpts_are_short_single_line_and_redacted() {
        let e = excerpt(b"ok\r\nsecret whsec_abc token v1,abcdef Bearer");
        assert!(
            !e.contains('\n') && !e.contains("whsec_") && !e.contains("v1,"),
            "{e}"
        );
        assert_eq!(
            excerpt(&vec![b'a'; 10_000]).len(),
            10,
            "long words are redacted"
        );
        assert!(excerpt(&vec![b'a'; 10_000]).len() <= MAX_RESPONSE_EXCERPT_BYTES);
        assert_eq!(excerpt(b"{\"received\": true}"), "{\"received\": true}");
    }
}
