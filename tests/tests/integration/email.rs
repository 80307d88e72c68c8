//! An email from the API to SES and back to `sent`, and the faults on the way, against the
//! emulator through the production adapters.

use std::time::Duration;

use notify_shared::{
    domain::{Channel, NotificationId, Priority, TenantId},
    queue::{MessageBody, QueueMessage},
};
use notify_tests::{StackOptions, TestStack, VISIBILITY_TIMEOUT, statuses, unique_recipient};
use serde_json::{Value, json};

fn email_to(to: &str) -> Value {
    json!({
        "channel": "email",
        "to": to,
        "subject": "Your order has shipped",
        "text": "Order 42 is on its way.",
        "html": "<p>Order <b>42</b> is on its way.</p>",
    })
}

#[tokio::test]
async fn accepted_email_is_recorded_queued_and_sent_through_ses() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;

    let queued = t.notification(&id).await;
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["channel"], "email");
    assert_eq!(queued["to"], to.as_str());

    let reports = t.deliver_all().await;
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].priority, reports[0].deleted, reports[0].kept),
        (Priority::Normal, 1, 0)
    );

    let sent = t.notification(&id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["provider"], "ses");
    assert_eq!(statuses(&sent), ["queued", "sending", "sent"]);

    let emails = t.emails_to(&to).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].subject, "Your order has shipped");
    assert_eq!(emails[0].source, notify_tests::SENDER);
    assert_eq!(sent["providerMessageId"], emails[0].id.as_str());
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn each_priority_has_its_own_queue_and_high_is_served_first() {
    let t = TestStack::new().await;
    let mut low = email_to(&unique_recipient());
    low["priority"] = json!("low");
    let mut high = email_to(&unique_recipient());
    high["priority"] = json!("high");
    t.send(&low).await;
    t.send(&high).await;

    assert_eq!(
        t.peek(t.queue_url(Channel::Email, Priority::High))
            .await
            .len(),
        1
    );
    assert_eq!(
        t.peek(t.queue_url(Channel::Email, Priority::Low))
            .await
            .len(),
        1
    );
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
    );

    let order: Vec<Priority> = t.deliver_all().await.iter().map(|r| r.priority).collect();
    assert_eq!(order, [Priority::High, Priority::Low]);
}

#[tokio::test]
async fn duplicate_delivery_sends_once() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;
    // SQS is at-least-once: the same message can arrive twice, here in the same batch.
    let duplicate = QueueMessage::new(
        NotificationId::parse(&id).unwrap(),
        TenantId::new("test"),
        Channel::Email,
        Priority::Normal,
    );
    t.put_raw(Channel::Email, Priority::Normal, &duplicate.to_body())
        .await;

    t.deliver_all().await;
    // A copy that met a live claim is kept until the claim resolves; it then comes back and
    // is recognised as done.
    t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    for _ in 0..20 {
        if t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        t.deliver_all().await;
    }

    assert_eq!(t.emails_to(&to).await.len(), 1, "exactly one email");
    let view = t.notification(&id).await;
    assert_eq!(view["status"], "sent");
    assert_eq!(view["attempts"], 1);
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty(),
        "both copies deleted"
    );
    assert!(
        t.peek(t.dlq_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_poison_message_does_not_block_its_batch_and_ends_in_the_dlq() {
    let t = TestStack::new().await;
    let first = unique_recipient();
    let second = unique_recipient();
    let a = t.send(&email_to(&first)).await;
    t.put_raw(
        Channel::Email,
        Priority::Normal,
        "{this is not a notification",
    )
    .await;
    let b = t.send(&email_to(&second)).await;

    let report = t
        .mapping(Channel::Email)
        .poll_once()
        .await
        .unwrap()
        .expect("a batch");
    assert_eq!((report.received, report.deleted, report.kept), (3, 2, 1));
    for (id, to) in [(&a, &first), (&b, &second)] {
        assert_eq!(t.notification(id).await["status"], "sent");
        assert_eq!(t.emails_to(to).await.len(), 1);
    }

    // Each receive fails it again; past maxReceiveCount SQS moves it to the DLQ.
    for _ in 0..notify_tests::MAX_RECEIVES + 1 {
        tokio::time::sleep(VISIBILITY_TIMEOUT + Duration::from_millis(300)).await;
        t.deliver_all().await;
    }
    assert!(
        t.peek(t.queue_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
    );
    assert_eq!(
        t.peek(t.dlq_url(Channel::Email, Priority::Normal)).await,
        ["{this is not a notification"]
    );
}

#[tokio::test]
async fn a_permanent_ses_rejection_fails_without_retry() {
    // SES rejects mail from an identity it has not verified (MessageRejected).
    let t = TestStack::with(StackOptions {
        sender: "unverified@example.org".into(),
        ..Default::default()
    })
    .await;
    let to = unique_recipient();
    let id = t.send(&email_to(&to)).await;

    let reports = t.deliver_all().await;
    assert_eq!(
        (reports[0].deleted, reports[0].kept),
        (1, 0),
        "deleted, not retried"
    );

    let view = t.notification(&id).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "MessageRejected");
    assert_eq!(view["attempts"], 1);
    assert_eq!(statuses(&view), ["queued", "sending", "failed"]);
    assert!(t.emails_to(&to).await.is_empty());
    assert!(
        t.peek(t.dlq_url(Channel::Email, Priority::Normal))
            .await
            .is_empty()
    );
}
