//! The accept service's *resolve recipient* step: a recipient that names something the tenant
//! keeps must exist when the notification is accepted (a webhook endpoint), and an inline
//! webhook URL needs the tenant's signing secret; a `userId` for email or SMS is for single
//! sends (the [`super::policy`] step resolves it).

use std::collections::HashMap;

use notify_shared::{
    domain::{Channel, EndpointName, Notification, Recipient, TenantId, WebhookUrl},
    validate::FieldError,
};
use tracing::error;

use super::render::RenderedBatch;
use crate::{ApiError, App};

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    error!(error = %e, "the webhook endpoint store is unavailable");
    ApiError::Unavailable("the webhook endpoint store is unavailable; retry the request".into())
}

/// The field an error names: the request's own, or the `index`-th recipient's.
fn field(index: Option<usize>, name: &str) -> String {
    match index {
        None => name.to_owned(),
        Some(i) => format!("recipients[{i}].{name}"),
    }
}

/// What one request has looked up already (a batch names the same endpoint many times).
#[derive(Default)]
struct Known {
    endpoints: HashMap<EndpointName, bool>,
    chat_targets: HashMap<EndpointName, bool>,
    signing_secret: Option<bool>,
}

/// Whether a user is where the channel delivers (their devices, their inbox) rather than a
/// name for an address in their profile.
fn user_is_a_target(channel: Channel) -> bool {
    match channel {
        Channel::Push | Channel::InApp => true,
        Channel::Email | Channel::Sms | Channel::Webhook | Channel::Chat => false,
    }
}

async fn check_one(
    app: &App,
    tenant: &TenantId,
    n: &Notification,
    index: Option<usize>,
    known: &mut Known,
) -> Result<Option<FieldError>, ApiError> {
    match &n.recipient {
        // A single send's `userId` became the profile's address before this step; a batch
        // names addresses.
        Recipient::User(_) if !user_is_a_target(n.channel) => Ok(Some(FieldError::new(
            field(index, "userId"),
            "single_send_only",
            format!(
                "a batch names each recipient's {}; userId is taken on POST /v1/notifications",
                if n.channel == Channel::Sms {
                    "phone number (to)"
                } else {
                    "address (to)"
                }
            ),
        ))),
        Recipient::Email(_)
        | Recipient::Phone(_)
        | Recipient::User(_)
        | Recipient::Device(_)
        | Recipient::Erased(_) => Ok(None),
        Recipient::Endpoint(name) => {
            let exists = match known.endpoints.get(name) {
                Some(e) => *e,
                None => {
                    let e = app
                        .webhooks
                        .endpoint(tenant, name)
                        .await
                        .map_err(unavailable)?
                        .is_some();
                    known.endpoints.insert(name.clone(), e);
                    e
                }
            };
            Ok((!exists).then(|| {
                FieldError::new(
                    field(index, "endpoint"),
                    "not_found",
                    format!(
                        "no webhook endpoint named {} (register it with PUT /v1/webhooks/endpoints/{})",
                        name.as_str(),
                        name.as_str()
                    ),
                )
            }))
        }
        Recipient::ChatTarget(name) => {
            let exists = match known.chat_targets.get(name) {
                Some(e) => *e,
                None => {
                    let e = app
                        .chat_targets
                        .target(tenant, name)
                        .await
                        .map_err(unavailable)?
                        .is_some();
                    known.chat_targets.insert(name.clone(), e);
                    e
                }
            };
            Ok((!exists).then(|| {
                FieldError::new(
                    field(index, "target"),
                    "not_found",
                    format!(
                        "no chat target named {} (register it with PUT /v1/chat/targets/{})",
                        name.as_str(),
                        name.as_str()
                    ),
                )
            }))
        }
        Recipient::Url(_) => {
            let exists = has_signing_secret(app, tenant, known).await?;
            Ok((!exists).then(|| {
                FieldError::new(
                    field(index, "url"),
                    "signing_secret_missing",
                    "webhooks to an inline url are signed with the tenant's signing secret: create it with POST /v1/webhooks/signing-secret, or register an endpoint",
                )
            }))
        }
    }
}

async fn has_signing_secret(
    app: &App,
    tenant: &TenantId,
    known: &mut Known,
) -> Result<bool, ApiError> {
    if let Some(e) = known.signing_secret {
        return Ok(e);
    }
    let e = app
        .webhooks
        .signing_secrets(tenant)
        .await
        .map_err(unavailable)?
        .is_some();
    known.signing_secret = Some(e);
    Ok(e)
}

/// A `callbackUrl`'s callbacks are signed with the tenant's signing secret: it must exist.
async fn check_callback_url(
    app: &App,
    tenant: &TenantId,
    callback_url: Option<&WebhookUrl>,
    known: &mut Known,
) -> Result<Option<FieldError>, ApiError> {
    if callback_url.is_none() || has_signing_secret(app, tenant, known).await? {
        return Ok(None);
    }
    Ok(Some(FieldError::new(
        "callbackUrl",
        "signing_secret_missing",
        "status callbacks are signed with the tenant's signing secret: create it with POST /v1/webhooks/signing-secret (PUT /v1/callbacks creates it too)",
    )))
}

/// A single notification's recipient and callback URL: a `400` naming each field that cannot
/// be accepted.
pub async fn check(app: &App, tenant: &TenantId, n: &Notification) -> Result<(), ApiError> {
    let mut known = Known::default();
    let errors: Vec<FieldError> = [
        check_one(app, tenant, n, None, &mut known).await?,
        check_callback_url(app, tenant, n.callback_url.as_ref(), &mut known).await?,
    ]
    .into_iter()
    .flatten()
    .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A batch's recipients: the ones that cannot be accepted leave the batch, reported by index.
pub async fn check_batch(
    app: &App,
    tenant: &TenantId,
    batch: &mut RenderedBatch,
) -> Result<(), ApiError> {
    let mut known = Known::default();
    let callback_url = batch
        .notifications
        .first()
        .and_then(|n| n.callback_url.as_ref());
    if let Some(e) = check_callback_url(app, tenant, callback_url, &mut known).await? {
        return Err(ApiError::Validation(vec![e]));
    }
    // The notifications are in request order, one per recipient that has an id.
    let indices: Vec<usize> = (0..batch.ids.len())
        .filter(|&i| batch.ids[i].is_some())
        .collect();
    let mut kept = Vec::with_capacity(batch.notifications.len());
    for (index, n) in indices
        .into_iter()
        .zip(std::mem::take(&mut batch.notifications))
    {
        match check_one(app, tenant, &n, Some(index), &mut known).await? {
            None => kept.push(n),
            Some(e) => {
                batch.ids[index] = None;
                batch.errors.push(e);
            }
        }
    }
    batch.notifications = kept;
    Ok(())
}
