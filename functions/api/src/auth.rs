//! API keys: `Authorization: Bearer <key>`, each key belonging to one tenant.

use std::fmt;

use lambda_http::Request;
use notify_shared::{
    config::{ConfigError, Env},
    domain::TenantId,
};

use crate::ApiError;

const MIN_KEY_CHARS: usize = 20;

/// The accepted keys, from `NOTIFY_API_KEYS` = `tenant:key[,tenant:key…]`.
#[derive(Clone)]
pub struct ApiKeys(Vec<(TenantId, String)>);

impl fmt::Debug for ApiKeys {
    // Keys are secrets: never in logs or panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants: Vec<&str> = self.0.iter().map(|(t, _)| t.as_str()).collect();
        write!(f, "ApiKeys(tenants: {tenants:?})")
    }
}

impl ApiKeys {
    pub const VAR: &'static str = "NOTIFY_API_KEYS";

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::parse(env.required(Self::VAR)?)
    }

    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        for (i, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let (tenant, key) = entry
                .split_once(':')
                .ok_or_else(|| Env::malformed(Self::VAR, format!("entry {n} is not tenant:key")))?;
            let tenant_ok = !tenant.is_empty()
                && tenant.len() <= 64
                && tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !tenant_ok {
                return Err(Env::malformed(
                    Self::VAR,
                    format!("entry {n}: the tenant must be 1 to 64 of A-Z a-z 0-9 - _"),
                ));
            }
            if key.len() < MIN_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
                return Err(Env::malformed(
                    Self::VAR,
                    format!(
                        "entry {n}: the key must be at least {MIN_KEY_CHARS} printable ASCII characters"
                    ),
                ));
            }
            keys.push((TenantId::new(tenant), key.to_owned()));
        }
        if keys.is_empty() {
            return Err(ConfigError::Missing(Self::VAR.into()));
        }
        Ok(Self(keys))
    }

    /// The tenant of the request's key.
    pub fn authenticate(&self, req: &Request) -> Result<TenantId, ApiError> {
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        // Compare against every key, in constant time per key, so timing reveals nothing.
        let mut found = None;
        for (tenant, key) in &self.0 {
            if constant_time_eq(presented.as_bytes(), key.as_bytes()) {
                found = Some(tenant.clone());
            }
        }
        found.ok_or(ApiError::Unauthorized)
    }
}

/// Keys for the operator routes (`/v1/admin/...`), from `NOTIFY_ADMIN_KEYS` = `key[,key…]`.
/// Without any, those routes are disabled.
#[derive(Clone, Default)]
pub struct AdminKeys(Vec<String>);

impl fmt::Debug for AdminKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminKeys({} keys)", self.0.len())
    }
}

impl AdminKeys {
    pub const VAR: &'static str = "NOTIFY_ADMIN_KEYS";

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.optional(Self::VAR)
            .map_or(Ok(Self::default()), Self::parse)
    }

    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        for (i, key) in spec
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
        {
            if key.len() < MIN_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
                return Err(Env::malformed(
                    Self::VAR,
                    format!(
                        "key {}: must be at least {MIN_KEY_CHARS} printable ASCII characters",
                        i + 1
                    ),
                ));
            }
            keys.push(key.to_owned());
        }
        Ok(Self(keys))
    }

    pub fn authenticate(&self, req: &Request) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Err(ApiError::Forbidden(format!(
                "admin routes are disabled: set {} to enable them",
                Self::VAR
            )));
        }
        let presented = bearer(req).ok_or(ApiError::Unauthorized)?;
        let mut found = false;
        for key in &self.0 {
            found |= constant_time_eq(presented.as_bytes(), key.as_bytes());
        }
        found.then_some(()).ok_or(ApiError::Unauthorized)
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ndk_0123456789abcdef0123";

    fn request(auth: Option<&str>) -> Request {
        let mut b = http::Request::builder().uri("/v1/notifications");
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        b.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn resolves_the_tenant_of_a_key() {
        let keys =
            ApiKeys::parse(&format!("acme:{KEY}, globex:ndk_zzzzzzzzzzzzzzzzzzzzzz")).unwrap();
        let tenant = keys
            .authenticate(&request(Some(&format!("Bearer {KEY}"))))
            .unwrap();
        assert_eq!(tenant.as_str(), "acme");
    }

    #[test]
    fn refuses_missing_wrong_or_malformed_credentials() {
        let keys = ApiKeys::parse(&format!("acme:{KEY}")).unwrap();
        for auth in [
            None,
            Some("Bearer nope"),
            Some(KEY),
            Some("Basic abc"),
            Some("Bearer "),
        ] {
            assert!(
                matches!(
                    keys.authenticate(&request(auth)),
                    Err(ApiError::Unauthorized)
                ),
                "{auth:?}"
            );
        }
    }

    #[test]
    fn configuration_errors_never_show_the_key() {
        let err = ApiKeys::parse("acme:short").unwrap_err().to_string();
        assert!(
            err.contains("NOTIFY_API_KEYS") && !err.contains("short"),
            "{err}"
        );
        let err = ApiKeys::parse(&format!("bad tenant:{KEY}"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(KEY), "{err}");
        assert!(ApiKeys::parse(" , ").is_err());
        assert!(!format!("{:?}", ApiKeys::parse(&format!("acme:{KEY}")).unwrap()).contains(KEY));
    }
}
