//! The push device registry: `PUT`/`DELETE /v1/users/{userId}/devices/{token}` and
//! `GET /v1/users/{userId}/devices`.

use http::StatusCode;
use lambda_http::{Body, Response};
use notify_shared::{
    domain::{DeviceToken, Platform, TenantId, UserId},
    store::Device,
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::{ApiError, App, response};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceView<'a> {
    user_id: &'a UserId,
    #[serde(flatten)]
    device: &'a Device,
}

/// The path's user id and token, or 400s naming them.
fn path_ids(user: &str, token: Option<&str>) -> Result<(UserId, Option<DeviceToken>), ApiError> {
    let mut errors = Vec::new();
    let user = UserId::parse(user)
        .map_err(|e| errors.push(FieldError::new("userId", "pattern", e)))
        .ok();
    let token = match token.map(DeviceToken::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(FieldError::new("token", "pattern", e));
            None
        }
        None => None,
    };
    match user {
        Some(u) if errors.is_empty() => Ok((u, token)),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    error!(error = %e, "device registry unavailable");
    ApiError::Unavailable("the device registry is unavailable; retry the request".into())
}

pub async fn register(
    app: &App,
    tenant: &TenantId,
    user: &str,
    token: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let (user, token) = path_ids(user, Some(token))?;
    let token = token.ok_or_else(|| ApiError::Validation(Vec::new()))?;
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let platform = f.required_enum::<Platform>("platform");
    let app_id = f.optional_label("appId", 128);
    f.finish().map_err(ApiError::Validation)?;
    let platform = platform.ok_or_else(|| ApiError::Validation(Vec::new()))?;

    let device = app
        .devices
        .register(tenant, &user, &token, platform, app_id, app.clock.now())
        .await
        .map_err(unavailable)?;
    info!(token = %token.masked(), platform = platform.as_str(), "device registered");
    let status = if device.created_at == device.updated_at {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(
        status,
        &DeviceView {
            user_id: &user,
            device: &device,
        },
    ))
}

pub async fn unregister(
    app: &App,
    tenant: &TenantId,
    user: &str,
    token: &str,
) -> Result<Response<Body>, ApiError> {
    let (user, token) = path_ids(user, Some(token))?;
    let token = token.ok_or_else(|| ApiError::Validation(Vec::new()))?;
    if !app
        .devices
        .unregister(tenant, &user, &token)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::NotFound("no such device for this user".into()));
    }
    Ok(response::no_content())
}

pub async fn list(app: &App, tenant: &TenantId, user: &str) -> Result<Response<Body>, ApiError> {
    let (user, _) = path_ids(user, None)?;
    let devices = app
        .devices
        .devices(tenant, &user, app.clock.now())
        .await
        .map_err(unavailable)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        user_id: &'a UserId,
        /// Each as registering it answered (with its `userId`), as the contract has it.
        devices: Vec<DeviceView<'a>>,
    }
    Ok(response::json(
        StatusCode::OK,
        &List {
            user_id: &user,
            devices: devices
                .iter()
                .map(|device| DeviceView {
                    user_id: &user,
                    device,
                })
                .collect(),
        },
    ))
}
