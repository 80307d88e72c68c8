//! Which handler answers a method and path. Unknown paths are 404; known paths with another
//! method are 405 with an `Allow` header.

use http::Method;
use notify_shared::domain::{inbox::Mark, tenant::Scope};

use crate::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    HealthDetailed,
    CreateNotification,
    CreateBatch,
    GetBatch(String),
    ListTemplates,
    PutTemplate(String),
    GetTemplate(String),
    DeleteTemplate(String),
    RenderTemplate(String),
    CompatEmail,
    CompatBulkEmail,
    CompatSms,
    CompatStatus(String),
    GetNotification(String),
    ListNotifications,
    GetStats,
    CancelNotification(String),
    ReadNotification(String),
    Redrive,
    ListDevices {
        user: String,
    },
    RegisterDevice {
        user: String,
        token: String,
    },
    UnregisterDevice {
        user: String,
        token: String,
    },
    PutUser(String),
    GetUser(String),
    PatchUser(String),
    DeleteUser(String),
    GetPreferences(String),
    PutPreferences(String),
    Inbox(String),
    InboxMark {
        user: String,
        id: String,
        mark: Mark,
    },
    InboxMarkAll(String),
    GetPreferenceDefaults,
    GetAddressPreferences(String),
    PutAddressPreferences(String),
    PutPreferenceDefaults,
    RotateUserTokenSecret,
    UnsubscribePage(String),
    Unsubscribe(String),
    ListChatTargets,
    PutChatTarget(String),
    GetChatTarget(String),
    DeleteChatTarget(String),
    ListWebhookEndpoints,
    PutWebhookEndpoint(String),
    GetWebhookEndpoint(String),
    DeleteWebhookEndpoint(String),
    RotateWebhookSecret(String),
    RotateSigningSecret,
    ListSuppressions,
    GetSuppression {
        channel: String,
        address: String,
    },
    PutSuppression {
        channel: String,
        address: String,
    },
    DeleteSuppression {
        channel: String,
        address: String,
    },
    GetCallbacks,
    PutCallbacks,
    DeleteCallbacks,
    ListCallbackDeliveries,
    CreateTenant,
    ListTenants,
    GetTenant(String),
    PatchTenant(String),
    CreateTenantKey(String),
    ListTenantKeys(String),
    RevokeTenantKey {
        tenant: String,
        prefix: String,
    },
    CreateKey,
    ListKeys,
    RevokeKey(String),
    ApproveNotification(String),
    RejectNotification(String),
    ApproveBatch(String),
    RejectBatch(String),
    GetAudit,
    GetAdminAudit,
}

impl Route {
    /// The scope a table key needs for the route (`None`: no tenant key is involved).
    pub fn scope(&self) -> Option<Scope> {
        use Scope::*;
        match self {
            Route::Health
            | Route::HealthDetailed
            | Route::Redrive
            | Route::CreateTenant
            | Route::ListTenants
            | Route::GetTenant(_)
            | Route::PatchTenant(_)
            | Route::CreateTenantKey(_)
            | Route::ListTenantKeys(_)
            | Route::RevokeTenantKey { .. }
            | Route::GetAdminAudit
            | Route::UnsubscribePage(_)
            | Route::Unsubscribe(_) => None,
            Route::CreateNotification
            | Route::CreateBatch
            | Route::CompatEmail
            | Route::CompatBulkEmail
            | Route::CompatSms
            | Route::CancelNotification(_) => Some(Send),
            Route::GetBatch(_)
            | Route::CompatStatus(_)
            | Route::GetNotification(_)
            | Route::ListNotifications
            | Route::GetStats
            | Route::ReadNotification(_)
            | Route::ListCallbackDeliveries
            | Route::GetAudit => Some(Read),
            Route::ListTemplates
            | Route::PutTemplate(_)
            | Route::GetTemplate(_)
            | Route::DeleteTemplate(_)
            | Route::RenderTemplate(_) => Some(Templates),
            Route::ListDevices { .. }
            | Route::RegisterDevice { .. }
            | Route::UnregisterDevice { .. }
            | Route::PutUser(_)
            | Route::GetUser(_)
            | Route::PatchUser(_)
            | Route::DeleteUser(_)
            | Route::GetPreferences(_)
            | Route::PutPreferences(_)
            | Route::Inbox(_)
            | Route::InboxMark { .. }
            | Route::InboxMarkAll(_)
            | Route::GetPreferenceDefaults
            | Route::PutPreferenceDefaults
            | Route::GetAddressPreferences(_)
            | Route::PutAddressPreferences(_)
            | Route::RotateUserTokenSecret => Some(Users),
            Route::ListChatTargets
            | Route::PutChatTarget(_)
            | Route::GetChatTarget(_)
            | Route::DeleteChatTarget(_)
            | Route::ListWebhookEndpoints
            | Route::PutWebhookEndpoint(_)
            | Route::GetWebhookEndpoint(_)
            | Route::DeleteWebhookEndpoint(_)
            | Route::RotateWebhookSecret(_)
            | Route::RotateSigningSecret
            | Route::ListSuppressions
            | Route::GetSuppression { .. }
            | Route::PutSuppression { .. }
            | Route::DeleteSuppression { .. }
            | Route::GetCallbacks
            | Route::PutCallbacks
            | Route::DeleteCallbacks
            | Route::CreateKey
            | Route::ListKeys
            | Route::RevokeKey(_) => Some(Manage),
            Route::ApproveNotification(_)
            | Route::RejectNotification(_)
            | Route::ApproveBatch(_)
            | Route::RejectBatch(_) => Some(Approve),
        }
    }

    /// The user whose inbox the route is about (a user token may call these).
    pub fn inbox_user(&self) -> Option<&str> {
        match self {
            Route::Inbox(user) | Route::InboxMarkAll(user) | Route::InboxMark { user, .. } => {
                Some(user)
            }
            _ => None,
        }
    }
}

/// Every route: method, path pattern (`{x}` is one segment). `openapi.yaml` lists the same.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/health/detailed"),
    ("POST", "/v1/notifications"),
    ("POST", "/v1/notifications/batch"),
    ("GET", "/v1/batches/{batchId}"),
    ("GET", "/v1/templates"),
    ("PUT", "/v1/templates/{name}"),
    ("GET", "/v1/templates/{name}"),
    ("DELETE", "/v1/templates/{name}"),
    ("POST", "/v1/templates/{name}/render"),
    ("POST", "/api/notifications/email"),
    ("POST", "/api/notifications/email/bulk"),
    ("POST", "/api/notifications/sms"),
    ("GET", "/api/notifications/{id}/status"),
    ("GET", "/v1/notifications"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/notifications/{id}"),
    ("POST", "/v1/notifications/{id}/cancel"),
    ("POST", "/v1/notifications/{id}/read"),
    ("GET", "/v1/users/{userId}/devices"),
    ("PUT", "/v1/users/{userId}/devices/{token}"),
    ("DELETE", "/v1/users/{userId}/devices/{token}"),
    ("PUT", "/v1/users/{userId}"),
    ("GET", "/v1/users/{userId}"),
    ("PATCH", "/v1/users/{userId}"),
    ("DELETE", "/v1/users/{userId}"),
    ("GET", "/v1/users/{userId}/preferences"),
    ("PUT", "/v1/users/{userId}/preferences"),
    ("GET", "/v1/users/{userId}/inbox"),
    ("POST", "/v1/users/{userId}/inbox/mark-all"),
    ("POST", "/v1/users/{userId}/inbox/{id}/seen"),
    ("POST", "/v1/users/{userId}/inbox/{id}/read"),
    ("POST", "/v1/users/{userId}/inbox/{id}/unread"),
    ("POST", "/v1/users/{userId}/inbox/{id}/archive"),
    ("POST", "/v1/users/{userId}/inbox/{id}/unarchive"),
    ("GET", "/v1/preferences/defaults"),
    ("PUT", "/v1/preferences/defaults"),
    ("GET", "/v1/preferences/addresses/{address}"),
    ("PUT", "/v1/preferences/addresses/{address}"),
    ("POST", "/v1/user-token-secret"),
    ("GET", "/v1/unsubscribe/{token}"),
    ("POST", "/v1/unsubscribe/{token}"),
    ("POST", "/v1/admin/redrive"),
    ("GET", "/v1/chat/targets"),
    ("PUT", "/v1/chat/targets/{name}"),
    ("GET", "/v1/chat/targets/{name}"),
    ("DELETE", "/v1/chat/targets/{name}"),
    ("GET", "/v1/webhooks/endpoints"),
    ("PUT", "/v1/webhooks/endpoints/{name}"),
    ("GET", "/v1/webhooks/endpoints/{name}"),
    ("DELETE", "/v1/webhooks/endpoints/{name}"),
    ("POST", "/v1/webhooks/endpoints/{name}/rotate-secret"),
    ("POST", "/v1/webhooks/signing-secret"),
    ("GET", "/v1/suppressions"),
    ("PUT", "/v1/suppressions/{channel}/{address}"),
    ("GET", "/v1/suppressions/{channel}/{address}"),
    ("DELETE", "/v1/suppressions/{channel}/{address}"),
    ("GET", "/v1/callbacks"),
    ("PUT", "/v1/callbacks"),
    ("DELETE", "/v1/callbacks"),
    ("GET", "/v1/callbacks/deliveries"),
    ("POST", "/v1/admin/tenants"),
    ("GET", "/v1/admin/tenants"),
    ("GET", "/v1/admin/tenants/{tenantId}"),
    ("PATCH", "/v1/admin/tenants/{tenantId}"),
    ("POST", "/v1/admin/tenants/{tenantId}/keys"),
    ("GET", "/v1/admin/tenants/{tenantId}/keys"),
    ("DELETE", "/v1/admin/tenants/{tenantId}/keys/{prefix}"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{prefix}"),
    ("POST", "/v1/notifications/{id}/approve"),
    ("POST", "/v1/notifications/{id}/reject"),
    ("POST", "/v1/batches/{batchId}/approve"),
    ("POST", "/v1/batches/{batchId}/reject"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/admin/audit"),
];

/// A path segment with its `%XX` escapes decoded; `None` if they do not decode to UTF-8.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut want = pattern.trim_matches('/').split('/');
    let mut got = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => params.push(decode(g)?),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

pub fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    // A literal segment beats a parameter: `/v1/notifications/batch` is the batch route (GET
    // there is 405), never the notification whose id would be "batch".
    let params_of = |pattern: &str| pattern.matches('{').count();
    let fewest = ROUTES
        .iter()
        .filter(|(_, pattern)| matches(pattern, path).is_some())
        .map(|(_, pattern)| params_of(pattern))
        .min();
    let mut allowed = Vec::new();
    for &(m, pattern) in ROUTES {
        if Some(params_of(pattern)) != fewest {
            continue;
        }
        let Some(params) = matches(pattern, path) else {
            continue;
        };
        if m != method.as_str() {
            allowed.push(m);
            continue;
        }
        let mut params = params.into_iter();
        let mut next = || params.next().unwrap_or_default();
        return Ok(match (m, pattern) {
            ("GET", "/health") => Route::Health,
            ("GET", "/health/detailed") => Route::HealthDetailed,
            ("POST", "/v1/notifications") => Route::CreateNotification,
            ("POST", "/v1/notifications/batch") => Route::CreateBatch,
            ("GET", "/v1/batches/{batchId}") => Route::GetBatch(next()),
            ("GET", "/v1/templates") => Route::ListTemplates,
            ("PUT", "/v1/templates/{name}") => Route::PutTemplate(next()),
            ("GET", "/v1/templates/{name}") => Route::GetTemplate(next()),
            ("DELETE", "/v1/templates/{name}") => Route::DeleteTemplate(next()),
            ("POST", "/v1/templates/{name}/render") => Route::RenderTemplate(next()),
            ("POST", "/api/notifications/email") => Route::CompatEmail,
            ("POST", "/api/notifications/email/bulk") => Route::CompatBulkEmail,
            ("POST", "/api/notifications/sms") => Route::CompatSms,
            ("GET", "/api/notifications/{id}/status") => Route::CompatStatus(next()),
            ("GET", "/v1/notifications") => Route::ListNotifications,
            ("GET", "/v1/stats") => Route::GetStats,
            ("GET", "/v1/notifications/{id}") => Route::GetNotification(next()),
            ("POST", "/v1/notifications/{id}/cancel") => Route::CancelNotification(next()),
            ("POST", "/v1/notifications/{id}/read") => Route::ReadNotification(next()),
            ("POST", "/v1/admin/redrive") => Route::Redrive,
            ("GET", "/v1/chat/targets") => Route::ListChatTargets,
            ("PUT", "/v1/chat/targets/{name}") => Route::PutChatTarget(next()),
            ("GET", "/v1/chat/targets/{name}") => Route::GetChatTarget(next()),
            ("DELETE", "/v1/chat/targets/{name}") => Route::DeleteChatTarget(next()),
            ("GET", "/v1/webhooks/endpoints") => Route::ListWebhookEndpoints,
            ("PUT", "/v1/webhooks/endpoints/{name}") => Route::PutWebhookEndpoint(next()),
            ("GET", "/v1/webhooks/endpoints/{name}") => Route::GetWebhookEndpoint(next()),
            ("DELETE", "/v1/webhooks/endpoints/{name}") => Route::DeleteWebhookEndpoint(next()),
            ("POST", "/v1/webhooks/endpoints/{name}/rotate-secret") => {
                Route::RotateWebhookSecret(next())
            }
            ("POST", "/v1/webhooks/signing-secret") => Route::RotateSigningSecret,
            ("GET", "/v1/users/{userId}/devices") => Route::ListDevices { user: next() },
            ("PUT", "/v1/users/{userId}/devices/{token}") => Route::RegisterDevice {
                user: next(),
                token: next(),
            },
            ("DELETE", "/v1/users/{userId}/devices/{token}") => Route::UnregisterDevice {
                user: next(),
                token: next(),
            },
            ("PUT", "/v1/users/{userId}") => Route::PutUser(next()),
            ("GET", "/v1/users/{userId}") => Route::GetUser(next()),
            ("PATCH", "/v1/users/{userId}") => Route::PatchUser(next()),
            ("DELETE", "/v1/users/{userId}") => Route::DeleteUser(next()),
            ("GET", "/v1/users/{userId}/preferences") => Route::GetPreferences(next()),
            ("PUT", "/v1/users/{userId}/preferences") => Route::PutPreferences(next()),
            ("GET", "/v1/users/{userId}/inbox") => Route::Inbox(next()),
            ("POST", "/v1/users/{userId}/inbox/mark-all") => Route::InboxMarkAll(next()),
            ("POST", "/v1/users/{userId}/inbox/{id}/seen") => Route::InboxMark {
                user: next(),
                id: next(),
                mark: Mark::Seen,
            },
            ("POST", "/v1/users/{userId}/inbox/{id}/read") => Route::InboxMark {
                user: next(),
                id: next(),
                mark: Mark::Read,
            },
            ("POST", "/v1/users/{userId}/inbox/{id}/unread") => Route::InboxMark {
                user: next(),
                id: next(),
                mark: Mark::Unread,
            },
            ("POST", "/v1/users/{userId}/inbox/{id}/archive") => Route::InboxMark {
                user: next(),
                id: next(),
                mark: Mark::Archive,
            },
            ("POST", "/v1/users/{userId}/inbox/{id}/unarchive") => Route::InboxMark {
                user: next(),
                id: next(),
                mark: Mark::Unarchive,
            },
            ("GET", "/v1/preferences/defaults") => Route::GetPreferenceDefaults,
            ("PUT", "/v1/preferences/defaults") => Route::PutPreferenceDefaults,
            ("GET", "/v1/preferences/addresses/{address}") => Route::GetAddressPreferences(next()),
            ("PUT", "/v1/preferences/addresses/{address}") => Route::PutAddressPreferences(next()),
            ("POST", "/v1/user-token-secret") => Route::RotateUserTokenSecret,
            ("GET", "/v1/unsubscribe/{token}") => Route::UnsubscribePage(next()),
            ("POST", "/v1/unsubscribe/{token}") => Route::Unsubscribe(next()),
            ("GET", "/v1/suppressions") => Route::ListSuppressions,
            ("PUT", "/v1/suppressions/{channel}/{address}") => Route::PutSuppression {
                channel: next(),
                address: next(),
            },
            ("GET", "/v1/suppressions/{channel}/{address}") => Route::GetSuppression {
                channel: next(),
                address: next(),
            },
            ("DELETE", "/v1/suppressions/{channel}/{address}") => Route::DeleteSuppression {
                channel: next(),
                address: next(),
            },
            ("GET", "/v1/callbacks") => Route::GetCallbacks,
            ("PUT", "/v1/callbacks") => Route::PutCallbacks,
            ("DELETE", "/v1/callbacks") => Route::DeleteCallbacks,
            ("GET", "/v1/callbacks/deliveries") => Route::ListCallbackDeliveries,
            ("POST", "/v1/admin/tenants") => Route::CreateTenant,
            ("GET", "/v1/admin/tenants") => Route::ListTenants,
            ("GET", "/v1/admin/tenants/{tenantId}") => Route::GetTenant(next()),
            ("PATCH", "/v1/admin/tenants/{tenantId}") => Route::PatchTenant(next()),
            ("POST", "/v1/admin/tenants/{tenantId}/keys") => Route::CreateTenantKey(next()),
            ("GET", "/v1/admin/tenants/{tenantId}/keys") => Route::ListTenantKeys(next()),
            ("DELETE", "/v1/admin/tenants/{tenantId}/keys/{prefix}") => Route::RevokeTenantKey {
                tenant: next(),
                prefix: next(),
            },
            ("POST", "/v1/keys") => Route::CreateKey,
            ("GET", "/v1/keys") => Route::ListKeys,
            ("DELETE", "/v1/keys/{prefix}") => Route::RevokeKey(next()),
            ("POST", "/v1/notifications/{id}/approve") => Route::ApproveNotification(next()),
            ("POST", "/v1/notifications/{id}/reject") => Route::RejectNotification(next()),
            ("POST", "/v1/batches/{batchId}/approve") => Route::ApproveBatch(next()),
            ("POST", "/v1/batches/{batchId}/reject") => Route::RejectBatch(next()),
            ("GET", "/v1/audit") => Route::GetAudit,
            ("GET", "/v1/admin/audit") => Route::GetAdminAudit,
            _ => unreachable!("every entry of ROUTES has a handler"),
        });
    }
    if allowed.is_empty() {
        Err(ApiError::NotFound(format!("no route for {path}")))
    } else {
        Err(ApiError::MethodNotAllowed(allowed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves() {
        assert_eq!(route(&Method::GET, "/health").unwrap(), Route::Health);
        assert_eq!(
            route(&Method::POST, "/v1/notifications").unwrap(),
            Route::CreateNotification
        );
        assert_eq!(
            route(&Method::POST, "/v1/notifications/").unwrap(),
            Route::CreateNotification
        );
        assert_eq!(
            route(&Method::GET, "/v1/notifications/abc").unwrap(),
            Route::GetNotification("abc".into())
        );
    }

    #[test]
    fn batch_and_compatible_routes_resolve_beside_their_neighbours() {
        assert_eq!(
            route(&Method::POST, "/v1/notifications/batch").unwrap(),
            Route::CreateBatch
        );
        assert!(
            matches!(
                route(&Method::GET, "/v1/notifications/batch"),
                Err(ApiError::MethodNotAllowed(_))
            ),
            "the batch route's path, with another method"
        );
        assert_eq!(
            route(&Method::POST, "/v1/templates/otp/render").unwrap(),
            Route::RenderTemplate("otp".into())
        );
        assert_eq!(
            route(&Method::POST, "/api/notifications/email/bulk").unwrap(),
            Route::CompatBulkEmail
        );
        assert_eq!(
            route(&Method::GET, "/api/notifications/abc/status").unwrap(),
            Route::CompatStatus("abc".into())
        );
        match route(&Method::POST, "/v1/templates/otp") {
            Err(ApiError::MethodNotAllowed(allow)) => assert_eq!(allow, "PUT, GET, DELETE"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        assert_eq!(
            route(&Method::PUT, "/v1/users/ann%40acme/devices/tok%3A1").unwrap(),
            Route::RegisterDevice {
                user: "ann@acme".into(),
                token: "tok:1".into()
            }
        );
        assert!(matches!(
            route(&Method::GET, "/v1/users/%zz/devices"),
            Err(ApiError::NotFound(_))
        ));
    }

    #[test]
    fn a_literal_path_is_not_taken_for_a_parameter() {
        match route(&Method::GET, "/v1/notifications/batch") {
            Err(ApiError::MethodNotAllowed(allow)) => assert_eq!(allow, "POST"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            route(&Method::GET, "/v1/notifications/019a").unwrap(),
            Route::GetNotification("019a".into())
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/",
            "/v2/notifications",
            "/v1/notifications/a/b",
            "/healthz",
        ] {
            assert!(
                matches!(route(&Method::GET, path), Err(ApiError::NotFound(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        match route(&Method::DELETE, "/v1/notifications") {
            Err(ApiError::MethodNotAllowed(allow)) => assert_eq!(allow, "POST, GET"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route(&Method::POST, "/health"),
            Err(ApiError::MethodNotAllowed(_))
        ));
    }
}

#[cfg(test)]
mod openapi {
    use std::collections::BTreeSet;

    use super::ROUTES;

    /// `(METHOD, /path)` for every operation in openapi.yaml: path keys sit at two spaces
    /// under `paths:`, method keys at four.
    fn documented() -> BTreeSet<(String, String)> {
        let spec = include_str!("../../../openapi.yaml");
        let mut ops = BTreeSet::new();
        let mut in_paths = false;
        let mut path = String::new();
        for line in spec.lines() {
            if !line.starts_with(' ') {
                in_paths = line.trim_end() == "paths:";
                continue;
            }
            if !in_paths {
                continue;
            }
            if let Some(p) = line.strip_prefix("  /") {
                path = format!("/{}", p.trim_end().trim_end_matches(':'));
            } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
                && ["get", "put", "post", "delete", "patch"].contains(&m)
            {
                ops.insert((m.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_served() {
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(served, documented());
    }

    /// A new channel must be in the contract: the channel enums and the per-channel request
    /// schema of `POST /v1/notifications` (the `channel` discriminator).
    #[test]
    fn every_channel_is_in_the_contract() {
        let spec: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../openapi.yaml")).expect("openapi.yaml");
        let names: Vec<&str> = notify_shared::domain::Channel::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        let listed: Vec<&str> = spec["components"]["schemas"]["Channel"]["enum"]
            .as_sequence()
            .expect("the Channel enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(listed, names, "components.schemas.Channel");
        let mapping = &spec["paths"]["/v1/notifications"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["discriminator"]["mapping"];
        for name in &names {
            let schema = mapping[*name].as_str().unwrap_or_else(|| {
                panic!("POST /v1/notifications has no request schema for channel {name}")
            });
            let schema = schema.trim_start_matches("#/components/schemas/");
            assert_eq!(
                spec["components"]["schemas"][schema]["properties"]["channel"]["enum"][0].as_str(),
                Some(*name),
                "{schema}"
            );
        }
    }
}
