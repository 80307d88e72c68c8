//! The status callback routes over in-memory ports, and `callbackUrl` on a send. Callbacks
//! themselves (the stream, the queue, the receiver) are in the `tests` crate.

use http::StatusCode;
use serde_json::{Value, json};

use crate::tests::{KEY, OTHER_KEY, Rig, call, email, field_rules, post, request, rig};

async fn put(rig: &Rig, key: &str, body: &Value) -> (StatusCode, Value) {
    let (status, answer, _) = call(
        rig,
        request("PUT", "/v1/callbacks", Some(key), Some(&body.to_string())),
    )
    .await;
    (status, answer)
}

async fn get(rig: &Rig, key: &str, path: &str) -> (StatusCode, Value) {
    let (status, answer, _) = call(rig, request("GET", path, Some(key), None)).await;
    (status, answer)
}

#[tokio::test]
async fn subscriptions_are_replaced_read_back_and_removed_and_the_secret_shown_once() {
    let rig = rig();
    let body = json!({"subscriptions": [
        {"url": "https://hooks.example.com/a", "events": ["delivered", "failed"], "channels": ["email"]},
        {"url": "https://hooks.example.com/b"}
    ]});
    let (status, first) = put(&rig, KEY, &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(
        first["signingSecret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"),
        "{first}"
    );
    assert_eq!(
        first["subscriptions"][0]["events"],
        json!(["delivered", "failed"])
    );
    assert_eq!(first["subscriptions"][0]["channels"], json!(["email"]));
    assert_eq!(
        first["subscriptions"][1]["events"].as_array().map(Vec::len),
        Some(7),
        "every event when none is named"
    );
    assert_eq!(first["subscriptions"][1].get("channels"), None);

    let (_, again) = put(&rig, KEY, &body).await;
    assert_eq!(again.get("signingSecret"), None, "shown once: {again}");
    let (status, read) = get(&rig, KEY, "/v1/callbacks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["subscriptions"], again["subscriptions"]);
    assert!(read["updatedAt"].is_string());

    let (_, other) = get(&rig, OTHER_KEY, "/v1/callbacks").await;
    assert_eq!(
        other,
        json!({"subscriptions": []}),
        "the other tenant's own"
    );

    let (status, _, _) = call(&rig, request("DELETE", "/v1/callbacks", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = get(&rig, KEY, "/v1/callbacks").await;
    assert_eq!(read, json!({"subscriptions": []}));
}

#[tokio::test]
async fn a_bad_subscription_is_refused_naming_each_field() {
    let rig = rig();
    let cases = [
        (json!({}), vec!["subscriptions required"]),
        (
            json!({"subscriptions": []}),
            vec!["subscriptions min_items"],
        ),
        (
            json!({"subscriptions": (0..11).map(|i| json!({"url": format!("https://h.example.com/{i}")})).collect::<Vec<_>>()}),
            vec!["subscriptions max_items"],
        ),
        (
            json!({"subscriptions": [{"url": "ftp://h.example.com/x", "events": ["opened", "sent", "sent"], "channels": []}]}),
            vec![
                "subscriptions[0].url url",
                "subscriptions[0].events[0] enum",
                "subscriptions[0].events[2] unique",
                "subscriptions[0].channels min_items",
            ],
        ),
        (
            json!({"subscriptions": [{"url": "https://10.0.0.5/x"}], "extra": 1}),
            vec![
                "extra unknown_field",
                "subscriptions[0].url refused_address",
            ],
        ),
    ];
    for (body, rules) in cases {
        let (status, answer) = put(&rig, KEY, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let mut got = field_rules(&answer, "details");
        got.sort();
        let mut want: Vec<String> = rules.into_iter().map(str::to_owned).collect();
        want.sort();
        assert_eq!(got, want, "{body}");
    }
}

#[tokio::test]
async fn a_callback_url_needs_the_signing_secret_and_is_shown_on_the_notification() {
    let rig = rig();
    let mut body = email();
    body["callbackUrl"] = json!("https://app.example.com/cb");
    let (status, answer, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        field_rules(&answer, "details"),
        ["callbackUrl signing_secret_missing"]
    );

    put(
        &rig,
        KEY,
        &json!({"subscriptions": [{"url": "https://hooks.example.com/a"}]}),
    )
    .await;
    let (status, answer, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (_, view) = get(&rig, KEY, &format!("/v1/notifications/{id}")).await;
    assert_eq!(view["callbackUrl"], "https://app.example.com/cb");

    body["callbackUrl"] = json!("https://169.254.169.254/latest");
    let (status, answer, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        ["callbackUrl refused_address"]
    );
}

#[tokio::test]
async fn the_deliveries_listing_checks_its_query() {
    let rig = rig();
    let (status, answer) = get(&rig, KEY, "/v1/callbacks/deliveries").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"deliveries": [], "next": null}));
    let (status, answer) = get(
        &rig,
        KEY,
        "/v1/callbacks/deliveries?status=lost&limit=0&cursor=!!",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut got = field_rules(&answer, "details");
    got.sort();
    assert_eq!(got.len(), 3, "{answer}");
    assert!(got[2].starts_with("status"), "{got:?}");
}
