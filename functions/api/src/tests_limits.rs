//! A tenant's limits (issue "Tenants and API keys"): requests per minute with the IETF
//! `RateLimit` headers and `429 rate_limited`, exact under concurrent requests; batches
//! counting their recipients; daily quotas per channel, single and batch.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::tests::{ADMIN_KEY, KEY, OTHER_KEY, Rig, call, field_rules, request, rig};

/// Gives the static key's tenant `acme` its own limits.
async fn limit(rig: &Rig, limits: Value) {
    let body = json!({"id": "acme", "name": "Acme", "limits": limits}).to_string();
    let (status, answer, _) = call(
        rig,
        request("POST", "/v1/admin/tenants", Some(ADMIN_KEY), Some(&body)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

async fn send(rig: &Rig, key: &str, body: &Value) -> (StatusCode, Value, HeaderMap) {
    call(
        rig,
        request(
            "POST",
            "/v1/notifications",
            Some(key),
            Some(&body.to_string()),
        ),
    )
    .await
}

fn sms() -> Value {
    json!({"channel": "sms", "to": "+33612345678", "message": "hi"})
}

fn emails(n: usize) -> Value {
    let recipients: Vec<Value> = (0..n)
        .map(|i| json!({"to": format!("r{i}@example.com")}))
        .collect();
    json!({"channel": "email", "subject": "Hi", "text": "Hello", "recipients": recipients})
}

async fn batch(rig: &Rig, body: &Value) -> (StatusCode, Value, HeaderMap) {
    call(
        rig,
        request(
            "POST",
            "/v1/notifications/batch",
            Some(KEY),
            Some(&body.to_string()),
        ),
    )
    .await
}

#[tokio::test]
async fn every_answer_says_where_the_tenant_stands_and_past_the_limit_it_is_429() {
    let rig = rig();
    limit(&rig, json!({"requestsPerMinute": 3})).await;
    // The rig's clock stands at the start of a minute.
    for remaining in [2, 1, 0] {
        let (status, _, headers) =
            call(&rig, request("GET", "/v1/notifications", Some(KEY), None)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "ratelimit-policy"), "3;w=60");
        assert_eq!(
            header(&headers, "ratelimit"),
            format!("limit=3, remaining={remaining}, reset=60")
        );
    }
    rig.clock.advance(Duration::from_secs(20));
    let (status, answer, headers) = send(&rig, KEY, &sms()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["code"], "rate_limited");
    assert_eq!(header(&headers, "retry-after"), "40");
    assert_eq!(
        header(&headers, "ratelimit"),
        "limit=3, remaining=0, reset=40"
    );
    assert!(rig.queue.messages().is_empty(), "nothing was sent");
    // Another tenant has its own budget (the deployment's default).
    let (status, _, headers) = call(
        &rig,
        request("GET", "/v1/notifications", Some(OTHER_KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "ratelimit-policy"), "3000;w=60");
    // The next window.
    rig.clock.advance(Duration::from_secs(40));
    let (status, _, _) = send(&rig, KEY, &sms()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn two_hundred_concurrent_requests_get_exactly_the_limit() {
    let rig = rig();
    limit(&rig, json!({"requestsPerMinute": 50})).await;
    let answers = futures::future::join_all(
        (0..200).map(|_| call(&rig, request("GET", "/v1/stats", Some(KEY), None))),
    )
    .await;
    let ok = answers.iter().filter(|(s, _, _)| s.is_success()).count();
    let refused = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, refused), (50, 150));
}

#[tokio::test]
async fn an_accepted_batch_costs_its_recipients_and_one_larger_than_the_rest_takes_the_rest() {
    let rig = rig();
    limit(&rig, json!({"requestsPerMinute": 10})).await;
    let (status, answer, headers) = batch(&rig, &emails(4)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        header(&headers, "ratelimit"),
        "limit=10, remaining=6, reset=60"
    );
    // Refused batches cost one request.
    let (status, _, headers) = batch(&rig, &json!({"channel": "email"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        header(&headers, "ratelimit"),
        "limit=10, remaining=5, reset=60"
    );
    let (status, answer, headers) = batch(&rig, &emails(20)).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "never refused for its size: {answer}"
    );
    assert_eq!(answer["accepted"], 20);
    assert_eq!(
        header(&headers, "ratelimit"),
        "limit=10, remaining=0, reset=60"
    );
    let (status, _, _) = send(&rig, KEY, &sms()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_daily_quota_per_channel_refuses_sends_and_a_batchs_recipients_past_it() {
    let rig = rig();
    limit(&rig, json!({"dailyQuotaPerChannel": 3})).await;
    for _ in 0..3 {
        assert_eq!(send(&rig, KEY, &sms()).await.0, StatusCode::ACCEPTED);
    }
    let (status, answer, headers) = send(&rig, KEY, &sms()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["code"], "quota_exceeded");
    // The rig's clock: 08:00 UTC, 16 hours before midnight.
    assert_eq!(header(&headers, "retry-after"), (16 * 3600).to_string());
    // Another channel has its own quota: a batch takes what fits and refuses the rest.
    assert_eq!(
        send(
            &rig,
            KEY,
            &json!({"channel": "email", "to": "a@example.com", "subject": "s", "text": "t"})
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (status, answer, _) = batch(&rig, &emails(4)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(
        field_rules(&answer, "errors"),
        [
            "recipients[2] quota_exceeded",
            "recipients[3] quota_exceeded"
        ]
    );
    assert_eq!(answer["ids"][2], Value::Null);
    let (status, answer, _) = batch(&rig, &emails(2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["code"], "quota_exceeded");
    // Another tenant is not affected; the next UTC day starts afresh.
    assert_eq!(send(&rig, OTHER_KEY, &sms()).await.0, StatusCode::ACCEPTED);
    rig.clock.advance(Duration::from_secs(16 * 3600));
    assert_eq!(send(&rig, KEY, &sms()).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_static_keys_tenant_can_be_suspended() {
    let rig = rig();
    limit(&rig, json!({})).await;
    let body = json!({"status": "suspended"}).to_string();
    let (status, _, _) = call(
        &rig,
        request(
            "PATCH",
            "/v1/admin/tenants/acme",
            Some(ADMIN_KEY),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    rig.clock.advance(crate::callers::KEY_CACHE_TTL);
    let (status, answer, _) = send(&rig, KEY, &sms()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["code"], "tenant_suspended");
}
