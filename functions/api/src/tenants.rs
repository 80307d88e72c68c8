//! Tenants and their API keys: the operator's routes (`/v1/admin/tenants…`, admin key) and a
//! tenant's own (`/v1/keys…`, scope `manage`). A new key is shown once, in the answer that
//! creates it; the table keeps only its SHA-256 and its visible prefix.

use std::collections::BTreeSet;

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{
        TenantId,
        tenant::{
            ApiKeySecret, KeyKind, Scope, StoredKey, Tenant, TenantLimits, TenantSettings,
            TenantStatus,
        },
    },
    store::StoreError,
    validate::{FieldError, Fields},
};
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{ApiError, App, callers::Caller, response};

const MAX_TENANT_ID_CHARS: usize = 64;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 256;
/// Enough for rotation and one key per service; a runaway script is stopped here.
pub const MAX_ACTIVE_KEYS: usize = 50;
const RATE_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;
const QUOTA_RANGE: std::ops::RangeInclusive<u32> = 1..=100_000_000;
/// Drafts are records: they live no longer than a notification may wait (30 days).
const MAX_DRAFT_EXPIRY_HOURS: u32 = 720;

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the tenant store is unavailable");
    ApiError::Unavailable("the tenant store is unavailable; retry the request".into())
}

fn validation(e: FieldError) -> ApiError {
    ApiError::Validation(vec![e])
}

/// A tenant id as `NOTIFY_API_KEYS` takes it: 1 to 64 of A-Z a-z 0-9 - _.
fn tenant_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TENANT_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn path_tenant(raw: &str) -> Result<TenantId, ApiError> {
    if tenant_id_ok(raw) {
        Ok(TenantId::new(raw))
    } else {
        Err(validation(FieldError::new(
            "tenantId",
            "pattern",
            format!("must be 1 to {MAX_TENANT_ID_CHARS} characters among A-Z a-z 0-9 - _"),
        )))
    }
}

fn name(f: &mut Fields<'_>, required: bool) -> Option<String> {
    let raw = if required {
        f.required_str("name")
    } else {
        f.optional_str("name")
    }?;
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        f.error(
            "name",
            "length",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        );
        return None;
    }
    Some(trimmed.to_owned())
}

/// `limits`, each field optional over `base`.
fn limits(f: &mut Fields<'_>, base: TenantLimits) -> Option<TenantLimits> {
    f.optional_object("limits", |l| {
        let rate = l.optional_u32("requestsPerMinute", RATE_RANGE);
        let quota = l.optional_u32("dailyQuotaPerChannel", QUOTA_RANGE);
        Some(TenantLimits {
            requests_per_minute: rate.unwrap_or(base.requests_per_minute),
            daily_quota_per_channel: quota.unwrap_or(base.daily_quota_per_channel),
        })
    })
}

/// `settings`, each field optional over `base`: `approvalAbove` (a number, or `0` for none),
/// `fourEyes`, `draftExpiryHours`.
fn settings(f: &mut Fields<'_>, base: TenantSettings) -> Option<TenantSettings> {
    f.optional_object("settings", |s| {
        let above = s.optional_u32("approvalAbove", 0..=100_000);
        let four_eyes = s.optional_bool("fourEyes");
        let hours = s.optional_u32("draftExpiryHours", 1..=MAX_DRAFT_EXPIRY_HOURS);
        Some(TenantSettings {
            approval_above: match above {
                Some(0) => None,
                Some(n) => Some(n),
                None => base.approval_above,
            },
            four_eyes: four_eyes.unwrap_or(base.four_eyes),
            draft_expiry_hours: hours.unwrap_or(base.draft_expiry_hours),
        })
    })
}

fn tenant_view(t: &Tenant) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn not_found(id: &TenantId) -> ApiError {
    ApiError::NotFound(format!("no tenant {id}"))
}

/// `POST /v1/admin/tenants` `{id, name, limits?}`: `201`, or `409 tenant_exists`.
pub async fn create(app: &App, body: &Value) -> Result<Response<Body>, ApiError> {
    let mut f = Fields::of(body, "").map_err(validation)?;
    let id = match f.required_str("id") {
        Some(id) if tenant_id_ok(id) => Some(TenantId::new(id)),
        Some(_) => {
            f.error(
                "id",
                "pattern",
                format!("must be 1 to {MAX_TENANT_ID_CHARS} characters among A-Z a-z 0-9 - _"),
            );
            None
        }
        None => None,
    };
    let name = name(&mut f, true);
    let limits = limits(&mut f, app.config.default_limits);
    f.finish().map_err(ApiError::Validation)?;
    let (Some(id), Some(name)) = (id, name) else {
        unreachable!("finish reports a missing required field")
    };
    let now = app.clock.now();
    let tenant = Tenant {
        id,
        name,
        status: TenantStatus::Active,
        limits: limits.unwrap_or(app.config.default_limits),
        settings: Default::default(),
        created_at: now,
        updated_at: now,
    };
    if !app
        .tenants
        .create_tenant(&tenant)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::Conflict {
            code: "tenant_exists",
            message: format!("tenant {} exists", tenant.id),
        });
    }
    info!(tenant = %tenant.id, "tenant created");
    Ok(response::json(StatusCode::CREATED, &tenant_view(&tenant)))
}

/// `GET /v1/admin/tenants`: the tenants kept in the table (not the static keys' tenants).
pub async fn list(app: &App) -> Result<Response<Body>, ApiError> {
    let tenants = app.tenants.tenants().await.map_err(unavailable)?;
    let views: Vec<Value> = tenants.iter().map(tenant_view).collect();
    Ok(response::json(StatusCode::OK, &json!({ "tenants": views })))
}

async fn stored(app: &App, id: &TenantId) -> Result<Tenant, ApiError> {
    app.tenants
        .tenant(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(id))
}

/// `GET /v1/admin/tenants/{tenantId}`.
pub async fn get(app: &App, raw: &str) -> Result<Response<Body>, ApiError> {
    let id = path_tenant(raw)?;
    Ok(response::json(
        StatusCode::OK,
        &tenant_view(&stored(app, &id).await?),
    ))
}

/// `PATCH /v1/admin/tenants/{tenantId}` `{name?, status?, limits?}`: a suspension takes effect
/// within the key cache's bound.
pub async fn patch(app: &App, raw: &str, body: &Value) -> Result<Response<Body>, ApiError> {
    let id = path_tenant(raw)?;
    let mut tenant = stored(app, &id).await?;
    let mut f = Fields::of(body, "").map_err(validation)?;
    let name = name(&mut f, false);
    let status = match f.optional_str("status") {
        Some("active") => Some(TenantStatus::Active),
        Some("suspended") => Some(TenantStatus::Suspended),
        Some(_) => {
            f.error("status", "enum", "must be active or suspended");
            None
        }
        None => None,
    };
    let limits = limits(&mut f, tenant.limits);
    let settings = settings(&mut f, tenant.settings);
    f.finish().map_err(ApiError::Validation)?;
    if let Some(settings) = settings {
        tenant.settings = settings;
    }
    if let Some(name) = name {
        tenant.name = name;
    }
    if let Some(status) = status {
        tenant.status = status;
    }
    if let Some(limits) = limits {
        tenant.limits = limits;
    }
    tenant.updated_at = app.clock.now();
    app.tenants.put_tenant(&tenant).await.map_err(unavailable)?;
    info!(tenant = %tenant.id, status = ?tenant.status, "tenant changed");
    Ok(response::json(StatusCode::OK, &tenant_view(&tenant)))
}

/// Who asks for a key: the operator (any scope), or a tenant's key, which can grant only the
/// scopes it has.
pub enum Granter<'a> {
    Operator,
    Tenant(&'a Caller),
}

/// `POST …/keys` `{kind?, scopes?, description?}`: `201` with the key, shown this once.
pub async fn create_key(
    app: &App,
    tenant: &TenantId,
    granter: Granter<'_>,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let mut f = Fields::of(body, "").map_err(validation)?;
    let kind = match f.optional_str("kind") {
        None | Some("live") => Some(KeyKind::Live),
        Some("test") => Some(KeyKind::Test),
        Some(_) => {
            f.error("kind", "enum", "must be live or test");
            None
        }
    };
    let scopes = scopes(&mut f);
    let description = match f.optional_str("description") {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
            f.error(
                "description",
                "max_length",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            );
            None
        }
        d => d.map(str::to_owned),
    };
    f.finish().map_err(ApiError::Validation)?;
    let (Some(kind), Some(scopes)) = (kind, scopes) else {
        unreachable!("finish reports an invalid kind or scopes")
    };
    if let Granter::Tenant(caller) = granter {
        for scope in &scopes {
            caller.require(*scope)?;
        }
    }
    let active = app
        .tenants
        .keys(tenant)
        .await
        .map_err(unavailable)?
        .iter()
        .filter(|k| k.usable())
        .count();
    if active >= MAX_ACTIVE_KEYS {
        return Err(ApiError::Conflict {
            code: "too_many_keys",
            message: format!(
                "tenant {tenant} has {MAX_ACTIVE_KEYS} active keys, the most it may hold; revoke one first"
            ),
        });
    }
    let secret = ApiKeySecret::generate(kind).map_err(|e| {
        error!(error = %e, "a key could not be generated");
        ApiError::Unavailable("a key could not be generated; retry the request".into())
    })?;
    let key = StoredKey {
        tenant: tenant.clone(),
        prefix: secret.prefix(),
        kind,
        scopes,
        description,
        created_at: app.clock.now(),
        last_used_at: None,
        revoked_at: None,
    };
    app.tenants
        .add_key(&secret.hash(), &key)
        .await
        .map_err(unavailable)?;
    info!(tenant = %tenant, key = %key.prefix, kind = kind.as_str(), "key created");
    let mut view = serde_json::to_value(&key).unwrap_or(Value::Null);
    view["key"] = json!(secret.expose());
    Ok(response::json(StatusCode::CREATED, &view))
}

/// `scopes`: a non-empty list of distinct scopes; every scope when absent.
fn scopes(f: &mut Fields<'_>) -> Option<BTreeSet<Scope>> {
    let Some(value) = f.optional_value("scopes") else {
        return Some(Scope::ALL.into_iter().collect());
    };
    let rule = format!(
        "must be a non-empty list of distinct scopes among {}",
        Scope::ALL.map(Scope::as_str).join(", ")
    );
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        f.error("scopes", "type", rule);
        return None;
    };
    let mut out = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(str::parse::<Scope>) {
            Some(Ok(s)) if out.insert(s) => {}
            Some(Ok(_)) => {
                f.error(&format!("scopes[{i}]"), "unique", "is listed twice");
                return None;
            }
            _ => {
                f.error(&format!("scopes[{i}]"), "enum", rule);
                return None;
            }
        }
    }
    Some(out)
}

/// `GET …/keys`: the tenant's keys without secrets, revoked ones included.
pub async fn list_keys(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    let keys = app.tenants.keys(tenant).await.map_err(unavailable)?;
    Ok(response::json(StatusCode::OK, &json!({ "keys": keys })))
}

/// `DELETE …/keys/{prefix}`: revokes the key; refused everywhere within the key cache's bound.
pub async fn revoke_key(
    app: &App,
    tenant: &TenantId,
    prefix: &str,
) -> Result<Response<Body>, ApiError> {
    let key = app
        .tenants
        .revoke_key(tenant, prefix, app.clock.now())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant} has no key {prefix}")))?;
    info!(tenant = %tenant, key = %key.prefix, "key revoked");
    Ok(response::json(StatusCode::OK, &key))
}

/// The tenant of an operator's key route, which must exist in the table.
pub async fn admin_tenant(app: &App, raw: &str) -> Result<TenantId, ApiError> {
    let id = path_tenant(raw)?;
    stored(app, &id).await.map(|t| t.id)
}
