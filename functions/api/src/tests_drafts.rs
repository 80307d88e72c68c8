//! Draft → approve (issue "Tenants and API keys"): drafts queue nothing until approved,
//! rejected ones end cancelled, four eyes, a tenant's approval threshold for batches, and the
//! batch routes.

use http::StatusCode;
use serde_json::{Value, json};

use crate::tests::{ADMIN_KEY, KEY, Rig, call, request, rig};

async fn post(rig: &Rig, key: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) = call(rig, request("POST", path, Some(key), body.as_deref())).await;
    (status, answer)
}

/// `acme` (the static key's tenant) in the table with `settings`; a second key of it with
/// `scopes`, returned.
async fn acme(rig: &Rig, settings: Value, scopes: Value) -> String {
    let (status, answer) = post(
        rig,
        ADMIN_KEY,
        "/v1/admin/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let body = json!({ "settings": settings }).to_string();
    let (status, answer, _) = call(
        rig,
        request(
            "PATCH",
            "/v1/admin/tenants/acme",
            Some(ADMIN_KEY),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, created) = post(
        rig,
        ADMIN_KEY,
        "/v1/admin/tenants/acme/keys",
        Some(json!({ "scopes": scopes })),
    )
    .await;
    created["key"].as_str().unwrap().to_owned()
}

fn email(draft: bool) -> Value {
    json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "t", "draft": draft})
}

#[tokio::test]
async fn a_draft_queues_nothing_until_approved_and_a_rejected_one_ends_cancelled() {
    let rig = rig();
    let (status, sent) = post(&rig, KEY, "/v1/notifications", Some(email(true))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["status"], "draft");
    assert!(rig.queue.messages().is_empty());
    let id = sent["id"].as_str().unwrap();
    let (status, approved) =
        post(&rig, KEY, &format!("/v1/notifications/{id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "queued");
    assert_eq!(rig.queue.messages().len(), 1);
    let (status, again) = post(&rig, KEY, &format!("/v1/notifications/{id}/approve"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["code"], "not_a_draft");

    let (_, sent) = post(&rig, KEY, "/v1/notifications", Some(email(true))).await;
    let id = sent["id"].as_str().unwrap();
    let (status, rejected) = post(&rig, KEY, &format!("/v1/notifications/{id}/reject"), None).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "cancelled");
    let reasons: Vec<&str> = rejected["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"rejected"), "{rejected}");
    assert_eq!(rig.queue.messages().len(), 1, "nothing more queued");
}

#[tokio::test]
async fn with_four_eyes_another_key_with_the_approve_scope_decides() {
    let rig = rig();
    let approver = acme(&rig, json!({"fourEyes": true}), json!(["approve", "read"])).await;
    let (_, sent) = post(&rig, KEY, "/v1/notifications", Some(email(true))).await;
    let path = format!("/v1/notifications/{}/approve", sent["id"].as_str().unwrap());
    let (status, answer) = post(&rig, KEY, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the creator's key: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("four eyes"));
    let sender = acme_key(&rig, json!(["send"])).await;
    let (status, answer) = post(&rig, &sender, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["missingScope"], "approve");
    let (status, answer) = post(&rig, &approver, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "queued");
}

async fn acme_key(rig: &Rig, scopes: Value) -> String {
    let (_, created) = post(
        rig,
        ADMIN_KEY,
        "/v1/admin/tenants/acme/keys",
        Some(json!({ "scopes": scopes })),
    )
    .await;
    created["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_batch_above_the_tenants_threshold_waits_and_is_approved_at_once() {
    let rig = rig();
    acme(&rig, json!({"approvalAbove": 2}), json!(["approve"])).await;
    let recipients: Vec<Value> = (0..3)
        .map(|i| json!({"to": format!("r{i}@example.com")}))
        .collect();
    let batch = json!({"channel": "email", "subject": "s", "text": "t", "batchId": "big", "recipients": recipients});
    let (status, answer) = post(&rig, KEY, "/v1/notifications/batch", Some(batch)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "draft");
    assert!(rig.queue.messages().is_empty());
    // Two recipients are not above the threshold: sent at once.
    let small = json!({"channel": "email", "subject": "s", "text": "t", "batchId": "small",
        "recipients": [{"to": "x@example.com"}, {"to": "y@example.com"}]});
    let (_, answer) = post(&rig, KEY, "/v1/notifications/batch", Some(small)).await;
    assert_eq!(answer["status"], "queued", "{answer}");
    assert_eq!(rig.queue.messages().len(), 2);
    let (status, answer) = post(&rig, KEY, "/v1/batches/big/approve", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"batchId": "big", "approved": 3, "complete": true})
    );
    assert_eq!(rig.queue.messages().len(), 5);
    let (status, _) = post(&rig, KEY, "/v1/batches/big/reject", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no draft left");
}

#[tokio::test]
async fn bad_settings_and_drafts_are_refused_naming_the_field() {
    let rig = rig();
    post(
        &rig,
        ADMIN_KEY,
        "/v1/admin/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    let body = json!({"settings": {"fourEyes": "yes", "draftExpiryHours": 0}}).to_string();
    let (status, answer, _) = call(
        &rig,
        request(
            "PATCH",
            "/v1/admin/tenants/acme",
            Some(ADMIN_KEY),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::tests::field_rules(&answer, "details"),
        ["settings.fourEyes type", "settings.draftExpiryHours range"]
    );
    let mut bad = email(true);
    bad["draft"] = json!("yes");
    let (status, answer) = post(&rig, KEY, "/v1/notifications", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::tests::field_rules(&answer, "details"),
        ["draft type"]
    );
}
