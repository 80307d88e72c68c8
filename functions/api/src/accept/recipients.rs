//! The accept service's *resolve recipient* step: a recipient that names something the tenant
//! keeps must exist when the notification is accepted (a webhook endpoint), and an inline
//! webhook URL needs the tenant's signing secret. (Preferences and suppressions will apply
//! here.)

use std::collections::HashMap;

use notify_shared::{
    domain::{EndpointName, Notification, Recipient, TenantId},
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
    signing_secret: Option<bool>,
}

async fn check_one(
    app: &App,
    tenant: &TenantId,
    recipient: &Recipient,
    index: Option<usize>,
    known: &mut Known,
) -> Result<Option<FieldError>, ApiError> {
    match recipient {
        Recipient::Email(_) | Recipient::Phone(_) | Recipient::User(_) | Recipient::Device(_) => {
            Ok(None)
        }
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
        Recipient::Url(_) => {
            let exists = match known.signing_secret {
                Some(e) => e,
                None => {
                    let e = app
                        .webhooks
                        .signing_secrets(tenant)
                        .await
                        .map_err(unavailable)?
                        .is_some();
                    known.signing_secret = Some(e);
                    e
                }
            };
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

/// A single notification's recipient: a `400` naming the field when it cannot be accepted.
pub async fn check(app: &App, tenant: &TenantId, n: &Notification) -> Result<(), ApiError> {
    match check_one(app, tenant, &n.recipient, None, &mut Known::default()).await? {
        None => Ok(()),
        Some(e) => Err(ApiError::Validation(vec![e])),
    }
}

/// A batch's recipients: the ones that cannot be accepted leave the batch, reported by index.
pub async fn check_batch(
    app: &App,
    tenant: &TenantId,
    batch: &mut RenderedBatch,
) -> Result<(), ApiError> {
    let mut known = Known::default();
    // The notifications are in request order, one per recipient that has an id.
    let indices: Vec<usize> = (0..batch.ids.len())
        .filter(|&i| batch.ids[i].is_some())
        .collect();
    let mut kept = Vec::with_capacity(batch.notifications.len());
    for (index, n) in indices
        .into_iter()
        .zip(std::mem::take(&mut batch.notifications))
    {
        match check_one(app, tenant, &n.recipient, Some(index), &mut known).await? {
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
