//! The API end to end over in-memory ports: routing, auth, validation, the accept path and
//! its failure modes. The same paths against DynamoDB and SQS are in the `tests` crate.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use lambda_http::{Body, Request};
use notify_shared::{
    clock::Clock as _,
    clock::ManualClock,
    config::{QueueUrls, StoreSettings},
    domain::{Status, time::Timestamp},
    queue::{MemoryDeadLetters, MemoryQueue},
    store::{MemoryDevices, MemoryStore, MemoryTemplates, MemoryWebhooks},
};
use serde_json::{Value, json};

use crate::{AdminKeys, ApiConfig, ApiKeys, App, Ports};

pub(crate) const KEY: &str = "ndk_test_0123456789abcdef";
pub(crate) const OTHER_KEY: &str = "ndk_other_0123456789abcdef";
pub(crate) const ADMIN_KEY: &str = "ndk_admin_0123456789abcdef";

pub(crate) struct Rig {
    pub(crate) app: App,
    pub(crate) stats: Arc<notify_shared::store::MemoryStats>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) queue: Arc<MemoryQueue>,
    pub(crate) webhooks: Arc<MemoryWebhooks>,
    dead_letters: Arc<MemoryDeadLetters>,
    pub(crate) inbox: Arc<notify_shared::store::MemoryInbox>,
    pub(crate) tenants: Arc<notify_shared::store::MemoryTenants>,
    pub(crate) clock: ManualClock,
}

pub(crate) fn rig() -> Rig {
    rig_with(AdminKeys::parse(ADMIN_KEY).unwrap())
}

pub(crate) fn rig_with(admin_keys: AdminKeys) -> Rig {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let webhooks = Arc::new(MemoryWebhooks::new());
    let callbacks = Arc::new(notify_shared::store::MemoryCallbacks::new());
    let stats = Arc::new(notify_shared::store::MemoryStats::new());
    let clock = ManualClock::at(Timestamp::from_millis(1_800_000_000_000).unwrap());
    let config = ApiConfig {
        store: StoreSettings {
            table: "t".into(),
            retention: Duration::from_secs(86_400),
            lifetime: Duration::from_secs(3600),
        },
        queues: QueueUrls::default(),
        dlqs: QueueUrls::default(),
        keys: ApiKeys::parse(&format!("acme:{KEY},globex:{OTHER_KEY}")).unwrap(),
        admin_keys,
        device_idle: Duration::from_secs(86_400),
        max_body_bytes: 4096,
        max_batch_body_bytes: 2 * 1024 * 1024,
        default_limits: notify_shared::domain::tenant::TenantLimits::default(),
        audit_retention: Duration::from_secs(365 * 86_400),
        user_requests_per_minute: 120,
        channel: crate::channel::Limits {
            sms_max_chars: 1600,
            url_policy: notify_shared::webhook::UrlPolicy::AllowLoopback,
        },
    };
    let devices = Arc::new(MemoryDevices::new());
    let inbox = Arc::new(notify_shared::store::MemoryInbox::new());
    let tenants = Arc::new(notify_shared::store::MemoryTenants::new());
    let counters = Arc::new(notify_shared::store::MemoryCounters::new());
    let audit = Arc::new(notify_shared::store::MemoryAudit::new());
    let ports = Ports {
        store: store.clone(),
        users: Arc::new(notify_shared::store::MemoryUsers::with_devices(
            devices.clone(),
        )),
        routes: store.clone(),
        inbox: inbox.clone(),
        tenants: tenants.clone(),
        counters,
        audit,
        devices,
        idempotency: store.clone(),
        templates: Arc::new(MemoryTemplates::new()),
        batches: store.clone(),
        webhooks: webhooks.clone(),
        chat_targets: Arc::new(notify_shared::store::MemoryChatTargets::new()),
        suppressions: Arc::new(notify_shared::store::MemorySuppressions::new()),
        callbacks: callbacks.clone(),
        callback_deliveries: callbacks.clone(),
        search: store.clone(),
        stats: stats.clone(),
        queue: queue.clone(),
        dead_letters: dead_letters.clone(),
        table_health: store.clone(),
        queue_health: queue.clone(),
        clock: Arc::new(clock.clone()),
    };
    Rig {
        app: App::new(ports, config),
        stats,
        store,
        queue,
        webhooks,
        dead_letters,
        inbox,
        tenants,
        clock,
    }
}

pub(crate) fn request(method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    b.body(
        body.map(|s| Body::Text(s.to_owned()))
            .unwrap_or(Body::Empty),
    )
    .unwrap()
}

/// `"<field> <rule>"` of each error an answer lists under `key` (`details`, `errors`).
pub(crate) fn field_rules(answer: &Value, key: &str) -> Vec<String> {
    answer[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["field"].as_str().unwrap(),
                        e["rule"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn call(rig: &Rig, req: Request) -> (StatusCode, Value, http::HeaderMap) {
    let resp = rig.app.handle(req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body: &[u8] = resp.body().as_ref();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap()
    };
    (status, json, headers)
}

pub(crate) fn email() -> Value {
    json!({
        "channel": "email",
        "to": "bob@example.com",
        "subject": "Your order",
        "text": "It shipped."
    })
}

pub(crate) async fn post(rig: &Rig, body: &Value) -> (StatusCode, Value, http::HeaderMap) {
    call(
        rig,
        request(
            "POST",
            "/v1/notifications",
            Some(KEY),
            Some(&body.to_string()),
        ),
    )
    .await
}

#[tokio::test]
async fn health_needs_no_key() {
    let rig = rig();
    let (status, body, headers) = call(&rig, request("GET", "/health", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "notification");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn accepts_records_and_queues_an_email() {
    let rig = rig();
    let (status, body, headers) = post(&rig, &email()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["priority"], "normal");
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        headers["location"],
        format!("/v1/notifications/{id}").as_str()
    );

    let queued = rig.queue.messages();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0.id.as_str(), id);

    let (status, view, _) = call(
        &rig,
        request("GET", &format!("/v1/notifications/{id}"), Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "queued");
    assert_eq!(view["to"], "bob@example.com");
    assert_eq!(view["history"][0]["status"], "queued");
    assert_eq!(view["attempts"], 0);
}

#[tokio::test]
async fn priority_selects_the_queue() {
    let rig = rig();
    let mut body = email();
    body["priority"] = json!("high");
    assert_eq!(post(&rig, &body).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        rig.queue.messages()[0].0.priority,
        notify_shared::domain::Priority::High
    );
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let rig = rig();
    let body = json!({
        "channel": "email",
        "to": "not-an-address",
        "subject": "Hi\r\nBcc: everyone@example.com",
        "priority": "urgent",
        "colour": "blue"
    });
    let (status, err, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "validation_failed");
    let mut got: Vec<(String, String)> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().into(),
                d["rule"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String)> = [
        ("colour", "unknown_field"),
        ("priority", "one_of"),
        ("subject", "single_line"),
        ("text", "required"),
        ("to", "email"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    assert!(rig.queue.messages().is_empty(), "nothing queued on a 400");
}

#[tokio::test]
async fn an_unknown_channel_is_the_only_error_reported() {
    let rig = rig();
    let (status, err, _) = post(&rig, &json!({"channel": "pigeon", "to": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["details"].as_array().unwrap().len(), 1);
    assert_eq!(err["details"][0]["field"], "channel");
    assert_eq!(err["details"][0]["rule"], "one_of");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let rig = rig();
    let (status, err, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications",
            Some(KEY),
            Some("{\"channel\": "),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "malformed_json");
}

/// A POST of JSON to `path` with the tenant's key, for a body or header built by hand.
fn json_post(path: &str) -> http::request::Builder {
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
}

/// API Gateway hands a body that is not UTF-8 to the function base64-encoded, which
/// lambda_http turns into a binary body: it is malformed JSON, never a 500.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_malformed_json() {
    let rig = rig();
    for path in [
        "/v1/notifications",
        "/v1/webhooks/signing-secret",
        "/api/notifications/sms",
    ] {
        let req = json_post(path)
            .body(Body::Binary(vec![0xff, 0xfe, b'{', 0x80, b'}']))
            .unwrap();
        let (status, err, _) = call(&rig, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
        let code = err["code"].as_str().or(err["error"]["code"].as_str());
        assert_eq!(code, Some("malformed_json"), "{path}: {err}");
    }
}

/// A header value past ASCII (an HTTP client sends it as Latin-1 bytes) is the header's 400,
/// never a 500.
#[tokio::test]
async fn an_idempotency_key_past_ascii_is_refused_on_its_header() {
    let rig = rig();
    for path in [
        "/v1/notifications",
        "/api/notifications/sms",
        "/v1/notifications/0190a0a0-0000-7000-8000-000000000000/cancel",
    ] {
        let req = json_post(path)
            .header(
                "idempotency-key",
                http::HeaderValue::from_bytes(b"cl\xe9-1").unwrap(),
            )
            .body(Body::Text(email().to_string()))
            .unwrap();
        let (status, err, _) = call(&rig, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
        let details = err["details"]
            .as_array()
            .or(err["error"]["details"].as_array());
        assert_eq!(
            details.and_then(|d| d[0]["field"].as_str()),
            Some("Idempotency-Key"),
            "{path}: {err}"
        );
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let rig = rig();
    let mut body = email();
    body["text"] = json!("x".repeat(5000));
    let (status, err, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["code"], "payload_too_large");
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let rig = rig();
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/notifications")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text("channel=email".into()))
        .unwrap();
    let (status, err, _) = call(&rig, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(err["code"], "unsupported_media_type");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405() {
    let rig = rig();
    let (status, err, _) = call(&rig, request("GET", "/v1/nope", Some(KEY), None)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, err, headers) =
        call(&rig, request("PUT", "/v1/notifications", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(err["code"], "method_not_allowed");
    assert_eq!(headers["allow"], "POST, GET");
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401() {
    let rig = rig();
    for key in [None, Some("ndk_wrong_key_0000000000000")] {
        let (status, err, headers) = call(
            &rig,
            request("POST", "/v1/notifications", key, Some(&email().to_string())),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["code"], "unauthorized");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn another_tenants_notification_is_not_found() {
    let rig = rig();
    let (_, body, _) = post(&rig, &email()).await;
    let path = format!("/v1/notifications/{}", body["id"].as_str().unwrap());
    let (status, _, _) = call(&rig, request("GET", &path, Some(OTHER_KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &rig,
        request("GET", "/v1/notifications/not-a-uuid", Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_notification_is_not_found() {
    let rig = rig();
    let (_, body, _) = post(&rig, &email()).await;
    rig.clock.advance(Duration::from_secs(86_401));
    let path = format!("/v1/notifications/{}", body["id"].as_str().unwrap());
    let (status, _, _) = call(&rig, request("GET", &path, Some(KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn store_outage_is_503_and_nothing_is_queued() {
    let rig = rig();
    rig.store.set_unavailable(true);
    let (status, err, headers) = post(&rig, &email()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err["code"], "service_unavailable");
    assert!(headers.contains_key("retry-after"));
    assert!(rig.queue.messages().is_empty());
}

/// The accept service's one rule for a queue failure after the record is written: accepted,
/// and the record keeps its `enqueue` marker for the sweep.
#[tokio::test]
async fn a_queue_outage_after_the_record_is_accepted_and_left_to_the_sweep() {
    let rig = rig();
    rig.queue.set_unavailable(true);
    let (status, accepted, _) = post(&rig, &email()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    assert!(rig.queue.messages().is_empty());
    let id = notify_shared::domain::NotificationId::parse(accepted["id"].as_str().unwrap());
    let record = rig.store.record(&id.unwrap()).unwrap();
    assert_eq!(record.status, Status::Queued);
    assert_eq!(
        record.due.map(|d| d.kind),
        Some(notify_shared::domain::schedule::DueKind::Enqueue),
        "the sweep sends its message"
    );
}

#[tokio::test]
async fn an_sms_answer_says_its_segments_and_encoding() {
    let rig = rig();
    let body = json!({"channel": "sms", "to": "+33 6 12 34 56 78", "message": "Votre code : 1234 — merci"});
    let (status, accepted, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(
        (accepted["segments"].as_u64(), accepted["encoding"].as_str()),
        (Some(1), Some("ucs2"))
    );
    let id = accepted["id"].as_str().unwrap();
    let (_, view, _) = call(
        &rig,
        request("GET", &format!("/v1/notifications/{id}"), Some(KEY), None),
    )
    .await;
    assert_eq!(view["to"], "+33612345678", "normalised to E.164");
    assert_eq!(view["segments"], 1);
    assert_eq!(
        rig.queue.messages()[0].0.channel,
        notify_shared::domain::Channel::Sms
    );
}

#[tokio::test]
async fn devices_are_registered_listed_and_removed() {
    let rig = rig();
    let path = "/v1/users/ann/devices/fcm-token%3A1";
    let put = |body: &str| request("PUT", path, Some(KEY), Some(body));
    let (status, device, _) = call(
        &rig,
        put(r#"{"platform":"android","appId":"com.acme.app"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert_eq!(
        (device["token"].as_str(), device["userId"].as_str()),
        (Some("fcm-token:1"), Some("ann"))
    );
    rig.clock.advance(Duration::from_secs(5));
    let (status, _, _) = call(&rig, put(r#"{"platform":"android"}"#)).await;
    assert_eq!(status, StatusCode::OK, "a second PUT refreshes");

    let (status, list, _) = call(
        &rig,
        request("GET", "/v1/users/ann/devices", Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["devices"][0]["userId"], "ann",
        "each device says its user, as the contract's Device does"
    );
    let (_, other_tenant, _) = call(
        &rig,
        request("GET", "/v1/users/ann/devices", Some(OTHER_KEY), None),
    )
    .await;
    assert!(
        other_tenant["devices"].as_array().unwrap().is_empty(),
        "devices are per tenant"
    );

    let (status, _, _) = call(&rig, request("DELETE", path, Some(KEY), None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&rig, request("DELETE", path, Some(KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_device_needs_a_known_platform_and_clean_ids() {
    let rig = rig();
    let (status, err, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/users/ann/devices/tok",
            Some(KEY),
            Some(r#"{"platform":"symbian"}"#),
        ),
    )
    .await;
    assert_eq!(
        (status, err["details"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("platform"))
    );
    let (status, err, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/users/a%20b/devices/tok",
            Some(KEY),
            Some(r#"{"platform":"ios"}"#),
        ),
    )
    .await;
    assert_eq!(
        (status, err["details"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("userId"))
    );
}

#[tokio::test]
async fn a_push_to_a_user_is_queued_on_the_push_queue() {
    let rig = rig();
    let body = json!({"channel": "push", "userId": "ann", "title": "Hi", "priority": "high"});
    let (status, accepted, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["title"], "Hi");
    let (msg, _) = &rig.queue.messages()[0];
    assert_eq!(
        (msg.channel, msg.priority),
        (
            notify_shared::domain::Channel::Push,
            notify_shared::domain::Priority::High
        )
    );
}

fn with_key(mut req: Request, key: &str) -> Request {
    req.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    req
}

#[tokio::test]
async fn a_notification_for_later_is_scheduled_and_not_queued() {
    let rig = rig();
    let mut body = email();
    body["scheduledAt"] = json!("2027-01-15T09:00:00Z");
    let (status, accepted, _) = post(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "scheduled");
    assert_eq!(accepted["scheduledAt"], "2027-01-15T09:00:00.000Z");
    assert!(rig.queue.messages().is_empty(), "the sweep releases it");

    // Within SQS's 15-minute delay limit, the message itself waits.
    let mut soon = email();
    soon["scheduledAt"] = json!(rig.clock.now().plus(Duration::from_secs(600)).to_string());
    let (_, accepted, _) = post(&rig, &soon).await;
    assert_eq!(accepted["status"], "queued");
    assert_eq!(rig.queue.messages()[0].1, Duration::from_secs(600));
}

#[tokio::test]
async fn cancel_stops_a_scheduled_or_queued_notification_only() {
    let rig = rig();
    let (_, accepted, _) = post(&rig, &email()).await;
    let id = accepted["id"].as_str().unwrap();
    let path = format!("/v1/notifications/{id}/cancel");
    let (status, view, _) = call(&rig, request("POST", &path, Some(KEY), None)).await;
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, err, _) = call(&rig, request("POST", &path, Some(KEY), None)).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_cancellable"))
    );
    let (status, _, _) = call(&rig, request("POST", &path, Some(OTHER_KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's");
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_same_and_creates_once() {
    let rig = rig();
    let req = || {
        with_key(
            request(
                "POST",
                "/v1/notifications",
                Some(KEY),
                Some(&email().to_string()),
            ),
            "order-42",
        )
    };
    let (s1, first, _) = call(&rig, req()).await;
    let (s2, second, headers) = call(&rig, req()).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(rig.queue.messages().len(), 1);

    let mut other = email();
    other["subject"] = json!("Something else");
    let (status, err, _) = call(
        &rig,
        with_key(
            request(
                "POST",
                "/v1/notifications",
                Some(KEY),
                Some(&other.to_string()),
            ),
            "order-42",
        ),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );
    // Keys are per tenant.
    let (status, _, _) = call(
        &rig,
        with_key(
            request(
                "POST",
                "/v1/notifications",
                Some(OTHER_KEY),
                Some(&email().to_string()),
            ),
            "order-42",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_failed_request_frees_its_idempotency_key() {
    let rig = rig();
    rig.store.set_unavailable(true);
    let req = || {
        with_key(
            request(
                "POST",
                "/v1/notifications",
                Some(KEY),
                Some(&email().to_string()),
            ),
            "k-1",
        )
    };
    assert_eq!(call(&rig, req()).await.0, StatusCode::SERVICE_UNAVAILABLE);
    rig.store.set_unavailable(false);
    assert_eq!(
        call(&rig, req()).await.0,
        StatusCode::ACCEPTED,
        "retried with the same key, it goes through"
    );
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused() {
    let rig = rig();
    let req = with_key(
        request(
            "POST",
            "/v1/notifications",
            Some(KEY),
            Some(&email().to_string()),
        ),
        "has space",
    );
    let (status, err, _) = call(&rig, req).await;
    assert_eq!(
        (status, err["details"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key"))
    );
}

#[tokio::test]
async fn redrive_needs_an_admin_key() {
    let rig = rig();
    let (status, _, _) = call(&rig, request("POST", "/v1/admin/redrive", Some(KEY), None)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a tenant key is not an admin key"
    );
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/admin/redrive",
            Some(ADMIN_KEY),
            Some(r#"{"channel":"sms","priority":"high"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        rig.dead_letters.calls(),
        vec![(
            notify_shared::domain::Channel::Sms,
            notify_shared::domain::Priority::High
        )]
    );
    let (status, _, _) = call(
        &rig,
        request("POST", "/v1/admin/redrive", Some(ADMIN_KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rig.dead_letters.calls().len(),
        1 + notify_shared::domain::Channel::ALL.len() * 3,
        "every queue of every channel by default"
    );

    let disabled = rig_with(AdminKeys::default());
    let (status, err, _) = call(
        &disabled,
        request("POST", "/v1/admin/redrive", Some(ADMIN_KEY), None),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
}
