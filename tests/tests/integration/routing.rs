//! Routing across channels through the whole pipeline against the emulator: a `push → sms`
//! route whose push token is unregistered falls over to SMS (FCM stand-in → push worker →
//! the table's stream → changes function → sweep → SMS worker → SNS), once even when the
//! stream batch is handed twice; and an escalation dropped by a read.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use notify_shared::clock::SystemClock;
use notify_tests::{TestStack, unique_mobile};
use serde_json::{Value, json};

fn user() -> String {
    format!("u-{}", uuid::Uuid::new_v4().simple())
}

async fn route(t: &TestStack, body: &Value) -> Value {
    let (status, answer) = t
        .call("POST", "/v1/notifications", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer
}

#[tokio::test]
async fn push_falls_over_to_sms_when_the_device_is_unregistered() {
    let t = TestStack::new().await;
    let u = user();
    let phone = unique_mobile();
    let (status, _) = t
        .call(
            "PUT",
            &format!("/v1/users/{u}"),
            Some(&json!({"phone": phone}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    t.register_device(&u, "unregistered-route-1", "android")
        .await;

    let r = route(
        &t,
        &json!({
            "userId": u,
            "routing": {"method": "first", "channels": ["push", "sms"]},
            "content": {"push": {"title": "db-1 down"}, "sms": {"message": "db-1 is down"}}
        }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["steps"][0]["status"], "queued");
    assert_eq!(r["steps"][1]["status"], "scheduled", "held: {r}");

    // The push fails for good (FCM: UNREGISTERED); the stream tells the changes function,
    // which releases the SMS for the sweep; the SMS worker sends it.
    t.deliver_all().await;
    let push = t
        .notification(r["steps"][0]["notificationId"].as_str().unwrap())
        .await;
    assert_eq!(push["status"], "failed", "{push}");
    t.deliver_changes().await;
    // A stream batch handed again changes nothing: the release is a conditional write.
    t.deliver_changes().await;
    let sweep = t
        .cleanup(Arc::new(SystemClock))
        .sweep(std::time::Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(sweep.released, 1, "{sweep:?}");
    t.deliver_all().await;
    let (_, parent) = t
        .call("GET", &format!("/v1/notifications/{id}"), None)
        .await;
    assert_eq!(parent["status"], "sent", "{parent}");
    assert_eq!(parent["steps"][0]["status"], "failed");
    assert_eq!(parent["steps"][1]["status"], "sent");
    assert_eq!(t.sms_to(&phone).await.len(), 1);
    t.deliver_changes().await;
    let again = t
        .cleanup(Arc::new(SystemClock))
        .sweep(std::time::Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again.released, 0);
    t.deliver_all().await;
    assert_eq!(t.sms_to(&phone).await.len(), 1, "sent once");
}

#[tokio::test]
async fn an_escalation_goes_only_if_the_first_step_was_not_read() {
    let t = TestStack::new().await;
    let u = user();
    let phone = unique_mobile();
    t.call(
        "PUT",
        &format!("/v1/users/{u}"),
        Some(&json!({"phone": phone}).to_string()),
    )
    .await;
    t.register_device(&u, "route-device-2", "ios").await;
    let body = json!({
        "userId": u,
        "routing": {"method": "first", "channels": ["push", {"channel": "sms", "after": "PT2S", "unless": "read"}]},
        "content": {"push": {"title": "On call: db-1"}, "sms": {"message": "On call: db-1 is down"}}
    });

    // Read in time: the push is acknowledged, the SMS never goes.
    let read = route(&t, &body).await;
    let push_id = read["steps"][0]["notificationId"].as_str().unwrap();
    let (status, ack) = t
        .call("POST", &format!("/v1/notifications/{push_id}/read"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    // Unread: the SMS follows after its delay.
    let unread = route(&t, &body).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    t.deliver_all().await;

    let (_, read) = t
        .call(
            "GET",
            &format!("/v1/notifications/{}", read["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(read["steps"][1]["status"], "cancelled", "{read}");
    let (_, unread) = t
        .call(
            "GET",
            &format!("/v1/notifications/{}", unread["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(unread["steps"][1]["status"], "sent", "{unread}");
    assert_eq!(t.sms_to(&phone).await.len(), 1);
}
