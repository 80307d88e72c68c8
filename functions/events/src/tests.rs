//! The function's handling of a batch: which messages come back, against in-memory stores.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use notify_shared::{
    clock::ManualClock,
    domain::{
        Channel, Content, Draft, EmailAddress, EmailContent, Lease, Notification, NotificationId,
        Priority, Recipient, Status, TenantId, time::Timestamp,
    },
    queue::MemoryRedelivery,
    store::{MemoryStore, MemorySuppressions, ProviderRef, Transition},
};

use super::*;

fn now() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000).unwrap()
}

fn email(to: &str) -> Notification {
    let draft = Draft {
        channel: Channel::Email,
        priority: Priority::Normal,
        recipient: Recipient::Email(EmailAddress::parse(to).unwrap()),
        content: Content::Email(EmailContent {
            subject: "Hello".into(),
            text: Some("Hi".into()),
            html: None,
            reply_to: None,
            from_name: None,
            unsubscribe_url: None,
        }),
        category: None,
        metadata: BTreeMap::new(),
        scheduled_at: None,
        batch_id: None,
        template: None,
        reference: None,
        callback_url: None,
        user_id: None,
    };
    Notification::accept(
        NotificationId::generate(),
        draft,
        TenantId::new("acme"),
        now(),
        Duration::from_secs(86_400),
    )
}

fn delivery_event(n: &Notification) -> String {
    let event = serde_json::json!({
        "eventType": "Delivery",
        "mail": {
            "timestamp": "2027-01-15T08:00:00.000Z",
            "messageId": "ses-1",
            "destination": ["bob@example.com"],
            "tags": {"notification_id": [n.id.as_str()], "tenant": ["acme"]}
        },
        "delivery": {"timestamp": "2027-01-15T08:00:01.000Z", "recipients": ["bob@example.com"]}
    });
    serde_json::json!({"Type": "Notification", "Message": event.to_string()}).to_string()
}

fn message(body: &str, id: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.receipt_handle = Some(format!("rh-{id}"));
    m.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:notify-events".into());
    m.body = Some(body.into());
    m.attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    m
}

struct Rig {
    store: Arc<MemoryStore>,
    redelivery: Arc<MemoryRedelivery>,
    receipts: Receipts,
}

fn rig() -> Rig {
    let store = Arc::new(MemoryStore::new());
    let redelivery = Arc::new(MemoryRedelivery::new());
    let config = EventsConfig {
        store: notify_shared::config::StoreSettings {
            table: "t".into(),
            retention: Duration::from_secs(86_400),
            lifetime: Duration::from_secs(86_400),
        },
        retry_base: Duration::from_secs(10),
        retry_max: Duration::from_secs(120),
        events_queue_arn: Some("arn:aws:sqs:us-east-1:123456789012:notify-events".into()),
    };
    let receipts = Receipts::new(
        store.clone(),
        Arc::new(MemorySuppressions::new()),
        redelivery.clone(),
        Arc::new(ManualClock::at(now())),
        &config,
    );
    Rig {
        store,
        redelivery,
        receipts,
    }
}

async fn sent(store: &MemoryStore, n: &Notification) {
    store.insert(n).await.unwrap();
    let lease = Lease {
        token: "t".into(),
        until_ms: now().as_millis() + 60_000,
    };
    store
        .transition(&n.id, &Transition::claim(lease, now()))
        .await
        .unwrap();
    let settle = Transition::settle(
        "t",
        Status::Sent,
        ProviderRef {
            name: "ses".into(),
            message_id: Some("ses-1".into()),
            indexed: false,
        },
        Vec::new(),
        None,
        now(),
    );
    store.transition(&n.id, &settle).await.unwrap();
}

#[tokio::test]
async fn only_a_report_that_came_before_its_send_was_recorded_comes_back() {
    let r = rig();
    let done = email("bob@example.com");
    sent(&r.store, &done).await;
    let early = email("carol@example.com");
    r.store.insert(&early).await.unwrap();
    let mut event = SqsEvent::default();
    event.records = vec![
        message(&delivery_event(&done), "m-done"),
        message(&delivery_event(&early), "m-early"),
        message("{not json", "m-poison"),
        message(&delivery_event(&email("dave@example.com")), "m-foreign"),
    ];
    let response = r.receipts.handle(event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec!["m-early".to_owned()]);
    // Retried after a backoff, not at once.
    assert_eq!(r.redelivery.delays().len(), 1);
    let done = r.store.get(&done.id, now()).await.unwrap().unwrap();
    assert_eq!(done.status, Status::Delivered);
}
