//! Status callbacks end to end: a status change in the table, the table's stream to the
//! changes function, the callbacks queue, the callbacks function, and a receiver on loopback.
//! Signatures are checked with the Standard Webhooks reference library.

use std::time::{Duration, Instant};

use http::StatusCode;
use notify_local::receiver::{Answer, ReceivedWebhook};
use notify_tests::{OTHER_API_KEY, TestStack, unique_recipient};
use serde_json::{Value, json};

use crate::webhook::reference_verify;

/// Subscribes the receiver's `path` to `events` (all when empty); returns the signing secret
/// the answer shows.
async fn subscribe(t: &TestStack, path: &str, events: &[&str]) -> String {
    let mut subscription = json!({"url": format!("{}{path}", t.receiver_url)});
    if !events.is_empty() {
        subscription["events"] = json!(events);
    }
    let body = json!({"subscriptions": [subscription]});
    let (status, answer) = t
        .call("PUT", "/v1/callbacks", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["signingSecret"]
        .as_str()
        .expect("the new signing secret, shown once")
        .to_owned()
}

fn email(extra: Value) -> Value {
    let mut body =
        json!({"channel": "email", "to": unique_recipient(), "subject": "Hi", "text": "Hello"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    body
}

/// Sends, delivers and runs the stream until the notification is `sent` and its callbacks are
/// queued.
async fn sent(t: &TestStack, body: &Value) -> String {
    let id = t.send(body).await;
    let view = t.deliver_until(&id, "sent", Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    t.deliver_changes().await;
    id
}

/// Runs the callbacks function until `path` has received `n` requests, or `within` passed.
async fn callbacks_until(
    t: &TestStack,
    path: &str,
    n: usize,
    within: Duration,
) -> Vec<ReceivedWebhook> {
    let start = Instant::now();
    loop {
        t.deliver_callbacks().await;
        let got = t.receiver.received_at(path);
        if got.len() >= n || start.elapsed() > within {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_status_callback_is_signed_and_the_reference_verifier_accepts_it() {
    let t = TestStack::new().await;
    let secret = subscribe(&t, "/status", &["sent"]).await;
    let id = sent(&t, &email(json!({"reference": "order-42"}))).await;

    let got = callbacks_until(&t, "/status", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one callback: {got:?}");
    let d = &got[0];
    let webhook_id = d.header("webhook-id").expect("a webhook-id");
    assert!(
        webhook_id.starts_with(&format!("{id}.sent.")),
        "{webhook_id}"
    );
    let body: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(body["type"], "notification.sent");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["status"], "sent");
    assert_eq!(body["data"]["reference"], "order-42");
    assert_eq!(body["data"]["channel"], "email");
    assert!(body["data"]["sentAt"].is_string(), "{body}");
    let to = body["data"]["to"].as_str().unwrap();
    assert!(
        to.contains("***") && to.ends_with("@example.com"),
        "masked: {to}"
    );
    reference_verify(&secret, &got).expect("the reference library accepts the signature");
    assert!(
        reference_verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got).is_err(),
        "and refuses it with another secret"
    );

    // A callback delivered at once leaves no record.
    let (status, list) = t.call("GET", "/v1/callbacks/deliveries", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["deliveries"], json!([]));
}

#[tokio::test]
async fn a_callback_answered_500_is_retried_with_the_same_webhook_id_and_recorded() {
    let t = TestStack::new().await;
    subscribe(&t, "/flaky", &["sent"]).await;
    t.receiver.script("/flaky", vec![Answer::status(500)]);
    let id = sent(&t, &email(json!({}))).await;

    let first = callbacks_until(&t, "/flaky", 1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].answered, 500);
    let (_, list) = t
        .call("GET", "/v1/callbacks/deliveries?status=retrying", None)
        .await;
    let retrying = &list["deliveries"][0];
    assert_eq!(retrying["notificationId"], id.as_str(), "{list}");
    assert_eq!(retrying["attempts"], 1);
    assert_eq!(retrying["error"]["code"], "http_500");
    assert!(retrying["nextAttemptAt"].is_string());

    let got = callbacks_until(&t, "/flaky", 2, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 2, "retried once: {got:?}");
    assert_eq!(got[1].answered, 200);
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "a receiver drops the repeat by its webhook-id"
    );
    let (_, list) = t
        .call("GET", "/v1/callbacks/deliveries?status=delivered", None)
        .await;
    assert_eq!(list["deliveries"][0]["attempts"], 2, "{list}");
    assert_eq!(list["deliveries"][0]["response"]["status"], 200);
    let (_, list) = t
        .call("GET", "/v1/callbacks/deliveries?status=retrying", None)
        .await;
    assert_eq!(list["deliveries"], json!([]));
}

#[tokio::test]
async fn a_callback_answered_404_fails_at_once_and_is_dead_lettered() {
    let t = TestStack::new().await;
    subscribe(&t, "/gone", &[]).await;
    t.receiver.script("/gone", vec![Answer::status(404)]);
    let id = sent(&t, &email(json!({}))).await;

    let got = callbacks_until(&t, "/gone", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    // Long enough for a retry (1 to 2 s in the test stack): none comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = callbacks_until(&t, "/gone", 2, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1, "not retried: {got:?}");

    let (_, list) = t
        .call("GET", "/v1/callbacks/deliveries?status=failed", None)
        .await;
    let failed = &list["deliveries"][0];
    assert_eq!(failed["notificationId"], id.as_str(), "{list}");
    assert_eq!(failed["event"], "sent");
    assert_eq!(failed["error"]["code"], "http_404");
    let dead = t.peek(&t.stack.callbacks.dlq_url).await;
    assert_eq!(dead.len(), 1, "on the dead-letter queue, to redrive");
    assert!(dead[0].contains(&id), "{}", dead[0]);
    assert!(t.peek(&t.stack.callbacks.url).await.is_empty());
}

#[tokio::test]
async fn a_notifications_callback_url_takes_the_place_of_the_subscriptions() {
    let t = TestStack::new().await;
    subscribe(&t, "/tenant", &["sent"]).await;
    let own = format!("{}/own/42", t.receiver_url);
    let id = sent(&t, &email(json!({"callbackUrl": own}))).await;
    assert_eq!(t.notification(&id).await["callbackUrl"], own.as_str());

    let got = callbacks_until(&t, "/own/42", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(t.receiver.received_at("/tenant").is_empty());
}

#[tokio::test]
async fn subscriptions_and_deliveries_are_the_tenants_own() {
    let t = TestStack::new().await;
    subscribe(&t, "/mine", &["sent"]).await;
    t.receiver.script("/mine", vec![Answer::status(404)]);
    sent(&t, &email(json!({}))).await;
    callbacks_until(&t, "/mine", 1, Duration::from_secs(10)).await;

    let other = |path: &'static str| {
        t.call_with("GET", path, None, Some(OTHER_API_KEY), "application/json")
    };
    let (status, subs) = other("/v1/callbacks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(subs["subscriptions"], json!([]), "{subs}");
    let (_, list) = other("/v1/callbacks/deliveries").await;
    assert_eq!(list["deliveries"], json!([]), "{list}");
    let (_, mine) = t.call("GET", "/v1/callbacks/deliveries", None).await;
    assert_eq!(
        mine["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{mine}"
    );

    // The other tenant's notifications never reach this tenant's URL.
    let (status, answer) = t
        .call_with(
            "POST",
            "/v1/notifications",
            Some(&email(json!({})).to_string()),
            Some(OTHER_API_KEY),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    t.deliver_all().await;
    assert!(
        t.deliver_changes().await > 0,
        "the other tenant's changes were read"
    );
    let got = callbacks_until(&t, "/mine", 2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 1, "{got:?}");
}
