//! Tenants and keys kept in DynamoDB (issue "Tenants and API keys"): a tenant and its keys
//! made by the operator, and a test key's notifications going through the whole pipeline to
//! the simulator, never to a provider, and never in a live key's listing.

use notify_tests::{ADMIN_KEY, TestStack, statuses, unique_recipient};
use serde_json::{Value, json};

async fn admin(t: &TestStack, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = t
        .call_with(
            method,
            path,
            Some(&body.to_string()),
            Some(ADMIN_KEY),
            "application/json",
        )
        .await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

#[tokio::test]
async fn a_test_key_runs_the_pipeline_against_the_simulator() {
    let t = TestStack::new().await;
    let tenant = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    admin(
        &t,
        "POST",
        "/v1/admin/tenants",
        json!({"id": tenant, "name": "Simulated"}),
    )
    .await;
    let created = admin(
        &t,
        "POST",
        &format!("/v1/admin/tenants/{tenant}/keys"),
        json!({"kind": "test", "scopes": ["send", "read"]}),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let send = |to: String| {
        let body = json!({"channel": "email", "to": to, "subject": "Hi", "text": "Hello"});
        let t = &t;
        let key = key.clone();
        async move {
            let (status, answer) = t
                .call_with(
                    "POST",
                    "/v1/notifications",
                    Some(&body.to_string()),
                    Some(&key),
                    "application/json",
                )
                .await;
            assert_eq!(status, 202, "{answer}");
            answer["id"].as_str().unwrap().to_owned()
        }
    };
    let jane = unique_recipient();
    let delivered = send(jane.clone()).await;
    let bounced = send("bounce@simulator.notify".into()).await;
    let retried = send("temp-fail@simulator.notify".into()).await;
    t.deliver_all().await;
    tokio::time::sleep(notify_tests::VISIBILITY_TIMEOUT).await;
    t.deliver_all().await;

    let view = |id: String| {
        let t = &t;
        let key = key.clone();
        async move {
            let (status, view) = t
                .call_with(
                    "GET",
                    &format!("/v1/notifications/{id}"),
                    None,
                    Some(&key),
                    "application/json",
                )
                .await;
            assert_eq!(status, 200, "{view}");
            view
        }
    };
    let d = view(delivered.clone()).await;
    assert_eq!(
        statuses(&d),
        ["queued", "sending", "sent", "delivered"],
        "{d}"
    );
    assert_eq!(d["provider"], "simulator");
    let b = view(bounced).await;
    assert_eq!(b["status"], "failed", "{b}");
    let r = view(retried).await;
    assert_eq!(
        (r["status"].as_str(), r["attempts"].as_u64()),
        (Some("delivered"), Some(2)),
        "{r}"
    );
    // Nothing reached SES.
    assert!(t.emails_to(&jane).await.is_empty());
    // A live key of the tenant does not list them.
    let live = admin(
        &t,
        "POST",
        &format!("/v1/admin/tenants/{tenant}/keys"),
        json!({"scopes": ["read"]}),
    )
    .await;
    let (status, listed) = t
        .call_with(
            "GET",
            "/v1/notifications",
            None,
            live["key"].as_str(),
            "application/json",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["notifications"], json!([]), "{listed}");
    let (_, listed) = t
        .call_with(
            "GET",
            "/v1/notifications",
            None,
            Some(&key),
            "application/json",
        )
        .await;
    assert_eq!(listed["notifications"].as_array().unwrap().len(), 3);
}
