//! One-click unsubscribe (RFC 8058): `POST /v1/unsubscribe/{token}` opts the recipient out
//! of the email's category and answers `200` (mailbox providers POST
//! `List-Unsubscribe=One-Click` as a form; any body is accepted and ignored);
//! `GET /v1/unsubscribe/{token}` shows a page whose button POSTs, because a GET must not
//! unsubscribe (mail scanners fetch links). No API key: the signed token is the authority.

use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::Channel,
    unsubscribe::{Subscriber, TokenError, Unsubscribe},
};
use serde_json::json;
use tracing::{error, info};

use crate::{App, response};

/// Why a link does not work, as the answer says it.
enum Refusal {
    Invalid,
    Expired,
    Unavailable,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Invalid => StatusCode::BAD_REQUEST,
            Refusal::Expired => StatusCode::GONE,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid => "invalid_link",
            Refusal::Expired => "link_expired",
            Refusal::Unavailable => "service_unavailable",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::Invalid => "This unsubscribe link is not valid.",
            Refusal::Expired => {
                "This unsubscribe link has expired. Use the link in a more recent email."
            }
            Refusal::Unavailable => "The service is unavailable. Please try again shortly.",
        }
    }
}

/// The grant of a token signed with its tenant's key and not expired.
async fn verify(app: &App, token: &str) -> Result<Unsubscribe, Refusal> {
    let tenant = Unsubscribe::claimed_tenant(token).map_err(|_| Refusal::Invalid)?;
    let key = app
        .users
        .unsubscribe_key(&tenant, false)
        .await
        .map_err(|e| {
            error!(error = %e, "the user store is unavailable");
            Refusal::Unavailable
        })?
        .ok_or(Refusal::Invalid)?;
    Unsubscribe::verify(token, &key, app.clock.now()).map_err(|e| match e {
        TokenError::Expired => Refusal::Expired,
        TokenError::Malformed | TokenError::BadSignature => Refusal::Invalid,
    })
}

fn html(status: StatusCode, title: &str, content: &str) -> Response<Body> {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{content}</body></html>"
    );
    let mut r = Response::new(Body::Text(page));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // A page that carries an authority in its URL: kept out of caches and referrers.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Letters, digits and `_ - .` only (a category's alphabet), so nothing needs escaping; kept
/// strict in case that alphabet ever grows.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ') => c.to_string(),
            c => format!("&#{};", c as u32),
        })
        .collect()
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// `GET`: what the link would do, and a button that does it.
pub async fn page(app: &App, token: &str, _req: &Request) -> Response<Body> {
    match verify(app, token).await {
        Ok(grant) => html(
            StatusCode::OK,
            "Unsubscribe",
            &format!(
                "<p>Stop receiving <strong>{}</strong> emails?</p>\
                 <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                escape(&grant.category)
            ),
        ),
        Err(refusal) => html(
            refusal.status(),
            "Unsubscribe",
            &format!("<p>{}</p>", refusal.message()),
        ),
    }
}

/// `POST`: opts the recipient out of the category by email (idempotent).
pub async fn confirm(app: &App, token: &str, req: &Request) -> Response<Body> {
    let result = match verify(app, token).await {
        Ok(grant) => opt_out(app, &grant).await.map(|()| grant),
        Err(refusal) => Err(refusal),
    };
    match (result, wants_html(req)) {
        (Ok(grant), true) => html(
            StatusCode::OK,
            "Unsubscribed",
            &format!(
                "<p>You will no longer receive <strong>{}</strong> emails.</p>",
                escape(&grant.category)
            ),
        ),
        (Ok(grant), false) => response::json(
            StatusCode::OK,
            &json!({"unsubscribed": true, "category": grant.category, "channel": "email"}),
        ),
        (Err(refusal), true) => html(
            refusal.status(),
            "Unsubscribe",
            &format!("<p>{}</p>", refusal.message()),
        ),
        (Err(refusal), false) => response::json(
            refusal.status(),
            &json!({"code": refusal.code(), "message": refusal.message()}),
        ),
    }
}

async fn opt_out(app: &App, grant: &Unsubscribe) -> Result<(), Refusal> {
    let unavailable = |e: notify_shared::store::StoreError| {
        error!(error = %e, "the user store is unavailable");
        Refusal::Unavailable
    };
    let (preferences, defaults) = tokio::join!(
        app.users.preferences(&grant.tenant, &grant.subscriber),
        app.users.defaults(&grant.tenant)
    );
    let mut preferences = preferences.map_err(unavailable)?.unwrap_or_default();
    let defaults = defaults.map_err(unavailable)?.unwrap_or_default();
    preferences.opt_out(&grant.category, Channel::Email, &defaults);
    app.users
        .put_preferences(&grant.tenant, &grant.subscriber, &preferences)
        .await
        .map_err(unavailable)?;
    let who = match &grant.subscriber {
        Subscriber::User(u) => format!("user {}", u.as_str()),
        Subscriber::Address(a) => a.masked(),
    };
    info!(tenant = %grant.tenant, who = %who, category = %grant.category, "unsubscribed");
    Ok(())
}
