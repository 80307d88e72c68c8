//! Keys kept in the table (issue "Tenants and API keys"): a key authenticates its tenant
//! with its scopes, a request outside them is `403` naming the missing one, a revoked key is
//! refused within the cache's bound, a suspended tenant's keys are refused, and a key's last
//! use is written at most once a minute.

use std::time::Duration;

use http::StatusCode;
use notify_shared::{
    clock::Clock,
    domain::{
        TenantId,
        tenant::{ApiKeySecret, KeyKind, Scope, StoredKey, Tenant, TenantLimits, TenantStatus},
    },
    store::TenantStore,
};
use serde_json::json;

use crate::{
    callers::KEY_CACHE_TTL,
    tests::{Rig, call, request, rig},
};

async fn table_key(rig: &Rig, tenant: &str, scopes: &[Scope]) -> ApiKeySecret {
    let now = rig.clock.now();
    let t = Tenant {
        id: TenantId::new(tenant),
        name: tenant.into(),
        status: TenantStatus::Active,
        limits: TenantLimits::default(),
        created_at: now,
        updated_at: now,
    };
    rig.tenants.create_tenant(&t).await.unwrap();
    let secret = ApiKeySecret::generate(KeyKind::Live).unwrap();
    let key = StoredKey {
        tenant: t.id.clone(),
        prefix: secret.prefix(),
        kind: KeyKind::Live,
        scopes: scopes.iter().copied().collect(),
        description: None,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    rig.tenants.add_key(&secret.hash(), &key).await.unwrap();
    secret
}

async fn send(rig: &Rig, key: &ApiKeySecret) -> (StatusCode, serde_json::Value) {
    let body = json!({"channel": "sms", "to": "+33612345678", "message": "hi"}).to_string();
    let (status, answer, _) = call(
        rig,
        request("POST", "/v1/notifications", Some(key.expose()), Some(&body)),
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn a_table_key_acts_for_its_tenant_within_its_scopes() {
    let rig = rig();
    let key = table_key(&rig, "initech", &[Scope::Send, Scope::Read]).await;
    let (status, answer) = send(&rig, &key).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let path = format!("/v1/notifications/{}", answer["id"].as_str().unwrap());
    let (status, _, _) = call(&rig, request("GET", &path, Some(key.expose()), None)).await;
    assert_eq!(status, StatusCode::OK);
    let template = json!({"locales": {"en": {"sms": {"message": "hi"}}}}).to_string();
    let (status, answer, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/templates/t",
            Some(key.expose()),
            Some(&template),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("`templates`"),
        "{answer}"
    );
    // A key the table does not know, or one of the right shape but altered: 401.
    for wrong in [
        "nk_live_unknown0000000000000000000000000000000000",
        &key.expose()[..40],
    ] {
        let (status, _, _) =
            call(&rig, request("GET", "/v1/notifications", Some(wrong), None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_the_cache_bound() {
    let rig = rig();
    let key = table_key(&rig, "initech", &[Scope::Send]).await;
    assert_eq!(send(&rig, &key).await.0, StatusCode::ACCEPTED);
    let now = rig.clock.now();
    rig.tenants
        .revoke_key(&TenantId::new("initech"), &key.prefix(), now)
        .await
        .unwrap()
        .unwrap();
    // This function read the key a moment ago: it may trust it until the bound…
    rig.clock.advance(KEY_CACHE_TTL - Duration::from_secs(1));
    assert_eq!(send(&rig, &key).await.0, StatusCode::ACCEPTED);
    // …and not a moment after.
    rig.clock.advance(Duration::from_secs(1));
    assert_eq!(send(&rig, &key).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_suspended_tenants_keys_are_refused() {
    let rig = rig();
    let key = table_key(&rig, "initech", &[Scope::Send]).await;
    let mut t = rig
        .tenants
        .tenant(&TenantId::new("initech"))
        .await
        .unwrap()
        .unwrap();
    t.status = TenantStatus::Suspended;
    rig.tenants.put_tenant(&t).await.unwrap();
    let (status, answer) = send(&rig, &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("suspended"));
}

#[tokio::test]
async fn a_keys_last_use_is_written_at_most_once_a_minute() {
    let rig = rig();
    let key = table_key(&rig, "initech", &[Scope::Send]).await;
    let first = rig.clock.now();
    send(&rig, &key).await;
    rig.clock.advance(Duration::from_secs(30));
    send(&rig, &key).await;
    let stored = rig.tenants.key(&key.hash()).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(first));
    rig.clock.advance(Duration::from_secs(31));
    send(&rig, &key).await;
    let stored = rig.tenants.key(&key.hash()).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(rig.clock.now()));
}
