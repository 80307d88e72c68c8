//! The audit trail (issue "Tenants and API keys"): each state-changing call is recorded with
//! its actor, target, source and outcome, never content; a tenant reads its own, the operator
//! everyone's.

use http::StatusCode;
use serde_json::{Value, json};

use crate::tests::{ADMIN_KEY, KEY, OTHER_KEY, Rig, call, request, rig};

async fn get(rig: &Rig, key: &str, path: &str) -> (StatusCode, Value) {
    let (status, answer, _) = call(rig, request("GET", path, Some(key), None)).await;
    (status, answer)
}

fn actions(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_change_is_recorded_for_its_tenant_without_content() {
    let rig = rig();
    let template =
        json!({"locales": {"en": {"sms": {"message": "Secret plan {{x}}"}}}}).to_string();
    let (status, _, _) = call(
        &rig,
        request("PUT", "/v1/templates/plan", Some(KEY), Some(&template)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/suppressions/email/jane@example.com",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert!(status.is_success());
    let sent = json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "t", "draft": true});
    let (_, sent, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications",
            Some(KEY),
            Some(&sent.to_string()),
        ),
    )
    .await;
    let approve = format!("/v1/notifications/{}/approve", sent["id"].as_str().unwrap());
    call(&rig, request("POST", &approve, Some(KEY), None)).await;
    // A refused change is recorded with its outcome.
    call(&rig, request("POST", &approve, Some(KEY), None)).await;
    // Reads are not.
    get(&rig, KEY, "/v1/templates").await;

    let (status, page) = get(&rig, KEY, "/v1/audit").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        actions(&page),
        [
            "notification.approve",
            "notification.approve",
            "suppression.put",
            "template.save"
        ]
    );
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries[0]["outcome"], 409);
    assert_eq!(entries[1]["outcome"], 200);
    assert_eq!(entries[2]["target"], "email/j***@example.com");
    assert_eq!(entries[3]["target"], "plan");
    assert_eq!(entries[3]["actor"], "static");
    assert_eq!(entries[3]["tenant"], "acme");
    assert!(!page.to_string().contains("Secret plan"), "{page}");
    assert!(!page.to_string().contains("jane@"), "{page}");

    // Another tenant sees none of it; the operator sees it all.
    let (_, theirs) = get(&rig, OTHER_KEY, "/v1/audit").await;
    assert_eq!(theirs["entries"], json!([]));
    let (status, all) = get(
        &rig,
        ADMIN_KEY,
        "/v1/admin/audit?tenant=acme&action=template.save",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(actions(&all), ["template.save"]);
}

#[tokio::test]
async fn operators_and_keys_are_named_and_pages_follow_the_cursor() {
    let rig = rig();
    let body = json!({"id": "globex", "name": "Globex"}).to_string();
    call(
        &rig,
        request("POST", "/v1/admin/tenants", Some(ADMIN_KEY), Some(&body)),
    )
    .await;
    let (_, created, _) = call(
        &rig,
        request(
            "POST",
            "/v1/admin/tenants/globex/keys",
            Some(ADMIN_KEY),
            Some(&json!({"scopes": ["manage", "read"]}).to_string()),
        ),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    let prefix = created["prefix"].as_str().unwrap();
    let (_, mine, _) = call(
        &rig,
        request(
            "POST",
            "/v1/keys",
            Some(key),
            Some(&json!({"scopes": ["read"]}).to_string()),
        ),
    )
    .await;
    let (_, page) = get(&rig, key, "/v1/audit?limit=1").await;
    assert_eq!(actions(&page), ["key.create"]);
    let entry = &page["entries"][0];
    assert_eq!(entry["actor"], format!("key:{prefix}"));
    assert_eq!(entry["target"], mine["prefix"]);
    assert!(
        !page
            .to_string()
            .contains(&mine["key"].as_str().unwrap()[16..]),
        "no secret"
    );
    let next = page["next"].as_str().unwrap();
    let (_, page) = get(&rig, key, next).await;
    assert_eq!(actions(&page), ["key.create"]);
    assert_eq!(page["entries"][0]["actor"], "admin");
    let next = page["next"].as_str().unwrap();
    let (_, page) = get(&rig, key, next).await;
    assert_eq!(actions(&page), ["tenant.create"]);
    assert_eq!(page["next"], Value::Null);
    let (status, answer) = get(&rig, key, "/v1/audit?since=yesterday&action=Bad").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::tests::field_rules(&answer, "details"),
        ["since date_time", "action pattern"]
    );
}

/// Each audited route records its action, whatever its outcome; a draft of one tenant is not
/// another's to decide.
#[tokio::test]
async fn every_audited_action_is_recorded() {
    let rig = rig();
    let calls: &[(&str, &str, Option<Value>)] = &[
        (
            "PUT",
            "/v1/templates/t",
            Some(json!({"locales": {"en": {"sms": {"message": "hi"}}}})),
        ),
        ("DELETE", "/v1/templates/t", None),
        (
            "PUT",
            "/v1/webhooks/endpoints/e",
            Some(json!({"url": "https://example.com/h"})),
        ),
        ("POST", "/v1/webhooks/endpoints/e/rotate-secret", None),
        ("DELETE", "/v1/webhooks/endpoints/e", None),
        ("POST", "/v1/webhooks/signing-secret", None),
        (
            "PUT",
            "/v1/chat/targets/c",
            Some(json!({"type": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/X"})),
        ),
        ("DELETE", "/v1/chat/targets/c", None),
        ("PUT", "/v1/callbacks", Some(json!({"subscriptions": []}))),
        ("DELETE", "/v1/callbacks", None),
        ("PUT", "/v1/suppressions/sms/+33612345678", None),
        ("DELETE", "/v1/suppressions/sms/+33612345678", None),
        (
            "PUT",
            "/v1/users/u",
            Some(json!({"email": "u@example.com"})),
        ),
        ("PATCH", "/v1/users/u", Some(json!({"name": "U"}))),
        (
            "PUT",
            "/v1/users/u/devices/tok",
            Some(json!({"platform": "android"})),
        ),
        ("DELETE", "/v1/users/u/devices/tok", None),
        ("PUT", "/v1/users/u/preferences", Some(json!({}))),
        (
            "PUT",
            "/v1/preferences/addresses/a@example.com",
            Some(json!({})),
        ),
        ("PUT", "/v1/preferences/defaults", Some(json!({}))),
        ("POST", "/v1/user-token-secret", None),
        ("DELETE", "/v1/users/u", None),
        (
            "POST",
            "/v1/notifications/batch",
            Some(
                json!({"channel": "email", "subject": "s", "text": "t", "batchId": "b", "draft": true, "recipients": [{"to": "a@example.com"}]}),
            ),
        ),
        ("POST", "/v1/batches/b/reject", None),
        ("POST", "/v1/batches/b/approve", None),
        (
            "POST",
            "/v1/notifications/01a2aaaa-0000-7000-8000-000000000000/cancel",
            None,
        ),
        (
            "POST",
            "/v1/notifications/01a2aaaa-0000-7000-8000-000000000000/approve",
            None,
        ),
        (
            "POST",
            "/v1/notifications/01a2aaaa-0000-7000-8000-000000000000/reject",
            None,
        ),
        ("POST", "/v1/keys", Some(json!({"scopes": ["read"]}))),
        ("DELETE", "/v1/keys/nk_live_00000000", None),
    ];
    for (method, path, body) in calls {
        let body = body.as_ref().map(Value::to_string);
        call(&rig, request(method, path, Some(KEY), body.as_deref())).await;
    }
    for (method, path, body) in [
        (
            "POST",
            "/v1/admin/tenants",
            Some(json!({"id": "acme", "name": "Acme"})),
        ),
        (
            "PATCH",
            "/v1/admin/tenants/acme",
            Some(json!({"name": "ACME"})),
        ),
        ("POST", "/v1/admin/tenants/acme/keys", Some(json!({}))),
        (
            "DELETE",
            "/v1/admin/tenants/acme/keys/nk_live_00000000",
            None,
        ),
        ("POST", "/v1/admin/redrive", None),
    ] {
        let body = body.as_ref().map(Value::to_string);
        call(
            &rig,
            request(method, path, Some(ADMIN_KEY), body.as_deref()),
        )
        .await;
    }
    let (_, page) = get(&rig, ADMIN_KEY, "/v1/admin/audit?limit=100").await;
    let mut recorded = actions(&page);
    recorded.sort();
    recorded.dedup();
    let mut expected = vec![
        "batch.approve",
        "batch.reject",
        "batch.send",
        "callbacks.delete",
        "callbacks.put",
        "chat_target.delete",
        "chat_target.put",
        "device.delete",
        "device.put",
        "key.create",
        "key.revoke",
        "notification.approve",
        "notification.cancel",
        "notification.reject",
        "preferences.address.put",
        "preferences.defaults.put",
        "preferences.put",
        "redrive",
        "signing_secret.rotate",
        "suppression.delete",
        "suppression.put",
        "template.delete",
        "template.save",
        "tenant.create",
        "tenant.update",
        "user.delete",
        "user.patch",
        "user.put",
        "user_token_secret.rotate",
        "webhook_endpoint.delete",
        "webhook_endpoint.put",
        "webhook_endpoint.rotate_secret",
    ];
    expected.sort();
    assert_eq!(recorded, expected);

    // Another tenant's draft: not found for this one.
    let draft = json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "t", "draft": true});
    let (_, sent, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications",
            Some(KEY),
            Some(&draft.to_string()),
        ),
    )
    .await;
    let path = format!("/v1/notifications/{}/approve", sent["id"].as_str().unwrap());
    let (status, _, _) = call(&rig, request("POST", &path, Some(OTHER_KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &rig,
        request("POST", "/v1/batches/b/approve", Some(OTHER_KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
