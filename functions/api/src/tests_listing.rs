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

#[tokio::test]
async fn stats_show_the_counters_per_bucket_zero_filled_and_per_tenant() {
    use notify_shared::{
        clock::Clock as _,
        domain::{
            Channel, TenantId,
            stats::{Counted, Granularity},
        },
        store::{Additions, BucketKey, Counts, StatsStore},
    };
    let rig = rig();
    let hour = |h: i64| Granularity::Hour.start(rig.clock.now()) - h * 3_600_000;
    let mut additions = Additions::new();
    let counts: Counts = [
        ((Channel::Email, Counted::Accepted), 3),
        ((Channel::Email, Counted::Delivered), 2),
        ((Channel::Sms, Counted::Failed), 1),
    ]
    .into();
    additions.insert(
        BucketKey {
            tenant: TenantId::new("acme"),
            granularity: Granularity::Hour,
            start: hour(1),
        },
        counts,
    );
    rig.stats.add(&additions, "t1").await.unwrap();
    let (status, stats, _) = call(&rig, request("GET", "/v1/stats", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let buckets = stats["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24, "the last day in hours, by default");
    let filled: Vec<&serde_json::Value> = buckets
        .iter()
        .filter(|b| !b["counts"].as_object().unwrap().is_empty())
        .collect();
    assert_eq!(filled.len(), 1);
    assert_eq!(
        filled[0]["counts"]["email"],
        json!({"accepted": 3, "delivered": 2})
    );
    assert_eq!(filled[0]["counts"]["sms"], json!({"failed": 1}));

    let (_, sms, _) = call(
        &rig,
        request("GET", "/v1/stats?channel=sms", Some(KEY), None),
    )
    .await;
    let with_counts = sms["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| !b["counts"].as_object().unwrap().is_empty())
        .unwrap()
        .clone();
    assert!(with_counts["counts"].get("email").is_none());
    let (_, theirs, _) = call(&rig, request("GET", "/v1/stats", Some(OTHER_KEY), None)).await;
    assert!(
        theirs["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["counts"].as_object().unwrap().is_empty())
    );
    let (status, answer, _) = call(
        &rig,
        request(
            "GET",
            "/v1/stats?since=2026-01-01T00:00:00Z&until=2026-12-01T00:00:00Z",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), vec!["since max_buckets"]);
}
