//! Webhook endpoints, signing secrets and webhook notifications over in-memory ports: the
//! request rules. Deliveries (signatures, retries, the network guard) are in the `tests` crate.

use http::StatusCode;
use serde_json::{Value, json};

use notify_shared::store::WebhookEndpoints as _;

use crate::tests::{KEY, Rig, call, field_rules, post, request, rig};

async fn put_endpoint(rig: &Rig, name: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/v1/webhooks/endpoints/{name}");
    let (status, answer, _) = call(
        rig,
        request("PUT", &path, Some(KEY), Some(&body.to_string())),
    )
    .await;
    (status, answer)
}

fn rules(answer: &Value) -> Vec<String> {
    field_rules(answer, "details")
}

#[tokio::test]
async fn an_endpoint_shows_its_secret_once_and_never_its_header_values() {
    let rig = rig();
    let body = json!({"url": "https://hooks.example.com/orders", "headers": {"Authorization": "Bearer s3cr3t-value"}});
    let (status, created) = put_endpoint(&rig, "orders", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["headers"], json!(["Authorization"]));
    assert_eq!(created["status"], "enabled");

    let (status, again) = put_endpoint(&rig, "orders", &body).await;
    assert_eq!(status, StatusCode::OK);
    let (_, read, _) = call(
        &rig,
        request("GET", "/v1/webhooks/endpoints/orders", Some(KEY), None),
    )
    .await;
    let (_, list, _) = call(
        &rig,
        request("GET", "/v1/webhooks/endpoints", Some(KEY), None),
    )
    .await;
    for view in [&again, &read, &list["endpoints"][0]] {
        let text = view.to_string();
        assert!(view.get("secret").is_none(), "{text}");
        assert!(
            !text.contains(&secret[6..]) && !text.contains("s3cr3t-value"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn endpoint_urls_and_headers_are_checked() {
    let rig = rig();
    let (status, err) = put_endpoint(
        &rig,
        "bad",
        &json!({"url": "https://10.0.0.8/x", "headers": {"webhook-signature": "forged", "X Bad": "1"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut got = rules(&err);
    got.sort();
    assert_eq!(
        got,
        [
            "headers.X Bad header",
            "headers.webhook-signature header",
            "url refused_address"
        ]
    );
    let (status, err) =
        put_endpoint(&rig, "bad%20name", &json!({"url": "https://a.example/"})).await;
    assert_eq!(
        (status, rules(&err)),
        (StatusCode::BAD_REQUEST, vec!["name pattern".to_owned()])
    );
}

#[tokio::test]
async fn rotating_a_secret_shows_the_new_one_and_keeps_the_old_one_signing_for_a_while() {
    let rig = rig();
    let (_, created) =
        put_endpoint(&rig, "crm", &json!({"url": "https://crm.example.com/in"})).await;
    let (status, rotated, _) = call(
        &rig,
        request(
            "POST",
            "/v1/webhooks/endpoints/crm/rotate-secret",
            Some(KEY),
            Some(r#"{"graceSeconds": 3600}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["previousSecretExpiresAt"].is_string());
    let (_, read, _) = call(
        &rig,
        request("GET", "/v1/webhooks/endpoints/crm", Some(KEY), None),
    )
    .await;
    assert_eq!(
        read["previousSecretExpiresAt"],
        rotated["previousSecretExpiresAt"]
    );
    let stored = rig
        .webhooks
        .endpoint(
            &notify_shared::domain::TenantId::new("acme"),
            &notify_shared::domain::EndpointName::parse("crm").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let now = notify_shared::clock::Clock::now(&rig.clock);
    assert_eq!(stored.secrets.signing(now).len(), 2);

    let (status, _, _) = call(
        &rig,
        request(
            "POST",
            "/v1/webhooks/endpoints/crm/rotate-secret",
            Some(KEY),
            Some(r#"{"graceSeconds": 999999999}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // No body is the default grace; a body of `null` is not an object.
    for path in [
        "/v1/webhooks/endpoints/crm/rotate-secret",
        "/v1/webhooks/signing-secret",
    ] {
        let (status, err, _) = call(&rig, request("POST", path, Some(KEY), Some("null"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
        assert_eq!(err["details"][0]["rule"], "type", "{path}: {err}");
    }
    let (status, _, _) = call(
        &rig,
        request(
            "POST",
            "/v1/webhooks/endpoints/nope/rotate-secret",
            Some(KEY),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenant_sees_none_of_an_endpoint() {
    let rig = rig();
    put_endpoint(
        &rig,
        "orders",
        &json!({"url": "https://hooks.example.com/orders"}),
    )
    .await;
    let other = "ndk_other_0123456789abcdef";
    let (status, _, _) = call(
        &rig,
        request("GET", "/v1/webhooks/endpoints/orders", Some(other), None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list, _) = call(
        &rig,
        request("GET", "/v1/webhooks/endpoints", Some(other), None),
    )
    .await;
    assert_eq!(list["endpoints"], json!([]));
    let (status, err, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications",
            Some(other),
            Some(&json!({"channel": "webhook", "endpoint": "orders", "payload": {}}).to_string()),
        ),
    )
    .await;
    assert_eq!(
        (status, rules(&err)),
        (
            StatusCode::BAD_REQUEST,
            vec!["endpoint not_found".to_owned()]
        )
    );
}

#[tokio::test]
async fn a_webhook_goes_to_a_registered_endpoint_with_its_payload() {
    let rig = rig();
    put_endpoint(
        &rig,
        "orders",
        &json!({"url": "https://hooks.example.com/orders"}),
    )
    .await;
    let (status, accepted, _) = post(
        &rig,
        &json!({"channel": "webhook", "endpoint": "orders", "payload": {"type": "order.shipped", "data": {"id": 42}}}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id =
        notify_shared::domain::NotificationId::parse(accepted["id"].as_str().unwrap()).unwrap();
    let n = rig.store.record(&id).unwrap();
    let notify_shared::domain::Content::Webhook(w) = n.content else {
        panic!("webhook content");
    };
    assert_eq!(
        w.payload, r#"{"type":"order.shipped","data":{"id":42}}"#,
        "compact, in the client's key order"
    );
    assert_eq!(rig.queue.messages().len(), 1);
}

#[tokio::test]
async fn webhook_requests_are_refused_with_the_field_that_is_wrong() {
    let rig = rig();
    for (body, expected) in [
        (
            json!({"channel": "webhook", "payload": {}}),
            "endpoint required",
        ),
        (
            json!({"channel": "webhook", "endpoint": "x", "url": "https://a.example/", "payload": {}}),
            "url exclusive",
        ),
        (
            json!({"channel": "webhook", "url": "not a url", "payload": {}}),
            "url url",
        ),
        (
            json!({"channel": "webhook", "url": "http://hooks.example.com/x", "payload": {}}),
            "url refused_address",
        ),
        (
            json!({"channel": "webhook", "url": "https://169.254.169.254/latest", "payload": {}}),
            "url refused_address",
        ),
        (
            json!({"channel": "webhook", "url": "https://[fd00:ec2::254]/", "payload": {}}),
            "url refused_address",
        ),
        (
            json!({"channel": "webhook", "endpoint": "missing", "payload": {}}),
            "endpoint not_found",
        ),
        (
            json!({"channel": "webhook", "url": "https://hooks.example.com/x", "payload": {}}),
            "url signing_secret_missing",
        ),
        (
            json!({"channel": "webhook", "endpoint": "x", "payload": "text"}),
            "payload type",
        ),
        (
            json!({"channel": "webhook", "endpoint": "x"}),
            "payload required",
        ),
    ] {
        let (status, err, _) = post(&rig, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(rules(&err), [expected], "{body}");
    }
    assert!(rig.queue.messages().is_empty());
}

#[tokio::test]
async fn an_inline_url_is_signed_with_the_tenant_s_signing_secret_once_there_is_one() {
    let rig = rig();
    let body =
        json!({"channel": "webhook", "url": "https://hooks.example.com/x", "payload": {"a": 1}});
    assert_eq!(post(&rig, &body).await.0, StatusCode::BAD_REQUEST);
    let (status, created, _) = call(
        &rig,
        request("POST", "/v1/webhooks/signing-secret", Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, rotated, _) = call(
        &rig,
        request("POST", "/v1/webhooks/signing-secret", Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["secret"], created["secret"]);
    assert_eq!(post(&rig, &body).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_template_s_webhook_part_must_render_to_json() {
    let rig = rig();
    put_endpoint(
        &rig,
        "orders",
        &json!({"url": "https://hooks.example.com/orders"}),
    )
    .await;
    let template =
        json!({"locales": {"en": {"webhook": {"payload": "{\"order\": {{{order}}} }"}}}});
    let (status, saved, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/templates/order-event",
            Some(KEY),
            Some(&template.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let send = |order: Value| json!({"channel": "webhook", "endpoint": "orders", "template": "order-event", "data": {"order": order}});
    let (status, accepted, _) = post(&rig, &send(json!("42"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (status, err, _) = post(&rig, &send(json!("not json"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(rules(&err), ["rendered.payload json"]);
}

#[tokio::test]
async fn a_batch_of_webhooks_reports_missing_endpoints_by_index() {
    let rig = rig();
    put_endpoint(&rig, "a", &json!({"url": "https://a.example.com/in"})).await;
    let body = json!({
        "channel": "webhook",
        "payload": {"hello": "{{name}}"},
        "recipients": [
            {"endpoint": "a", "data": {"name": "Ann \"the\" first"}},
            {"endpoint": "missing"},
            {"endpoint": "a", "data": {"name": "Bob"}}
        ]
    });
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/notifications/batch",
            Some(KEY),
            Some(&body.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(answer["errors"][0]["field"], "recipients[1].endpoint");
    assert!(answer["ids"][1].is_null());
    let first =
        notify_shared::domain::NotificationId::parse(answer["ids"][0].as_str().unwrap()).unwrap();
    let notify_shared::domain::Content::Webhook(w) = rig.store.record(&first).unwrap().content
    else {
        panic!("webhook content");
    };
    assert_eq!(
        serde_json::from_str::<Value>(&w.payload).unwrap(),
        json!({"hello": "Ann \"the\" first"}),
        "values are JSON-escaped into the payload"
    );
}
