//! The audit trail: every state-changing call a tenant's key or an operator makes (batches,
//! approvals, cancels, templates, keys and tenants, endpoints, callbacks, chat targets,
//! suppressions, users, devices and preferences, redrives) is recorded with who, what, when,
//! from which address and how it ended — never content or secrets (addresses are masked).
//! `GET /v1/audit` answers a tenant's entries (scope `read`); `GET /v1/admin/audit` every
//! tenant's, for the operator. A single send is not recorded (its record is its trail).

use std::time::Duration;

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext};
use notify_shared::{
    domain::{TenantId, time::Timestamp},
    store::{AuditEntry, AuditScope},
    validate::FieldError,
};
use serde_json::json;
use tracing::{error, warn};

use crate::{ApiError, App, paging, router::Route};

const CURSOR_KIND: &str = "a1:";
/// Without `since`, a read goes back this far.
const DEFAULT_SPAN: Duration = Duration::from_secs(7 * 86_400);

/// `j***@example.com`, `***78`: enough to recognise an address, not to read it.
fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
        }
        None => {
            let tail: String = address
                .chars()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("***{tail}")
        }
    }
}

/// The action a route is, and what it acts on, when it is audited.
pub fn action(route: &Route) -> Option<(&'static str, Option<String>)> {
    let on = |s: &str| Some(s.to_owned());
    Some(match route {
        Route::CreateBatch | Route::CompatBulkEmail => ("batch.send", None),
        Route::CancelNotification(id) => ("notification.cancel", on(id)),
        Route::ApproveNotification(id) => ("notification.approve", on(id)),
        Route::RejectNotification(id) => ("notification.reject", on(id)),
        Route::ApproveBatch(id) => ("batch.approve", on(id)),
        Route::RejectBatch(id) => ("batch.reject", on(id)),
        Route::PutTemplate(name) => ("template.save", on(name)),
        Route::DeleteTemplate(name) => ("template.delete", on(name)),
        Route::CreateKey | Route::CreateTenantKey(_) => ("key.create", None),
        Route::RevokeKey(prefix) | Route::RevokeTenantKey { prefix, .. } => {
            ("key.revoke", on(prefix))
        }
        Route::CreateTenant => ("tenant.create", None),
        Route::PatchTenant(id) => ("tenant.update", on(id)),
        Route::Redrive => ("redrive", None),
        Route::PutWebhookEndpoint(name) => ("webhook_endpoint.put", on(name)),
        Route::DeleteWebhookEndpoint(name) => ("webhook_endpoint.delete", on(name)),
        Route::RotateWebhookSecret(name) => ("webhook_endpoint.rotate_secret", on(name)),
        Route::RotateSigningSecret => ("signing_secret.rotate", None),
        Route::PutChatTarget(name) => ("chat_target.put", on(name)),
        Route::DeleteChatTarget(name) => ("chat_target.delete", on(name)),
        Route::PutCallbacks => ("callbacks.put", None),
        Route::DeleteCallbacks => ("callbacks.delete", None),
        Route::PutSuppression { channel, address } => (
            "suppression.put",
            Some(format!("{channel}/{}", mask(address))),
        ),
        Route::DeleteSuppression { channel, address } => (
            "suppression.delete",
            Some(format!("{channel}/{}", mask(address))),
        ),
        Route::PutUser(user) => ("user.put", on(user)),
        Route::PatchUser(user) => ("user.patch", on(user)),
        Route::DeleteUser(user) => ("user.delete", on(user)),
        // The user only: a device token is the device's credential.
        Route::RegisterDevice { user, .. } => ("device.put", on(user)),
        Route::UnregisterDevice { user, .. } => ("device.delete", on(user)),
        Route::PutPreferences(user) => ("preferences.put", on(user)),
        Route::PutAddressPreferences(address) => ("preferences.address.put", Some(mask(address))),
        Route::PutPreferenceDefaults => ("preferences.defaults.put", None),
        Route::RotateUserTokenSecret => ("user_token_secret.rotate", None),
        // Reads; a single send (its record is its trail); the recipient's own acts.
        Route::Health
        | Route::HealthDetailed
        | Route::CreateNotification
        | Route::GetBatch(_)
        | Route::ListTemplates
        | Route::GetTemplate(_)
        | Route::RenderTemplate(_)
        | Route::CompatEmail
        | Route::CompatSms
        | Route::CompatStatus(_)
        | Route::GetNotification(_)
        | Route::ListNotifications
        | Route::GetStats
        | Route::ReadNotification(_)
        | Route::ListDevices { .. }
        | Route::GetUser(_)
        | Route::GetPreferences(_)
        | Route::Inbox(_)
        | Route::InboxMark { .. }
        | Route::InboxMarkAll(_)
        | Route::GetPreferenceDefaults
        | Route::GetAddressPreferences(_)
        | Route::UnsubscribePage(_)
        | Route::Unsubscribe(_)
        | Route::ListChatTargets
        | Route::GetChatTarget(_)
        | Route::ListWebhookEndpoints
        | Route::GetWebhookEndpoint(_)
        | Route::ListSuppressions
        | Route::GetSuppression { .. }
        | Route::GetCallbacks
        | Route::ListCallbackDeliveries
        | Route::ListTenants
        | Route::GetTenant(_)
        | Route::ListTenantKeys(_)
        | Route::ListKeys
        | Route::GetAudit
        | Route::GetAdminAudit => return None,
    })
}

/// The tenant an operator's route is about.
pub fn admin_tenant(route: &Route) -> Option<TenantId> {
    match route {
        Route::PatchTenant(id)
        | Route::CreateTenantKey(id)
        | Route::RevokeTenantKey { tenant: id, .. } => Some(TenantId::new(id.as_str())),
        _ => None,
    }
}

fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        _ => None,
    }
}

/// What a creation answered names what was created (a key's prefix, a tenant's id, a batch's
/// id).
fn created(response: &Response<Body>) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).ok()?;
    ["prefix", "batchId", "id"]
        .iter()
        .find_map(|k| body.get(*k)?.as_str().map(str::to_owned))
}

/// Records `route`'s call when it is audited. Best effort: a failure to record is logged and
/// the answer stands (the change is made).
pub async fn record(
    app: &App,
    req: &Request,
    route: &Route,
    tenant: Option<TenantId>,
    actor: String,
    response: &Response<Body>,
    request_id: &str,
) {
    let Some((action, target)) = action(route) else {
        return;
    };
    let target = target.or_else(|| {
        response
            .status()
            .is_success()
            .then(|| created(response))
            .flatten()
    });
    let tenant = tenant.or_else(|| {
        matches!(route, Route::CreateTenant)
            .then(|| target.as_deref().map(TenantId::new))
            .flatten()
    });
    let at = app.clock.now();
    let entry = AuditEntry {
        id: AuditEntry::new_id(at),
        at,
        tenant,
        actor,
        action: action.to_owned(),
        target,
        source_ip: source_ip(req),
        outcome: response.status().as_u16(),
        request_id: request_id.to_owned(),
    };
    let expires = at.plus(app.config.audit_retention).as_seconds();
    if let Err(e) = app.audit.append(&entry, expires).await {
        error!(error = %e, action, "the audit entry could not be written");
    }
}

/// `GET /v1/audit` (`scope` a tenant) and `GET /v1/admin/audit` (every tenant, or `tenant=`).
pub async fn list(
    app: &App,
    req: &Request,
    scope: Option<AuditScope>,
) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let mut since =
        Timestamp::from_millis(now.as_millis() - DEFAULT_SPAN.as_millis() as i64).unwrap_or(now);
    let (mut action, mut before, mut limit) = (None, None, paging::DEFAULT_LIMIT);
    let mut scope = scope;
    let operator = scope.is_none();
    let mut echo = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        match k {
            "since" => match paging::timestamp(k, v) {
                Ok(t) => since = t,
                Err(e) => errors.push(e),
            },
            "action" => {
                let ok = !v.is_empty()
                    && v.len() <= 64
                    && v.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
                if ok {
                    action = Some(v.to_owned());
                } else {
                    errors.push(FieldError::new(
                        k,
                        "pattern",
                        "must be an action like template.save: 1 to 64 of a-z _ .",
                    ));
                }
            }
            "tenant" if operator => {
                let ok = !v.is_empty()
                    && v.len() <= 64
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if ok {
                    scope = Some(AuditScope::Tenant(TenantId::new(v)));
                } else {
                    errors.push(FieldError::new(
                        k,
                        "pattern",
                        "must be 1 to 64 characters among A-Z a-z 0-9 - _",
                    ));
                }
            }
            "limit" => match paging::limit(v) {
                Ok(n) => limit = n,
                Err(e) => errors.push(e),
            },
            "cursor" => match paging::cursor(CURSOR_KIND, v) {
                Ok(position) => before = Some(position),
                Err(e) => errors.push(e),
            },
            _ => continue,
        }
        if !matches!(k, "cursor" | "limit") {
            echo.push((k.to_owned(), v.to_owned()));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let oldest =
        Timestamp::from_millis(now.as_millis() - app.config.audit_retention.as_millis() as i64)
            .unwrap_or(now);
    let since = since.max(oldest);
    let scope = scope.unwrap_or(AuditScope::All);
    let page = app
        .audit
        .entries(&scope, since, action.as_deref(), before.as_deref(), limit)
        .await
        .map_err(|e| {
            warn!(error = %e, "the audit trail could not be read");
            ApiError::Unavailable("the audit trail cannot be read now; retry the request".into())
        })?;
    let path = if operator {
        "/v1/admin/audit"
    } else {
        "/v1/audit"
    };
    let next = page
        .next
        .as_ref()
        .map(|id| paging::next_link(path, &echo, limit, CURSOR_KIND, id));
    Ok(crate::response::json(
        StatusCode::OK,
        &json!({ "entries": page.entries, "next": next }),
    ))
}
