//! Chat targets: `GET /v1/chat/targets`, `PUT/GET/DELETE /v1/chat/targets/{name}`. A target is
//! a Slack incoming webhook, a Slack bot token and channel, or a Teams workflow's URL; its
//! secrets (the webhook URLs, the token) are taken once and never shown again: views give the
//! URL's origin, and the token not at all.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        EndpointName, TenantId,
        chat::{ChatDestination, ChatTarget},
    },
    store::{MAX_CHAT_TARGETS, StoreError},
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, response};

const MAX_DESCRIPTION_CHARS: usize = 256;
const MAX_TOKEN_CHARS: usize = 256;
const MAX_CHANNEL_CHARS: usize = 80;

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the chat target store is unavailable");
    ApiError::Unavailable("the chat target store is unavailable; retry the request".into())
}

fn path_name(raw: &str) -> Result<EndpointName, ApiError> {
    EndpointName::parse(raw)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("name", "pattern", e)]))
}

fn not_found(name: &EndpointName) -> ApiError {
    ApiError::NotFound(format!("no chat target named {}", name.as_str()))
}

/// A target as answers show it: no secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    name: &'a EndpointName,
    #[serde(rename = "type")]
    kind: &'static str,
    /// The webhook URL's origin (`https://hooks.slack.com/…`): the rest is its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    created_at: notify_shared::domain::time::Timestamp,
    updated_at: notify_shared::domain::time::Timestamp,
}

impl<'a> View<'a> {
    fn of(t: &'a ChatTarget) -> Self {
        let (url, channel) = match &t.destination {
            ChatDestination::SlackWebhook { url } | ChatDestination::TeamsWorkflow { url } => {
                (Some(url.masked()), None)
            }
            ChatDestination::SlackBot { channel, .. } => (None, Some(channel.as_str())),
        };
        Self {
            name: &t.name,
            kind: t.destination.kind().as_str(),
            url,
            channel,
            description: t.description.as_deref(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

fn token_ok(t: &str) -> bool {
    !t.is_empty() && t.chars().count() <= MAX_TOKEN_CHARS && t.chars().all(|c| c.is_ascii_graphic())
}

fn destination(app: &App, f: &mut Fields<'_>) -> Option<ChatDestination> {
    let kind = f.required_str("type");
    let policy = app.config.channel.url_policy;
    match kind {
        Some("slack_webhook") => f
            .required_webhook_url("url", policy)
            .map(|url| ChatDestination::SlackWebhook { url }),
        Some("teams_workflow") => f
            .required_webhook_url("url", policy)
            .map(|url| ChatDestination::TeamsWorkflow { url }),
        Some("slack_bot") => {
            let token = match f.required_str("token") {
                Some(t) if token_ok(t) => Some(t.to_owned()),
                Some(_) => {
                    f.error(
                        "token",
                        "pattern",
                        format!("a Slack bot token (xoxb-…): 1 to {MAX_TOKEN_CHARS} printable characters without spaces"),
                    );
                    None
                }
                None => None,
            };
            let channel = match f.required_str("channel") {
                Some(c)
                    if !c.is_empty()
                        && c.chars().count() <= MAX_CHANNEL_CHARS
                        && c.chars().all(|c| c.is_ascii_graphic()) =>
                {
                    Some(c.to_owned())
                }
                Some(_) => {
                    f.error(
                        "channel",
                        "pattern",
                        format!("a Slack channel id (C0123ABCD): 1 to {MAX_CHANNEL_CHARS} printable characters without spaces"),
                    );
                    None
                }
                None => None,
            };
            Some(ChatDestination::SlackBot {
                token: token?,
                channel: channel?,
            })
        }
        Some(_) => {
            f.error(
                "type",
                "enum",
                "must be slack_webhook, slack_bot or teams_workflow",
            );
            None
        }
        None => None,
    }
}

/// `PUT /v1/chat/targets/{name}`: `201` created, `200` replaced.
pub async fn put(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let destination = destination(app, &mut f);
    let description = f.header_text("description", MAX_DESCRIPTION_CHARS, false);
    f.finish().map_err(ApiError::Validation)?;
    let Some(destination) = destination else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "type",
            "required",
            "is required",
        )]));
    };
    let now = app.clock.now();
    let existing = app
        .chat_targets
        .target(tenant, &name)
        .await
        .map_err(unavailable)?;
    if existing.is_none() {
        let count = app
            .chat_targets
            .targets(tenant)
            .await
            .map_err(unavailable)?
            .len();
        if count >= MAX_CHAT_TARGETS {
            return Err(ApiError::Conflict {
                code: "too_many_targets",
                message: format!("a tenant keeps at most {MAX_CHAT_TARGETS} chat targets"),
            });
        }
    }
    let target = ChatTarget {
        name: name.clone(),
        destination,
        description,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    app.chat_targets
        .put_target(tenant, &target)
        .await
        .map_err(unavailable)?;
    info!(
        target = name.as_str(),
        kind = target.destination.kind().as_str(),
        "chat target saved"
    );
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = response::json(status, &View::of(&target));
    if status == StatusCode::CREATED
        && let Ok(location) = format!("/v1/chat/targets/{}", name.as_str()).parse()
    {
        resp.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(resp)
}

pub async fn get(app: &App, tenant: &TenantId, raw_name: &str) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let t = app
        .chat_targets
        .target(tenant, &name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(&name))?;
    Ok(response::json(StatusCode::OK, &View::of(&t)))
}

pub async fn list(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    let all = app
        .chat_targets
        .targets(tenant)
        .await
        .map_err(unavailable)?;
    let views: Vec<View<'_>> = all.iter().map(View::of).collect();
    Ok(response::json(StatusCode::OK, &json!({ "targets": views })))
}

pub async fn delete(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    if !app
        .chat_targets
        .delete_target(tenant, &name)
        .await
        .map_err(unavailable)?
    {
        return Err(not_found(&name));
    }
    info!(target = name.as_str(), "chat target deleted");
    Ok(response::no_content())
}
