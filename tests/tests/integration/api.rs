//! The API's refusals, through the real adapters: nothing is recorded or queued for a bad
//! request.

use http::StatusCode;
use notify_shared::domain::{Channel, Priority};
use notify_tests::TestStack;
use serde_json::json;

async fn nothing_queued(t: &TestStack) {
    for channel in Channel::ALL {
        for p in Priority::ALL {
            assert!(
                t.peek(t.queue_url(channel, p)).await.is_empty(),
                "{channel} {p} queue must be empty"
            );
        }
    }
}

#[tokio::test]
async fn validation_errors_name_each_field_and_queue_nothing() {
    let t = TestStack::new().await;
    let body = json!({
        "channel": "email",
        "to": "bob@@example.com",
        "subject": "Hello\nBcc: all@example.com",
        "html": "",
        "priority": "asap",
        "sendAt": "tomorrow",
    });
    let (status, err) = t
        .call("POST", "/v1/notifications", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "validation_failed");
    let mut fields: Vec<&str> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["html", "priority", "sendAt", "subject", "to"]);
    nothing_queued(&t).await;
}

#[tokio::test]
async fn malformed_json_oversized_and_unauthenticated_requests_are_refused() {
    let t = TestStack::new().await;
    let (status, err) = t
        .call("POST", "/v1/notifications", Some("{\"channel\":"))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );

    let huge = json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "x".repeat(1024 * 1024)});
    let (status, err) = t
        .call("POST", "/v1/notifications", Some(&huge.to_string()))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    let ok =
        json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "t"}).to_string();
    let (status, err) = t
        .call_with(
            "POST",
            "/v1/notifications",
            Some(&ok),
            None,
            "application/json",
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    nothing_queued(&t).await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let t = TestStack::new().await;
    let (status, _) = t.call("GET", "/v1/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = t.call("DELETE", "/v1/notifications", None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let missing = uuid::Uuid::now_v7();
    let (status, _) = t
        .call("GET", &format!("/v1/notifications/{missing}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
