//! Slack and Teams through the whole pipeline against the emulator and the chat stand-in:
//! what each service receives (an incoming webhook's text and blocks, `chat.postMessage`
//! with the bot token and channel, a Teams Adaptive Card), the errors that fail at once
//! (`channel_not_found`, `invalid_auth`, a deleted workflow), a `429` retried, and Slack's
//! one message a second per channel kept across concurrent sends.

use std::time::Duration;

use http::StatusCode;
use notify_tests::TestStack;
use serde_json::{Value, json};

async fn target(t: &TestStack, name: &str, body: Value) {
    let (status, answer) = t
        .call(
            "PUT",
            &format!("/v1/chat/targets/{name}"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn chat(t: &TestStack, target: &str, extra: Value) -> String {
    let mut body = json!({"channel": "chat", "target": target, "text": "db-1 is down"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t.send(&body).await
}

fn received_at(t: &TestStack, path: &str) -> Vec<notify_local::chat::ChatMessage> {
    t.chat
        .received()
        .into_iter()
        .filter(|m| m.path == path)
        .collect()
}

#[tokio::test]
async fn slack_and_teams_receive_what_their_apis_take() {
    let t = TestStack::new().await;
    let hook = format!("/slack/webhook/T0/B0/{}", uuid::Uuid::new_v4().simple());
    target(
        &t,
        "slack-hook",
        json!({"type": "slack_webhook", "url": format!("{}{hook}", t.chat_url)}),
    )
    .await;
    target(
        &t,
        "slack-bot",
        json!({"type": "slack_bot", "token": "xoxb-test-token", "channel": "C0ALERTS"}),
    )
    .await;
    let workflow = format!("/teams/workflow/{}", uuid::Uuid::new_v4().simple());
    target(
        &t,
        "teams",
        json!({"type": "teams_workflow", "url": format!("{}{workflow}", t.chat_url)}),
    )
    .await;

    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*db-1* is down"}}]);
    let a = chat(&t, "slack-hook", json!({"blocks": blocks})).await;
    let b = chat(&t, "slack-bot", json!({})).await;
    let c = chat(&t, "teams", json!({})).await;
    for id in [&a, &b, &c] {
        let view = t.deliver_until(id, "sent", Duration::from_secs(30)).await;
        assert_eq!(view["status"], "sent", "{view}");
    }
    let hooked = received_at(&t, &hook);
    assert_eq!(hooked.len(), 1);
    assert_eq!(hooked[0].body["text"], "db-1 is down");
    assert_eq!(hooked[0].body["blocks"], blocks);

    let posted: Vec<_> = received_at(&t, "/slack/api/chat.postMessage")
        .into_iter()
        .filter(|m| m.channel.as_deref() == Some("C0ALERTS"))
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body["text"], "db-1 is down");
    // The message's `ts` is the provider's id.
    let view = t.notification(&b).await;
    assert!(
        view["providerMessageId"].as_str().unwrap().contains('.'),
        "{view}"
    );

    let teams = received_at(&t, &workflow);
    assert_eq!(teams.len(), 1);
    let attachment = &teams[0].body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["body"][0]["text"], "db-1 is down");
}

#[tokio::test]
async fn errors_that_cannot_pass_fail_at_once_and_a_429_is_retried() {
    let t = TestStack::new().await;
    let gone = format!("{}/slack/webhook/T0/B0/channel_not_found", t.chat_url);
    target(&t, "gone", json!({"type": "slack_webhook", "url": gone})).await;
    target(
        &t,
        "revoked",
        json!({"type": "slack_bot", "token": "xoxb-invalid", "channel": "C0ALERTS"}),
    )
    .await;
    let deleted = format!("{}/teams/workflow/deleted-flow", t.chat_url);
    target(
        &t,
        "deleted",
        json!({"type": "teams_workflow", "url": deleted}),
    )
    .await;
    let throttled = format!("{}/slack/webhook/T0/B0/rate_limited", t.chat_url);
    target(
        &t,
        "throttled",
        json!({"type": "slack_webhook", "url": throttled}),
    )
    .await;

    for (name, code) in [
        ("gone", "channel_not_found"),
        ("revoked", "invalid_auth"),
        ("deleted", "workflow_not_found"),
    ] {
        let id = chat(&t, name, json!({})).await;
        let view = t.deliver_until_settled(&id, Duration::from_secs(30)).await;
        assert_eq!(view["status"], "failed", "{name}: {view}");
        assert_eq!(view["error"]["code"], code, "{name}: {view}");
        assert_eq!(view["attempts"], 1, "{name}: not retried");
    }
    let id = chat(&t, "throttled", json!({})).await;
    t.deliver_all().await;
    let view = t.notification(&id).await;
    assert_eq!(view["status"], "queued", "kept for a retry: {view}");
    assert_eq!(view["error"]["code"], "rate_limited", "{view}");
}

#[tokio::test]
async fn one_slack_channel_gets_one_message_a_second_and_none_is_lost() {
    let t = TestStack::new().await;
    let hook = format!("/slack/webhook/T0/B0/{}", uuid::Uuid::new_v4().simple());
    // Two names for one webhook (one channel): paced together.
    for name in ["paced", "paced-alias"] {
        target(
            &t,
            name,
            json!({"type": "slack_webhook", "url": format!("{}{hook}", t.chat_url)}),
        )
        .await;
    }
    let mut ids = Vec::new();
    for (i, name) in ["paced", "paced-alias", "paced", "paced-alias"]
        .into_iter()
        .enumerate()
    {
        ids.push(chat(&t, name, json!({"text": format!("message {i}")})).await);
    }
    for id in &ids {
        let view = t.deliver_until(id, "sent", Duration::from_secs(60)).await;
        assert_eq!(view["status"], "sent", "{view}");
    }
    let mut at: Vec<i64> = received_at(&t, &hook).iter().map(|m| m.at_ms).collect();
    assert_eq!(at.len(), 4, "each once");
    at.sort();
    for pair in at.windows(2) {
        // A lower bound: a slow machine only spreads them further.
        assert!(pair[1] - pair[0] >= 950, "{at:?}");
    }
}
