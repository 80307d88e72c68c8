//! The delivery promise under faults: every accepted notification ends in a status that says
//! what happened, nothing is sent twice, nothing is lost.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use notify_local::fcm::Scripted;
use notify_shared::{
    clock::{Clock, ManualClock, SystemClock},
    domain::{Channel, Priority, schedule},
    store::NotificationStore,
};
use notify_tests::{
    ADMIN_KEY, API_KEY, HangingQueue, MAX_RECEIVES, StackOptions, TestStack, statuses,
    unique_recipient,
};
use serde_json::{Value, json};

fn email_to(to: &str) -> Value {
    json!({"channel": "email", "to": to, "subject": "Order 42", "text": "It shipped."})
}

fn manual_clock() -> ManualClock {
    ManualClock::at(SystemClock.now())
}

/// Runs `call` (a request to an API whose queue hangs) until its record is written, then
/// abandons it, as Lambda does at its timeout: the crash lands between the record and the
/// queue message. Returns the id written.
async fn abandon_after_the_record(t: &TestStack, call: impl std::future::Future) -> String {
    let written = async {
        loop {
            let ids = t
                .store
                .due(SystemClock.now().plus(Duration::from_secs(30 * 86_400)), 10)
                .await
                .unwrap();
            if let Some(id) = ids.first() {
                return id.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        _ = call => panic!("the request answered; its queue should have hung"),
        id = tokio::time::timeout(Duration::from_secs(15), written) => id.expect("the record is written"),
    }
}

fn later() -> std::time::Instant {
    std::time::Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn always_unavailable_ends_failed_in_the_dlq_and_a_redrive_after_recovery_sends_it() {
    let t = TestStack::new().await;
    t.register_device("ann", "flaky-device", "android").await;
    t.fcm.script(
        "flaky-device",
        vec![Scripted::error(503, "UNAVAILABLE"); MAX_RECEIVES as usize],
    );
    let id = t
        .send(&json!({"channel": "push", "userId": "ann", "title": "Hi"}))
        .await;

    let failed = t
        .deliver_until(&id, "failed", Duration::from_secs(20))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "RetriesExhausted");
    assert_eq!(failed["attempts"], MAX_RECEIVES);
    // The record says failed before the message goes on: SQS moves it on its next receive.
    let dlq = t.dlq_url(Channel::Push, Priority::Normal);
    for _ in 0..30 {
        t.deliver_all().await;
        if !t.peek(dlq).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        t.peek(dlq).await.len(),
        1,
        "the message waits in the dead-letter queue"
    );
    assert!(t.fcm.received_for("flaky-device").is_empty());

    // FCM recovers (the script is used up); an operator redrives.
    let (status, answer) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/admin/redrive",
        Some(r#"{"channel":"push"}"#),
        Some(ADMIN_KEY),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let normal = answer["redriven"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == "normal")
        .unwrap()
        .clone();
    assert_eq!(
        (normal["method"].as_str(), normal["moved"].as_u64()),
        (Some("copy"), Some(1))
    );

    let sent = t.deliver_until(&id, "sent", Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["deliveries"][0]["status"], "sent");
    assert_eq!(t.fcm.received_for("flaky-device").len(), 1, "sent once");
    assert!(t.peek(dlq).await.is_empty());
}

#[tokio::test]
async fn a_message_that_no_invocation_answers_reads_dead_lettered_and_a_redrive_sends_it() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;
    // Every invocation for it dies before answering (a crash, an out-of-memory, a timeout):
    // the message is received and never deleted until SQS moves it to the dead-letter queue.
    let (queue, dlq) = (
        t.queue_url(Channel::Email, Priority::Normal).to_owned(),
        t.dlq_url(Channel::Email, Priority::Normal).to_owned(),
    );
    for _ in 0..20 {
        if !t.peek(&dlq).await.is_empty() {
            break;
        }
        t.peek(&queue).await;
    }
    assert_eq!(t.peek(&dlq).await.len(), 1, "SQS dead-lettered it");
    assert_eq!(
        t.notification(&id).await["status"],
        "queued",
        "the record never heard"
    );

    let report = t
        .cleanup(Arc::new(SystemClock))
        .sweep(later())
        .await
        .unwrap();
    assert_eq!(report.dead_lettered, 1, "{report:?}");
    let view = t.notification(&id).await;
    assert_eq!(
        (view["status"].as_str(), view["error"]["code"].as_str()),
        (Some("failed"), Some("dead_lettered")),
        "{view}"
    );
    assert_eq!(
        t.peek(&dlq).await.len(),
        1,
        "the message stays in the dead-letter queue, visible"
    );
    assert_eq!(
        t.cleanup(Arc::new(SystemClock))
            .sweep(later())
            .await
            .unwrap()
            .dead_lettered,
        0,
        "marked once"
    );

    let (status, answer) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/admin/redrive",
        Some(r#"{"channel":"email","priority":"normal"}"#),
        Some(ADMIN_KEY),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["redriven"][0]["moved"], 1, "{answer}");
    let sent = t.deliver_until(&id, "sent", Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(t.emails_to(&to).await.len(), 1, "sent once");
}

#[tokio::test]
async fn a_crash_between_record_and_queue_is_delivered_once_after_the_sweep() {
    let t = TestStack::new().await;
    let clock = manual_clock();
    let to = unique_recipient();
    // The accept path writes the record, then dies (Lambda's timeout) while sending the message.
    let dying = t.api_with(Arc::new(clock.clone()), Some(Arc::new(HangingQueue)));
    let body = email_to(&to).to_string();
    let call = TestStack::call_app(
        &dying,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &[],
    );
    let id = abandon_after_the_record(&t, call).await;
    assert_eq!(t.notification(&id).await["status"], "queued");
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty(),
        "but never queued"
    );

    let cleanup = t.cleanup(Arc::new(clock.clone()));
    assert_eq!(
        cleanup.sweep(later()).await.unwrap().requeued,
        0,
        "within the grace period"
    );
    clock.advance(schedule::ENQUEUE_GRACE + Duration::from_secs(1));
    assert_eq!(cleanup.sweep(later()).await.unwrap().requeued, 1);
    assert_eq!(cleanup.sweep(later()).await.unwrap().requeued, 0, "once");

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(t.emails_to(&to).await.len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_twice_gives_the_same_id_and_one_send() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let body = email_to(&to).to_string();
    let key = [("idempotency-key", "order-42-shipped")];
    let (s1, first) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    )
    .await;
    let (s2, second) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first["id"], second["id"]);
    t.deliver_all().await;
    assert_eq!(t.emails_to(&to).await.len(), 1);

    let other = email_to(&unique_recipient()).to_string();
    let (status, err) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/notifications",
        Some(&other),
        Some(API_KEY),
        &key,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );
}

#[tokio::test]
async fn a_retry_of_a_request_that_died_resumes_it_and_sends_once() {
    let t = TestStack::new().await;
    let clock = manual_clock();
    let to = unique_recipient();
    let body = email_to(&to).to_string();
    let key = [("idempotency-key", "welcome-ann")];
    let dying = t.api_with(Arc::new(clock.clone()), Some(Arc::new(HangingQueue)));
    let call = TestStack::call_app(
        &dying,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    );
    let first_id = abandon_after_the_record(&t, call).await;

    let api = t.api_with(Arc::new(clock.clone()), None);
    let (status, err) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("idempotency_request_in_progress")
        )
    );

    // The first request's hold on the key runs out: the retry takes over its work.
    clock.advance(Duration::from_secs(61));
    let (status, accepted) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(id, first_id, "the record the first request wrote");
    let written = t
        .store
        .due(clock.now().plus(Duration::from_secs(7200)), 10)
        .await
        .unwrap();
    assert_eq!(written.len(), 1, "and no other");

    assert_eq!(
        t.deliver_until_settled(&id, Duration::from_secs(10)).await["status"],
        "sent"
    );
    let (_, again) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&body),
        Some(API_KEY),
        &key,
    )
    .await;
    assert_eq!(again["id"], id.as_str());
    t.deliver_all().await;
    assert_eq!(t.emails_to(&to).await.len(), 1);
}

#[tokio::test]
async fn a_notification_scheduled_in_20_minutes_is_released_on_time() {
    let t = TestStack::new().await;
    let clock = manual_clock();
    let api = t.api_with(Arc::new(clock.clone()), None);
    let cleanup = t.cleanup(Arc::new(clock.clone()));
    let to = unique_recipient();
    let at = clock.now().plus(Duration::from_secs(20 * 60));
    let mut body = email_to(&to);
    body["scheduledAt"] = json!(at.to_string());
    let (status, accepted) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&body.to_string()),
        Some(API_KEY),
        &[],
    )
    .await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (StatusCode::ACCEPTED, Some("scheduled")),
        "{accepted}"
    );
    let id = accepted["id"].as_str().unwrap().to_owned();

    clock.advance(Duration::from_secs(18 * 60));
    assert_eq!(cleanup.sweep(later()).await.unwrap().released, 0, "not yet");
    t.deliver_all().await;
    assert_eq!(t.notification(&id).await["status"], "scheduled");

    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(cleanup.sweep(later()).await.unwrap().released, 1);
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(statuses(&view), ["scheduled", "queued", "sending", "sent"]);
    assert_eq!(t.emails_to(&to).await.len(), 1);
}

#[tokio::test]
async fn a_cancelled_notification_sends_nothing() {
    let t = TestStack::new().await;
    let clock = manual_clock();
    let api = t.api_with(Arc::new(clock.clone()), None);

    // Scheduled, then cancelled: never released.
    let later_to = unique_recipient();
    let mut body = email_to(&later_to);
    body["scheduledAt"] = json!(clock.now().plus(Duration::from_secs(3600)).to_string());
    let (_, accepted) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&body.to_string()),
        Some(API_KEY),
        &[],
    )
    .await;
    let scheduled = accepted["id"].as_str().unwrap().to_owned();
    let (status, _) = t
        .call(
            "POST",
            &format!("/v1/notifications/{scheduled}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        t.cleanup(Arc::new(clock.clone()))
            .sweep(later())
            .await
            .unwrap()
            .released,
        0
    );

    // Queued (its message already on the queue), then cancelled: the message sends nothing.
    let now_to = unique_recipient();
    let queued = t.send(&email_to(&now_to)).await;
    let (status, view) = t
        .call("POST", &format!("/v1/notifications/{queued}/cancel"), None)
        .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    t.deliver_all().await;

    assert!(t.emails_to(&later_to).await.is_empty());
    assert!(t.emails_to(&now_to).await.is_empty());
    assert_eq!(t.notification(&queued).await["status"], "cancelled");
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty(),
        "the message was consumed"
    );
}

#[tokio::test]
async fn an_open_circuit_defers_messages_without_using_up_their_receives() {
    let t = TestStack::with(StackOptions {
        breaker_threshold: 2,
        ..Default::default()
    })
    .await;
    for (user, token) in [("u1", "tok-1"), ("u2", "tok-2"), ("u3", "tok-3")] {
        t.register_device(user, token, "android").await;
    }
    t.fcm
        .script("tok-1", vec![Scripted::error(503, "UNAVAILABLE")]);
    t.fcm
        .script("tok-2", vec![Scripted::error(503, "UNAVAILABLE")]);
    let first = t
        .send(&json!({"channel": "push", "userId": "u1", "title": "1"}))
        .await;
    let second = t
        .send(&json!({"channel": "push", "userId": "u2", "title": "2"}))
        .await;
    t.deliver_all().await;
    for id in [&first, &second] {
        assert_eq!(t.notification(id).await["attempts"], 1);
    }

    // Two failures in a row opened the circuit: the next message is put back, untouched.
    let third = t
        .send(&json!({"channel": "push", "userId": "u3", "title": "3", "priority": "high"}))
        .await;
    t.mapping(Channel::Push).poll_once().await.unwrap();
    let waiting = t.notification(&third).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["attempts"].as_u64()),
        (Some("queued"), Some(0)),
        "{waiting}"
    );
    assert!(t.fcm.received_for("tok-3").is_empty());

    // After the cool-down a probe goes through, the circuit closes, and everything is sent.
    for id in [&first, &second, &third] {
        assert_eq!(
            t.deliver_until(id, "sent", Duration::from_secs(15)).await["status"],
            "sent"
        );
    }
    assert_eq!(
        t.notification(&third).await["attempts"],
        1,
        "deferred, never failed"
    );
    assert!(
        t.peek(t.dlq_url(Channel::Push, Priority::High))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_purge_removes_what_outlived_its_retention() {
    let t = TestStack::new().await;
    let clock = manual_clock();
    let api = t.api_with(Arc::new(clock.clone()), None);
    let (_, old) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&email_to(&unique_recipient()).to_string()),
        Some(API_KEY),
        &[],
    )
    .await;
    let old_id = notify_shared::domain::NotificationId::parse(old["id"].as_str().unwrap()).unwrap();
    let written_at = clock.now();

    // A day and a second later the first is past its retention; DynamoDB TTL has not run.
    clock.advance(Duration::from_secs(86_401));
    let (_, fresh) = TestStack::call_app(
        &api,
        "POST",
        "/v1/notifications",
        Some(&email_to(&unique_recipient()).to_string()),
        Some(API_KEY),
        &[],
    )
    .await;
    let fresh = fresh["id"].as_str().unwrap().to_owned();
    assert!(
        t.store.get(&old_id, written_at).await.unwrap().is_some(),
        "still in the table"
    );
    // A run out of time keeps its cursor (an UpdateItem: the cleanup's role may not put
    // items) and the next one resumes.
    let stopped = t
        .cleanup(Arc::new(clock.clone()))
        .run(
            notify_cleanup::Input {
                task: notify_cleanup::Task::Purge,
            },
            std::time::Instant::now(),
        )
        .await
        .unwrap();
    assert_eq!(stopped["complete"], false, "{stopped}");
    let report = t
        .cleanup(Arc::new(clock.clone()))
        .run(
            notify_cleanup::Input {
                task: notify_cleanup::Task::Purge,
            },
            later(),
        )
        .await
        .unwrap();
    assert_eq!(report["notifications"], 1, "{report}");
    assert_eq!(report["complete"], true);
    assert!(
        t.store.get(&old_id, written_at).await.unwrap().is_none(),
        "gone"
    );
    assert_eq!(
        t.notification(&fresh).await["status"],
        "queued",
        "the live one stays"
    );
}
