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
    tests::{ADMIN_KEY, KEY, Rig, call, request, rig},
};

async fn table_key(rig: &Rig, tenant: &str, scopes: &[Scope]) -> ApiKeySecret {
    let now = rig.clock.now();
    let t = Tenant {
        id: TenantId::new(tenant),
        name: tenant.into(),
        status: TenantStatus::Active,
        limits: TenantLimits::default(),
        settings: Default::default(),
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
    // The Event Planner routes' envelope names the scope too.
    let reader = table_key(&rig, "initrode", &[Scope::Read]).await;
    let sms = json!({"to": "+33612345678", "message": "hi"}).to_string();
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/api/notifications/sms",
            Some(reader.expose()),
            Some(&sms),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["success"], false, "{answer}");
    assert_eq!(answer["error"]["missingScope"], "send", "{answer}");
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

async fn admin(
    rig: &Rig,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) =
        call(rig, request(method, path, Some(ADMIN_KEY), body.as_deref())).await;
    (status, answer)
}

#[tokio::test]
async fn the_operator_creates_a_tenant_and_a_scoped_key_shown_once_and_kept_as_a_hash() {
    let rig = rig();
    let (status, tenant) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "globex", "name": "Globex", "limits": {"requestsPerMinute": 600}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["status"], "active");
    assert_eq!(tenant["limits"]["requestsPerMinute"], 600);
    assert_eq!(tenant["limits"]["dailyQuotaPerChannel"], 250_000);
    let (status, again) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "globex", "name": "Globex"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "tenant_exists");
    // A tenant key is not an admin key.
    let (status, _, _) = call(&rig, request("GET", "/v1/admin/tenants", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, created) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants/globex/keys",
        Some(json!({"scopes": ["send", "read"], "description": "checkout"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("nk_live_"), "{created}");
    assert_eq!(created["scopes"], json!(["send", "read"]));
    assert_eq!(created["prefix"], &secret[..16]);
    // Kept only as its hash: the store has nothing that contains the key.
    let stored = rig
        .tenants
        .key(&notify_shared::domain::tenant::key_hash(&secret))
        .await
        .unwrap()
        .unwrap();
    assert!(!format!("{stored:?}").contains(&secret[16..]));

    // The key sends, and a route outside its scopes is 403 naming the scope.
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications",
            Some(&secret),
            Some(&json!({"channel": "sms", "to": "+33612345678", "message": "hi"}).to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, answer, _) =
        call(&rig, request("GET", "/v1/templates", Some(&secret), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["code"], "forbidden");
    assert_eq!(answer["missingScope"], "templates");

    // Listed without the secret, with its last use.
    let (status, listed) = admin(&rig, "GET", "/v1/admin/tenants/globex/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.to_string().contains(&secret[16..]), "{listed}");
    assert_eq!(listed["keys"][0]["prefix"], created["prefix"]);
    assert!(listed["keys"][0]["lastUsedAt"].is_string(), "{listed}");

    // Suspended by the operator: refused (after the cache's bound), then active again.
    let (status, patched) = admin(
        &rig,
        "PATCH",
        "/v1/admin/tenants/globex",
        Some(json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["limits"]["requestsPerMinute"], 600, "kept");
    rig.clock.advance(KEY_CACHE_TTL);
    let (status, answer, _) = call(
        &rig,
        request("GET", "/v1/notifications", Some(&secret), None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["code"], "tenant_suspended");

    // Revoked by the operator: refused after the bound.
    let path = format!("/v1/admin/tenants/globex/keys/{}", &secret[..16]);
    admin(
        &rig,
        "PATCH",
        "/v1/admin/tenants/globex",
        Some(json!({"status": "active"})),
    )
    .await;
    let (status, revoked) = admin(&rig, "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revokedAt"].is_string());
    rig.clock.advance(KEY_CACHE_TTL);
    let (status, _, _) = call(
        &rig,
        request("GET", "/v1/notifications", Some(&secret), None),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants/nobody/keys",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_tenant_and_key_requests_name_the_field() {
    let rig = rig();
    let (status, answer) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "no spaces", "name": "", "limits": {"requestsPerMinute": 0}, "x": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let rules = crate::tests::field_rules(&answer, "details");
    for want in [
        "id pattern",
        "name length",
        "limits.requestsPerMinute range",
        "x unknown_field",
    ] {
        assert!(rules.iter().any(|r| r == want), "{want}: {rules:?}");
    }
    admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "globex", "name": "Globex"})),
    )
    .await;
    for (body, want) in [
        (json!({"scopes": []}), "scopes type"),
        (json!({"scopes": ["send", "send"]}), "scopes[1] unique"),
        (json!({"scopes": ["admin"]}), "scopes[0] enum"),
        (json!({"kind": "sandbox"}), "kind enum"),
    ] {
        let (status, answer) =
            admin(&rig, "POST", "/v1/admin/tenants/globex/keys", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let rules = crate::tests::field_rules(&answer, "details");
        assert_eq!(rules, vec![want.to_owned()]);
    }
}

#[tokio::test]
async fn a_tenant_manages_its_own_keys_and_grants_no_more_than_it_holds() {
    let rig = rig();
    let manager = table_key(&rig, "initech", &[Scope::Manage, Scope::Send]).await;
    let other = table_key(&rig, "globex", &[Scope::Manage]).await;
    let create = |scopes: serde_json::Value| json!({"scopes": scopes, "kind": "test"}).to_string();
    let (status, created, _) = call(
        &rig,
        request(
            "POST",
            "/v1/keys",
            Some(manager.expose()),
            Some(&create(json!(["send"]))),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["key"].as_str().unwrap().starts_with("nk_test_"));
    assert_eq!(created["tenant"], "initech");
    // No escalation: a key cannot grant a scope it lacks.
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/keys",
            Some(manager.expose()),
            Some(&create(json!(["send", "templates"]))),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["missingScope"], "templates");
    // Rotation: both keys work until the old one is revoked.
    let new_key = created["key"].as_str().unwrap();
    let (status, listed, _) = call(&rig, request("GET", "/v1/keys", Some(new_key), None)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a send key cannot list keys: {listed}"
    );
    let (status, listed, _) = call(
        &rig,
        request("GET", "/v1/keys", Some(manager.expose()), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2, "{listed}");
    // Another tenant cannot see or revoke them.
    let path = format!("/v1/keys/{}", &new_key[..16]);
    let (status, _, _) = call(&rig, request("DELETE", &path, Some(other.expose()), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs, _) = call(&rig, request("GET", "/v1/keys", Some(other.expose()), None)).await;
    assert_eq!(theirs["keys"].as_array().unwrap().len(), 1, "{theirs}");
    let (status, _, _) = call(&rig, request("DELETE", &path, Some(manager.expose()), None)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_tenant_holds_a_bounded_number_of_active_keys() {
    let rig = rig();
    admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "globex", "name": "Globex"})),
    )
    .await;
    for _ in 0..crate::tenants::MAX_ACTIVE_KEYS {
        let (status, _) = admin(
            &rig,
            "POST",
            "/v1/admin/tenants/globex/keys",
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, answer) = admin(
        &rig,
        "POST",
        "/v1/admin/tenants/globex/keys",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["code"], "too_many_keys");
}

#[tokio::test]
async fn a_test_keys_notifications_are_its_own_and_count_against_no_quota() {
    let rig = rig();
    admin(
        &rig,
        "POST",
        "/v1/admin/tenants",
        Some(json!({"id": "globex", "name": "Globex", "limits": {"dailyQuotaPerChannel": 1}})),
    )
    .await;
    let mut keys = Vec::new();
    for kind in ["live", "test"] {
        let (_, created) = admin(
            &rig,
            "POST",
            "/v1/admin/tenants/globex/keys",
            Some(json!({"kind": kind})),
        )
        .await;
        keys.push(created["key"].as_str().unwrap().to_owned());
    }
    let (live, test) = (keys[0].as_str(), keys[1].as_str());
    let sms = json!({"channel": "sms", "to": "+12025550102", "message": "hi"}).to_string();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, answer, _) = call(
            &rig,
            request("POST", "/v1/notifications", Some(test), Some(&sms)),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "beyond the quota: {answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let record = rig
        .store
        .record(&notify_shared::domain::NotificationId::parse(&ids[0]).unwrap())
        .unwrap();
    assert!(record.test, "marked for the simulator");
    // The live quota is untouched by them.
    let (status, _, _) = call(
        &rig,
        request("POST", "/v1/notifications", Some(live), Some(&sms)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let path = format!("/v1/notifications/{}", ids[0]);
    let (status, _, _) = call(&rig, request("GET", &path, Some(live), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a live key does not see it");
    let (status, _, _) = call(&rig, request("GET", &path, Some(test), None)).await;
    assert_eq!(status, StatusCode::OK);
    for (key, count) in [(live, 1), (test, 3)] {
        let (_, listed, _) = call(&rig, request("GET", "/v1/notifications", Some(key), None)).await;
        let listed = listed["notifications"].as_array().unwrap();
        assert_eq!(listed.len(), count, "{listed:?}");
    }
    // A routed send's parent is the test key's too, as its children.
    let profile = json!({"phone": "+12025550102"}).to_string();
    let (status, _, _) = call(
        &rig,
        request("PUT", "/v1/users/u-1", Some(test), Some(&profile)),
    )
    .await;
    assert!(status.is_success());
    let routed = json!({"userId": "u-1", "routing": {"method": "all", "channels": ["sms"]},
        "content": {"sms": {"message": "hi"}}})
    .to_string();
    let (status, route, _) = call(
        &rig,
        request("POST", "/v1/notifications", Some(test), Some(&routed)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{route}");
    let path = format!("/v1/notifications/{}", route["id"].as_str().unwrap());
    let (status, _, _) = call(&rig, request("GET", &path, Some(live), None)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a live key does not see a test route"
    );
    let cancel = format!("{path}/cancel");
    let (status, _, _) = call(&rig, request("POST", &cancel, Some(live), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor cancels it");
    let (status, seen, _) = call(&rig, request("GET", &path, Some(test), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["routing"]["method"], "all");
}
