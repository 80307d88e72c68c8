//! Receipts end to end: an email to SES's mailbox simulator, the events the emulator publishes
//! for it as SES does (configuration set → SNS → the events queue), the events function, and
//! what the notification and the suppression list say afterwards. And the rules, with events
//! put on the queue by hand: early, repeated, foreign.

use std::time::Duration;

use notify_tests::{TestStack, simulator, statuses, unique_recipient};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

fn email_to(to: &str) -> Value {
    json!({"channel": "email", "to": to, "subject": "Your order", "text": "It shipped."})
}

/// An SES event for the notification `id`, as SES publishes it.
fn ses_event(id: &str, tenant: &str, kind: &str, part: Value) -> Value {
    let mut event = json!({
        "eventType": kind,
        "mail": {
            "timestamp": "2026-12-01T10:00:00.000Z",
            "messageId": "0100019-test",
            "source": notify_tests::SENDER,
            "destination": ["someone@example.com"],
            "tags": {"notification_id": [id], "tenant": [tenant]}
        }
    });
    let key = match kind {
        "Delivery" => "delivery",
        "Bounce" => "bounce",
        other => panic!("no fixture for {other}"),
    };
    event[key] = part;
    event
}

fn delivery(to: &str) -> Value {
    json!({"timestamp": "2026-12-01T10:00:02.000Z", "recipients": [to], "smtpResponse": "250 ok"})
}

#[tokio::test]
async fn mail_to_the_simulators_success_address_ends_delivered() {
    let t = TestStack::new().await;
    let id = t.send(&email_to(&simulator("success"))).await;
    let view = t.deliver_until(&id, "delivered", WITHIN).await;
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(statuses(&view), ["queued", "sending", "sent", "delivered"]);
    assert!(view["deliveredAt"].is_string(), "{view}");
}

#[tokio::test]
async fn a_hard_bounce_fails_it_and_suppresses_the_next_send_single_and_batch() {
    let t = TestStack::new().await;
    let to = simulator("bounce");
    let id = t.send(&email_to(&to)).await;
    let view = t.deliver_until(&id, "failed", WITHIN).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "bounced");
    assert!(
        view["error"]["message"]
            .as_str()
            .unwrap()
            .contains("550 5.1.1"),
        "{view}"
    );

    let (status, entry) = t
        .call("GET", &format!("/v1/suppressions/email/{to}"), None)
        .await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["reason"], "bounced");
    assert_eq!(entry["notificationId"], id.as_str());

    // The next send to it ends suppressed without reaching SES.
    let next = t.send(&email_to(&to)).await;
    let view = t.deliver_until_settled(&next, WITHIN).await;
    assert_eq!(view["status"], "suppressed", "{view}");
    assert_eq!(view["error"]["code"], "bounced");
    assert_eq!(
        t.emails_to(&to).await.len(),
        1,
        "only the first reached SES"
    );

    // So does a batch's, beside a recipient that is not listed.
    let other = unique_recipient();
    let (status, batch) = t
        .call(
            "POST",
            "/v1/notifications/batch",
            Some(
                &json!({
                    "channel": "email",
                    "subject": "News",
                    "text": "Hello",
                    "recipients": [{"to": to}, {"to": other}]
                })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 202, "{batch}");
    let ids: Vec<String> = batch["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let listed = t.deliver_until_settled(&ids[0], WITHIN).await;
    let fine = t.deliver_until_settled(&ids[1], WITHIN).await;
    assert_eq!(listed["status"], "suppressed", "{listed}");
    assert_eq!(fine["status"], "sent", "{fine}");
    assert_eq!(t.emails_to(&to).await.len(), 1);
}

#[tokio::test]
async fn a_complaint_keeps_delivered_records_it_and_suppresses_the_address() {
    let t = TestStack::new().await;
    let to = simulator("complaint");
    let id = t.send(&email_to(&to)).await;
    let deadline = std::time::Instant::now() + WITHIN;
    let view = loop {
        t.deliver_all().await;
        let view = t.notification(&id).await;
        if view["complainedAt"].is_string() || std::time::Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(view["status"], "delivered", "{view}");
    assert!(view["complainedAt"].is_string(), "{view}");
    let events: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["event"].as_str())
        .collect();
    assert_eq!(events, ["complained"]);
    let (_, page) = t
        .call("GET", "/v1/suppressions?reason=complained", None)
        .await;
    assert_eq!(page["suppressions"][0]["address"], to.as_str(), "{page}");
}

#[tokio::test]
async fn ses_account_suppression_ends_suppressed_not_failed() {
    let t = TestStack::new().await;
    let id = t.send(&email_to(&simulator("suppressionlist"))).await;
    let view = t.deliver_until(&id, "suppressed", WITHIN).await;
    assert_eq!(view["status"], "suppressed", "{view}");
    assert_eq!(view["error"]["code"], "provider_suppression_list");
}

#[tokio::test]
async fn an_event_before_the_workers_record_waits_for_it_and_a_repeat_changes_nothing() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;
    let event = ses_event(&id, "test", "Delivery", delivery(&to));
    t.put_ses_event(&event).await;
    // The worker has not sent it: the event is kept for later, not dropped.
    let reports = t.deliver_events().await;
    assert_eq!(
        (reports[0].received, reports[0].kept),
        (1, 1),
        "{reports:?}"
    );
    assert_eq!(t.notification(&id).await["status"], "queued");

    // Once it is sent, the retried event makes it delivered; the same event again changes nothing.
    let view = t.deliver_until(&id, "delivered", WITHIN).await;
    assert_eq!(view["status"], "delivered", "{view}");
    t.put_ses_event(&event).await;
    let reports = t.deliver_events().await;
    assert_eq!((reports[0].deleted, reports[0].kept), (1, 0));
    let view = t.notification(&id).await;
    assert_eq!(statuses(&view), ["queued", "sending", "sent", "delivered"]);

    // A late bounce does not overwrite the final status (but suppresses the address).
    let bounce = json!({"bounceType": "Permanent", "bounceSubType": "General",
        "timestamp": "2026-12-01T10:05:00.000Z", "bouncedRecipients": [{"emailAddress": to}]});
    t.put_ses_event(&ses_event(&id, "test", "Bounce", bounce))
        .await;
    t.deliver_events().await;
    assert_eq!(t.notification(&id).await["status"], "delivered");
}

#[tokio::test]
async fn foreign_events_are_dropped_without_poisoning_the_queue() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;
    t.deliver_until(&id, "sent", WITHIN).await;
    // Another tenant's tag, an unknown notification, an untagged mail, and not an event at all.
    t.put_ses_event(&ses_event(&id, "someone-else", "Delivery", delivery(&to)))
        .await;
    t.put_ses_event(&ses_event(
        "0190a5b0-0000-7000-8000-0000000000ff",
        "test",
        "Delivery",
        delivery(&to),
    ))
    .await;
    let mut untagged = ses_event(&id, "test", "Delivery", delivery(&to));
    untagged["mail"]["tags"] = json!({});
    t.put_ses_event(&untagged).await;
    t.put_ses_event(&json!({"hello": "world"})).await;
    let reports = t.deliver_events().await;
    let (received, deleted): (usize, usize) = reports
        .iter()
        .fold((0, 0), |(r, d), b| (r + b.received, d + b.deleted));
    assert_eq!((received, deleted), (4, 4), "{reports:?}");
    assert_eq!(t.notification(&id).await["status"], "sent");
    let (_, dlq) = t.events_queues();
    assert!(t.peek(dlq).await.is_empty());
}

fn sms_to(to: &str) -> Value {
    json!({"channel": "sms", "to": to, "message": "Your code is 123456"})
}

/// End User Messaging SMS's destination simulator numbers (France): SNS's delivery status
/// logs say delivered, and failed.
const SMS_SUCCESS: &str = "+33755512501";
const SMS_FAILURE: &str = "+33755512502";

#[tokio::test]
async fn an_sms_to_the_success_simulator_number_ends_delivered() {
    let t = TestStack::new().await;
    let id = t.send(&sms_to(SMS_SUCCESS)).await;
    let view = t.deliver_until(&id, "delivered", WITHIN).await;
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(statuses(&view), ["queued", "sending", "sent", "delivered"]);
}

#[tokio::test]
async fn an_sms_the_carrier_did_not_deliver_ends_failed_with_its_reason() {
    let t = TestStack::new().await;
    let id = t.send(&sms_to(SMS_FAILURE)).await;
    let view = t.deliver_until(&id, "failed", WITHIN).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "undelivered");
    assert_eq!(
        view["error"]["message"],
        "Phone is currently unreachable/unavailable"
    );
}

#[tokio::test]
async fn an_sms_status_for_an_unknown_message_waits_a_while_then_is_dropped() {
    let t = TestStack::new().await;
    let record = |message_id: &str, at: &str| {
        json!({
            "id": message_id,
            "timestamp": 0,
            "message": json!({
                "notification": {"messageId": message_id, "timestamp": at},
                "delivery": {"destination": SMS_SUCCESS, "providerResponse": "Message has been accepted by phone carrier"},
                "status": "SUCCESS"
            }).to_string()
        })
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    let group = &notify_local::logs::sms_status_log_groups()[0];
    // Too old to be a notification the index has not caught up with: another sender's.
    let old =
        notify_local::logs::payload(group, vec![record("old-one", "2020-01-01 00:00:00.000")])
            .unwrap();
    t.invoke_with_logs(old).await;
    let (queue, _) = t.events_queues();
    assert!(t.peek(queue).await.is_empty());
    // Recent: perhaps sent a moment ago, so it goes onto the events queue to be tried again.
    let recent = notify_local::logs::payload(group, vec![record("recent-one", &now)]).unwrap();
    t.invoke_with_logs(recent).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let queued = t.peek(queue).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(queued[0].contains("recent-one"));
}
