//! `GET /v1/notifications` and `reference` over in-memory ports. Paging through DynamoDB's
//! sharded index is in the `tests` crate.

use http::StatusCode;
use serde_json::json;

use crate::tests::{KEY, OTHER_KEY, call, email, field_rules, post, request, rig};

#[tokio::test]
async fn a_reference_is_kept_returned_and_bounded() {
    let rig = rig();
    let mut body = email();
    body["reference"] = json!("order-42");
    let (status, accepted, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["reference"], "order-42");
    body["reference"] = json!("x".repeat(129));
    let (status, answer, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        vec!["reference max_length"]
    );
}

#[tokio::test]
async fn the_next_link_keeps_the_filters_and_the_list_is_the_tenants() {
    let rig = rig();
    for i in 0..3 {
        let mut body = email();
        body["metadata"] = json!({"n": i.to_string()});
        post(&rig, &body).await;
        rig.clock.advance(std::time::Duration::from_millis(5));
    }
    let (status, page, _) = call(
        &rig,
        request(
            "GET",
            "/v1/notifications?channel=email&limit=2",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["notifications"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    assert!(
        next.starts_with("/v1/notifications?channel=email&limit=2&cursor="),
        "{next}"
    );
    let (_, rest, _) = call(&rig, request("GET", next, Some(KEY), None)).await;
    assert_eq!(rest["notifications"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
    let (_, theirs, _) = call(
        &rig,
        request("GET", "/v1/notifications", Some(OTHER_KEY), None),
    )
    .await;
    assert_eq!(theirs["notifications"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_list_parameters_name_themselves() {
    let rig = rig();
    let (status, answer, _) = call(
        &rig,
        request(
            "GET",
            "/v1/notifications?since=2027-01-02T00:00:00Z&until=2027-01-01T00:00:00Z&channel=fax&batchId=a%20b",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let rules = field_rules(&answer, "details");
    for expected in ["until after_since", "channel enum", "batchId pattern"] {
        assert!(rules.contains(&expected.to_owned()), "{rules:?}");
    }
}
