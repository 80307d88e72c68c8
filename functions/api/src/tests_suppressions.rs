//! The suppression list's routes over in-memory ports. What a listed address does to a send
//! is in the `tests` crate (the workers check the list).

use http::StatusCode;
use serde_json::Value;

use crate::tests::{KEY, OTHER_KEY, Rig, call, field_rules, request, rig};

async fn put(rig: &Rig, key: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
    let (status, answer, _) = call(rig, request("PUT", path, Some(key), body)).await;
    (status, answer)
}

async fn get(rig: &Rig, key: &str, path: &str) -> (StatusCode, Value) {
    let (status, answer, _) = call(rig, request("GET", path, Some(key), None)).await;
    (status, answer)
}

#[tokio::test]
async fn an_address_added_by_hand_is_normalised_read_back_and_removed() {
    let rig = rig();
    let (status, entry) = put(
        &rig,
        KEY,
        "/v1/suppressions/email/Bob%40Example.com",
        Some(r#"{"detail": "asked by phone"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["address"], "bob@example.com");
    assert_eq!(entry["reason"], "manual");
    assert_eq!(entry["detail"], "asked by phone");

    let (status, read) = get(&rig, KEY, "/v1/suppressions/email/bob@example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, entry);

    let (status, _, _) = call(
        &rig,
        request(
            "DELETE",
            "/v1/suppressions/email/bob@example.com",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get(&rig, KEY, "/v1/suppressions/email/bob@example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &rig,
        request(
            "DELETE",
            "/v1/suppressions/email/bob@example.com",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenants_list_is_invisible() {
    let rig = rig();
    put(&rig, KEY, "/v1/suppressions/sms/+12125551234", None).await;
    let (status, _) = get(&rig, OTHER_KEY, "/v1/suppressions/sms/+12125551234").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get(&rig, OTHER_KEY, "/v1/suppressions").await;
    assert_eq!(page["suppressions"].as_array().unwrap().len(), 0);
    let (_, page) = get(&rig, KEY, "/v1/suppressions").await;
    assert_eq!(page["suppressions"][0]["address"], "+12125551234");
}

#[tokio::test]
async fn pages_follow_the_next_link_without_misses_or_repeats() {
    let rig = rig();
    for i in 0..7 {
        put(
            &rig,
            KEY,
            &format!("/v1/suppressions/email/user{i}@example.com"),
            None,
        )
        .await;
    }
    put(&rig, KEY, "/v1/suppressions/sms/+12125551234", None).await;
    let mut seen = Vec::new();
    let mut path = "/v1/suppressions?channel=email&limit=3".to_owned();
    loop {
        let (status, page) = get(&rig, KEY, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["suppressions"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|e| e["address"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("user{i}@example.com")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn bad_filters_name_their_parameter() {
    let rig = rig();
    let (status, answer) = get(
        &rig,
        KEY,
        "/v1/suppressions?channel=push&reason=spam&limit=0&cursor=zz",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let rules = field_rules(&answer, "details");
    for expected in [
        "channel enum",
        "reason enum",
        "limit range",
        "cursor cursor",
    ] {
        assert!(rules.contains(&expected.to_owned()), "{rules:?}");
    }
    let (status, answer) = put(&rig, KEY, "/v1/suppressions/push/token", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), vec!["channel enum"]);
    let (status, answer) = put(&rig, KEY, "/v1/suppressions/sms/12345", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), vec!["address address"]);
    let (status, answer) = put(
        &rig,
        KEY,
        "/v1/suppressions/email/bob@example.com",
        Some(r#"{"reason": "bounced"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        vec!["reason unknown_field"]
    );
}
