//! `GET /v1/notifications` against DynamoDB: paging through the sharded index with the
//! cursor, the filters and their indexes, tenant isolation.

use std::collections::HashSet;

use notify_tests::{OTHER_API_KEY, TestStack, unique_recipient};
use serde_json::{Value, json};

/// Every page of `path` (which has its query, and `limit`), following `next`; the ids in order.
async fn all_pages(t: &TestStack, path: &str, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = path.to_owned();
    for _ in 0..200 {
        let (status, page) = t
            .call_with("GET", &path, None, Some(key), "application/json")
            .await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => return ids,
        }
    }
    panic!("more than 200 pages");
}

fn email(to: &str) -> Value {
    json!({"channel": "email", "to": to, "subject": "Hi", "text": "Hello"})
}

#[tokio::test]
async fn paging_through_250_notifications_misses_and_repeats_none() {
    let t = TestStack::new().await;
    let recipients: Vec<Value> = (0..240)
        .map(|_| json!({"to": unique_recipient()}))
        .collect();
    let (status, batch) = t
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(
                &json!({"channel": "email", "subject": "News", "text": "Hello", "recipients": recipients})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 202, "{batch}");
    let mut created: HashSet<String> = batch["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    for _ in 0..10 {
        created.insert(t.send(&email(&unique_recipient())).await);
    }
    assert_eq!(created.len(), 250);

    let listed = all_pages(&t, "/v1/notifications?limit=7", notify_tests::API_KEY).await;
    let unique: HashSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "an id came twice");
    assert_eq!(unique, created, "every notification, once");
    let mut sorted = listed.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, sorted, "newest first");

    // Another tenant sees none of them.
    let theirs = all_pages(&t, "/v1/notifications?limit=100", OTHER_API_KEY).await;
    assert!(theirs.is_empty(), "{theirs:?}");
}

#[tokio::test]
async fn the_filters_find_what_they_name_and_only_that() {
    let t = TestStack::new().await;
    let jane = unique_recipient();
    let to_jane = t
        .send(&json!({"channel": "email", "to": jane, "subject": "A", "text": "a", "reference": "order-42"}))
        .await;
    let other = t.send(&email(&unique_recipient())).await;
    let sms = t
        .send(&json!({"channel": "sms", "to": "+33612345678", "message": "Code 1"}))
        .await;
    let otp = t
        .send(&json!({"channel": "sms", "to": "+33612345679", "template": "otp", "data": {"code": "123456"}}))
        .await;
    let (status, cancelled) = t
        .call("POST", &format!("/v1/notifications/{other}/cancel"), None)
        .await;
    assert_eq!(status, 200, "{cancelled}");

    let ids = |page: Value| -> Vec<String> {
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |query: String| {
        let t = &t;
        async move {
            let (status, page) = t
                .call("GET", &format!("/v1/notifications?{query}"), None)
                .await;
            assert_eq!(status, 200, "{query}: {page}");
            page
        }
    };
    // The recipient in another case is the same address.
    let upper = jane.to_uppercase().replace("EXAMPLE.COM", "Example.com");
    let encoded: String = form_urlencoded::byte_serialize(upper.as_bytes()).collect();
    assert_eq!(
        ids(get(format!("recipient={encoded}")).await),
        [to_jane.as_str()]
    );
    assert_eq!(
        ids(get("reference=order-42".into()).await),
        [to_jane.as_str()]
    );
    assert_eq!(
        ids(get("reference=order-43".into()).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(get("status=cancelled".into()).await), [other.as_str()]);
    assert_eq!(
        ids(get("channel=sms".into()).await),
        [otp.as_str(), sms.as_str()]
    );
    assert_eq!(ids(get("template=otp".into()).await), [otp.as_str()]);
    assert_eq!(
        ids(get("channel=sms&status=queued&limit=1".into()).await),
        [otp.as_str()]
    );
    let view = t.notification(&to_jane).await;
    assert_eq!(view["reference"], "order-42");
    // A window after all of them holds none; one from the first holds all four.
    let created = view["createdAt"].as_str().unwrap();
    let later = "2999-01-01T00:00:00Z";
    assert_eq!(
        ids(get(format!("since={later}")).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(get(format!("since={created}&until={later}")).await).len(),
        4
    );
    let (status, answer) = t
        .call(
            "GET",
            "/v1/notifications?status=done&limit=0&cursor=x",
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["details"].as_array().unwrap().len(), 3, "{answer}");
}

#[tokio::test]
async fn stats_count_what_the_stream_says_once_per_change() {
    let t = TestStack::new().await;
    let a = t.send(&email(&unique_recipient())).await;
    let b = t.send(&email(&unique_recipient())).await;
    t.send(&json!({"channel": "sms", "to": "+33612345678", "message": "Code 1"}))
        .await;
    let (status, _) = t
        .call("POST", &format!("/v1/notifications/{b}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    t.deliver_until(&a, "sent", std::time::Duration::from_secs(20))
        .await;
    assert!(t.deliver_changes().await > 0);
    let (status, stats) = t.call("GET", "/v1/stats?granularity=day", None).await;
    assert_eq!(status, 200, "{stats}");
    let today = stats["buckets"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        today["counts"]["email"],
        json!({"accepted": 2, "sent": 1, "cancelled": 1}),
        "{stats}"
    );
    assert_eq!(today["counts"]["sms"]["accepted"], 1, "{stats}");
    // Nothing more to read (the stats request's own rate counter is not the changes
    // function's: the mapping's filter leaves it out): counted once.
    assert_eq!(t.deliver_changes().await, 0);
    let (_, again) = t.call("GET", "/v1/stats?granularity=day", None).await;
    assert_eq!(again, stats);
    let (_, theirs) = t
        .call_with(
            "GET",
            "/v1/stats?granularity=day",
            None,
            Some(OTHER_API_KEY),
            "application/json",
        )
        .await;
    assert!(
        theirs["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["counts"].as_object().unwrap().is_empty()),
        "{theirs}"
    );
}
