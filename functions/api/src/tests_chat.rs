//! Chat over in-memory ports: targets registered with their secrets never shown again, every
//! bad field named, tenants apart; a chat send needing a registered target and staying
//! within Slack's and Teams' limits (a 400 naming the part beyond); the template's chat part.

use http::StatusCode;
use notify_shared::domain::{Content, NotificationId};
use serde_json::{Value, json};

use crate::tests::{KEY, OTHER_KEY, Rig, call, field_rules, request, rig};

async fn send_as(
    rig: &Rig,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) = call(rig, request(method, path, Some(key), body.as_deref())).await;
    (status, answer)
}

async fn send(rig: &Rig, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    send_as(rig, KEY, method, path, body).await
}

#[tokio::test]
async fn targets_keep_their_secrets_and_name_every_bad_field() {
    let rig = rig();
    let url = "https://hooks.slack.com/services/T000/B000/SECRETPART";
    let (status, answer) = send(
        &rig,
        "PUT",
        "/v1/chat/targets/ops",
        Some(json!({"type": "slack_webhook", "url": url, "description": "on-call"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["type"], "slack_webhook");
    assert!(!answer.to_string().contains("SECRETPART"), "{answer}");
    let (status, answer) = send(
        &rig,
        "PUT",
        "/v1/chat/targets/alerts",
        Some(json!({"type": "slack_bot", "token": "xoxb-1234-secret", "channel": "C0123ABCD"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["channel"], "C0123ABCD");
    assert!(!answer.to_string().contains("xoxb"), "{answer}");
    let (status, list) = send(&rig, "GET", "/v1/chat/targets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["targets"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("SECRETPART") && !list.to_string().contains("xoxb"));
    // Replaced: 200.
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/chat/targets/ops",
        Some(json!({"type": "teams_workflow", "url": "https://prod-00.westeurope.logic.azure.com/workflows/abc"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Another tenant sees none of them.
    let (_, other) = send_as(&rig, OTHER_KEY, "GET", "/v1/chat/targets", None).await;
    assert_eq!(other["targets"], json!([]));
    let (status, _) = send_as(&rig, OTHER_KEY, "GET", "/v1/chat/targets/ops", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (body, rule) in [
        (json!({"type": "discord"}), "type enum"),
        (json!({"type": "slack_webhook"}), "url required"),
        (
            json!({"type": "slack_webhook", "url": "http://hooks.slack.com/x"}),
            "url refused_address",
        ),
        (
            json!({"type": "slack_webhook", "url": "https://10.0.0.1/x"}),
            "url refused_address",
        ),
        (
            json!({"type": "slack_bot", "channel": "C1"}),
            "token required",
        ),
        (
            json!({"type": "slack_bot", "token": "xoxb 1", "channel": "C1"}),
            "token pattern",
        ),
        (
            json!({"type": "slack_bot", "token": "xoxb-1"}),
            "channel required",
        ),
    ] {
        let (status, answer) = send(&rig, "PUT", "/v1/chat/targets/bad", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            field_rules(&answer, "details").contains(&rule.to_owned()),
            "{body}: {answer}"
        );
    }
    let (status, _) = send(&rig, "DELETE", "/v1/chat/targets/ops", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&rig, "DELETE", "/v1/chat/targets/ops", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_chat_send_needs_a_registered_target_and_stays_within_the_services_limits() {
    let rig = rig();
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/chat/targets/ops",
        Some(json!({"type": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/X"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let long_section = json!([{"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
    let many = Value::Array(vec![json!({"type": "divider"}); 51]);
    for (body, rule) in [
        (
            json!({"channel": "chat", "target": "nope", "text": "hi"}),
            "target not_found",
        ),
        (json!({"channel": "chat", "target": "ops"}), "text required"),
        (
            json!({"channel": "chat", "target": "ops", "text": "hi", "blocks": many}),
            "blocks max_items",
        ),
        (
            json!({"channel": "chat", "target": "ops", "text": "hi", "blocks": long_section}),
            "blocks[1].text.text max_length",
        ),
        (
            json!({"channel": "chat", "target": "ops", "text": "hi", "card": {"type": "Hero"}}),
            "card type",
        ),
    ] {
        let (status, answer) = send(&rig, "POST", "/v1/notifications", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            field_rules(&answer, "details").contains(&rule.to_owned()),
            "{body}: {answer}"
        );
    }
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*db-1* is down"}}]);
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(json!({"channel": "chat", "target": "ops", "text": "db-1 is down", "blocks": blocks})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = NotificationId::parse(answer["id"].as_str().unwrap()).unwrap();
    let Content::Chat(content) = rig.store.record(&id).unwrap().content else {
        panic!("chat content");
    };
    assert_eq!(content.text, "db-1 is down");
    assert_eq!(
        serde_json::from_str::<Value>(content.blocks.as_deref().unwrap()).unwrap(),
        blocks
    );
}

#[tokio::test]
async fn a_template_renders_the_chat_part_with_json_escaped_blocks() {
    let rig = rig();
    send(
        &rig,
        "PUT",
        "/v1/chat/targets/ops",
        Some(json!({"type": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/X"})),
    )
    .await;
    let template = json!({"locales": {"en": {"chat": {
        "text": "{{host}} is down",
        "blocks": "[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"*{{host}}* is down\"}}]"
    }}}});
    let (status, answer) = send(&rig, "PUT", "/v1/templates/down", Some(template)).await;
    assert!(status.is_success(), "{answer}");
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(json!({"channel": "chat", "target": "ops", "template": "down", "data": {"host": "db \"1\""}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = NotificationId::parse(answer["id"].as_str().unwrap()).unwrap();
    let Content::Chat(content) = rig.store.record(&id).unwrap().content else {
        panic!("chat content");
    };
    assert_eq!(content.text, "db \"1\" is down");
    let blocks: Value = serde_json::from_str(content.blocks.as_deref().unwrap()).unwrap();
    assert_eq!(blocks[0]["text"]["text"], "*db \"1\"* is down");
}
