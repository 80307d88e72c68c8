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
