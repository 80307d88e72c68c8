//! Push through the API, the device registry, the push worker and the FCM stand-in.

use std::time::Duration;

use http::StatusCode;
use notify_local::fcm::Scripted;
use notify_shared::domain::{Channel, Priority};
use notify_tests::TestStack;
use serde_json::{Value, json};

fn user() -> String {
    format!("user-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn push_to(user: &str) -> Value {
    json!({
        "channel": "push", "userId": user, "priority": "high",
        "title": "Order shipped", "body": "Order 42 is on its way.",
        "data": {"orderId": "42"}, "badge": 1, "collapseKey": "order-42", "ttlSeconds": 3600
    })
}

async fn devices(t: &TestStack, user: &str) -> Vec<String> {
    let (status, list) = t
        .call("GET", &format!("/v1/users/{user}/devices"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["token"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_push_reaches_every_device_of_the_user_with_one_status_each() {
    let t = TestStack::new().await;
    let u = user();
    t.register_device(&u, "android-token-1", "android").await;
    t.register_device(&u, "ios-token-1", "ios").await;
    let id = t.send(&push_to(&u)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(view["provider"], "fcm");
    let deliveries = view["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == "sent" && d["providerMessageId"].is_string())
    );

    for (token, platform) in [("android-token-1", "android"), ("ios-token-1", "ios")] {
        let received = t.fcm.received_for(token);
        assert_eq!(received.len(), 1, "{token}");
        let m = &received[0].message;
        assert_eq!(m["notification"]["title"], "Order shipped");
        assert_eq!(m["data"]["orderId"], "42");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["apns"]["payload"]["aps"]["badge"], 1);
        assert!(
            deliveries
                .iter()
                .any(|d| d["to"] == token && d["platform"] == platform)
        );
    }
    assert_eq!(t.fcm.grants(), 1, "one OAuth token, cached for both sends");
}

#[tokio::test]
async fn an_unregistered_token_fails_its_delivery_and_leaves_the_registry() {
    let t = TestStack::new().await;
    let u = user();
    t.register_device(&u, "live-token", "android").await;
    t.register_device(&u, "stale-token", "ios").await;
    t.fcm
        .script("stale-token", vec![Scripted::error(404, "UNREGISTERED")]);
    let id = t.send(&push_to(&u)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "one device got it: {view}");
    let stale = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["to"] == "stale-token")
        .unwrap()
        .clone();
    assert_eq!(
        (stale["status"].as_str(), stale["error"]["code"].as_str()),
        (Some("failed"), Some("UNREGISTERED"))
    );
    assert_eq!(devices(&t, &u).await, ["live-token"]);
}

#[tokio::test]
async fn an_invalid_token_is_treated_as_gone_too() {
    let t = TestStack::new().await;
    let u = user();
    t.register_device(&u, "mangled-token", "web").await;
    t.fcm.script(
        "mangled-token",
        vec![Scripted {
            field: Some("message.token".into()),
            ..Scripted::error(400, "INVALID_ARGUMENT")
        }],
    );
    let id = t.send(&push_to(&u)).await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "INVALID_ARGUMENT");
    assert!(devices(&t, &u).await.is_empty());
    assert!(
        t.peek(t.dlq_url(Channel::Push, Priority::High))
            .await
            .is_empty(),
        "permanent: no retry, no DLQ"
    );
}

#[tokio::test]
async fn unavailable_and_quota_errors_are_retried_after_retry_after() {
    let t = TestStack::new().await;
    for (status, code) in [(503, "UNAVAILABLE"), (429, "QUOTA_EXCEEDED")] {
        let u = user();
        let token = format!("token-{}", code.to_lowercase());
        t.register_device(&u, &token, "android").await;
        t.fcm
            .script(&token, vec![Scripted::error(status, code).retry_after(1)]);
        let id = t.send(&push_to(&u)).await;

        t.deliver_all().await;
        let waiting = t.notification(&id).await;
        assert_eq!(waiting["status"], "queued", "{waiting}");
        assert_eq!(waiting["error"]["code"], code);
        assert_eq!(waiting["deliveries"][0]["status"], "pending");
        // Retry-After: 1 — the message is back a second later, not after the visibility timeout.
        let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
        assert_eq!(view["status"], "sent", "{view}");
        assert_eq!(view["attempts"], 2);
        assert_eq!(t.fcm.received_for(&token).len(), 1);
        let statuses: Vec<&str> = view["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["queued", "sending", "queued", "sending", "sent"]);
    }
}

#[tokio::test]
async fn a_raw_token_push_needs_no_registration() {
    let t = TestStack::new().await;
    let id = t
        .send(&json!({"channel": "push", "token": "one-off-token", "body": "Hello"}))
        .await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(t.fcm.received_for("one-off-token").len(), 1);
}

#[tokio::test]
async fn a_user_without_devices_fails_with_no_targets() {
    let t = TestStack::new().await;
    let id = t.send(&push_to(&user())).await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "NoTargets");
}

#[tokio::test]
async fn a_payload_over_4kb_is_refused_at_the_api() {
    let t = TestStack::new().await;
    let mut body = push_to(&user());
    body["data"] = json!({"a": "x".repeat(2100), "b": "y".repeat(2100)});
    let (status, err) = t
        .call("POST", "/v1/notifications", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        (
            err["details"][0]["field"].as_str(),
            err["details"][0]["rule"].as_str()
        ),
        (Some("data"), Some("max_bytes"))
    );
    assert!(
        t.peek(t.queue_url(Channel::Push, Priority::High))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_device_moves_to_the_user_who_registered_it_last() {
    let t = TestStack::new().await;
    let (ann, bob) = (user(), user());
    t.register_device(&ann, "shared-tablet", "android").await;
    t.register_device(&bob, "shared-tablet", "android").await;
    assert!(
        devices(&t, &ann).await.is_empty(),
        "Ann's pushes must not reach Bob's device"
    );
    assert_eq!(devices(&t, &bob).await, ["shared-tablet"]);
}
