//! A stream batch counted once, even when Lambda hands it again.

use std::collections::BTreeSet;

use notify_shared::{
    domain::{
        Channel, TenantId, WebhookUrl,
        callback::{CallbackEvent, Subscription, Subscriptions},
        stats::{Counted, Granularity},
        time::Timestamp,
    },
    queue::{CallbackMessage, MemorySink, MessageBody},
    store::{MemoryCallbacks, MemoryStats, MemoryStore},
};

use super::*;

fn batch(statuses: &[(&str, Option<&str>, &str)]) -> Event {
    let records: Vec<serde_json::Value> = statuses
        .iter()
        .enumerate()
        .map(|(i, (event, old, new))| {
            let id = format!("0190a5b0-0000-7000-8000-00000000000{i}");
            let image = |status: &str| {
                serde_json::json!({
                    "SK": {"S": "NOTIFICATION"}, "id": {"S": id}, "tenant": {"S": "acme"},
                    "channel": {"S": "sms"}, "status": {"S": status},
                    "updatedAt": {"S": "2026-12-02T10:15:00.000Z"},
                    "createdAt": {"S": "2026-12-02T10:14:00.000Z"},
                    "recipient": {"M": {"phone": {"S": "+33612345678"}}}
                })
            };
            let mut dynamodb = serde_json::json!({
                "Keys": {"PK": {"S": format!("NOTIFICATION#{id}")}, "SK": {"S": "NOTIFICATION"}},
                "NewImage": image(new), "SequenceNumber": format!("10{i}"), "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1_796_220_900.0
            });
            if let Some(old) = old {
                dynamodb["OldImage"] = image(old);
            }
            serde_json::json!({"eventID": i.to_string(), "eventName": event, "awsRegion": "us-east-1",
                "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

#[tokio::test]
async fn a_batch_handed_twice_counts_once() {
    let stats = Arc::new(MemoryStats::new());
    let changes = Changes::new(stats.clone(), None, Arc::new(MemoryStore::new()));
    let event = batch(&[
        ("INSERT", None, "queued"),
        ("INSERT", None, "queued"),
        ("MODIFY", Some("sending"), "sent"),
    ]);
    changes.handle(&event).await.unwrap();
    changes.handle(&event).await.unwrap();
    let day = stats
        .buckets(&TenantId::new("acme"), Granularity::Day, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].1[&(Channel::Sms, Counted::Accepted)], 2);
    assert_eq!(day[0].1[&(Channel::Sms, Counted::Sent)], 1);
}

async fn subscribed(
    events: &[CallbackEvent],
    channels: Option<&[Channel]>,
) -> Arc<MemoryCallbacks> {
    let callbacks = Arc::new(MemoryCallbacks::new());
    let subs = Subscriptions {
        subscriptions: vec![Subscription {
            url: WebhookUrl::parse("https://hooks.example.com/status").unwrap(),
            events: events.iter().copied().collect::<BTreeSet<_>>(),
            channels: channels.map(|c| c.iter().copied().collect()),
        }],
        updated_at: Timestamp::from_millis(0).unwrap(),
    };
    callbacks
        .put_subscriptions(&TenantId::new("acme"), &subs)
        .await
        .unwrap();
    callbacks
}

fn queued(sink: &MemorySink) -> Vec<CallbackMessage> {
    sink.bodies()
        .iter()
        .map(|b| CallbackMessage::from_body(b).unwrap())
        .collect()
}

#[tokio::test]
async fn each_subscribed_event_is_queued_once_per_url_and_others_are_not() {
    let sink = Arc::new(MemorySink::new());
    let subs = subscribed(&[CallbackEvent::Delivered, CallbackEvent::Failed], None).await;
    let changes = Changes::new(
        Arc::new(MemoryStats::new()),
        Some(Fanout::new(subs, sink.clone())),
        Arc::new(MemoryStore::new()),
    );
    changes
        .handle(&batch(&[
            ("INSERT", None, "queued"),
            ("MODIFY", Some("sending"), "sent"),
            ("MODIFY", Some("sent"), "delivered"),
            ("MODIFY", Some("sent"), "failed"),
        ]))
        .await
        .unwrap();
    let got = queued(&sink);
    let events: Vec<CallbackEvent> = got.iter().map(|m| m.event).collect();
    assert_eq!(events, [CallbackEvent::Delivered, CallbackEvent::Failed]);
    assert!(
        got.iter()
            .all(|m| m.url.as_str() == "https://hooks.example.com/status")
    );
    assert!(got.iter().all(|m| m.tenant == TenantId::new("acme")));
    assert_ne!(got[0].webhook_id, got[1].webhook_id);
}

#[tokio::test]
async fn a_subscription_to_other_channels_hears_nothing_and_a_callback_url_overrides_it() {
    let sink = Arc::new(MemorySink::new());
    let subs = subscribed(&CallbackEvent::ALL, Some(&[Channel::Email])).await;
    let changes = Changes::new(
        Arc::new(MemoryStats::new()),
        Some(Fanout::new(subs, sink.clone())),
        Arc::new(MemoryStore::new()),
    );
    let mut event = batch(&[("MODIFY", Some("sent"), "delivered")]);
    changes.handle(&event).await.unwrap();
    assert!(
        queued(&sink).is_empty(),
        "an SMS; the subscription is for email"
    );

    event.records[0].change.new_image.insert(
        "callbackUrl".into(),
        serde_dynamo::AttributeValue::S("https://app.example.com/cb/42".into()),
    );
    changes.handle(&event).await.unwrap();
    let got = queued(&sink);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].url.as_str(), "https://app.example.com/cb/42");
}

#[tokio::test]
async fn a_queue_failure_fails_the_batch_before_it_is_counted() {
    let sink = Arc::new(MemorySink::new());
    let stats = Arc::new(MemoryStats::new());
    let subs = subscribed(&CallbackEvent::ALL, None).await;
    let changes = Changes::new(
        stats.clone(),
        Some(Fanout::new(subs, sink.clone())),
        Arc::new(MemoryStore::new()),
    );
    let event = batch(&[("MODIFY", Some("sending"), "sent")]);
    sink.refuse(true);
    assert!(changes.handle(&event).await.is_err());
    let counted = stats
        .buckets(&TenantId::new("acme"), Granularity::Day, 0, i64::MAX)
        .await
        .unwrap();
    assert!(counted.is_empty(), "not counted: the batch is handed again");
    sink.refuse(false);
    changes.handle(&event).await.unwrap();
    assert_eq!(queued(&sink).len(), 1);
}

#[tokio::test]
async fn a_batch_handed_twice_queues_callbacks_with_the_same_webhook_ids() {
    let sink = Arc::new(MemorySink::new());
    let subs = subscribed(&CallbackEvent::ALL, None).await;
    let changes = Changes::new(
        Arc::new(MemoryStats::new()),
        Some(Fanout::new(subs, sink.clone())),
        Arc::new(MemoryStore::new()),
    );
    let event = batch(&[
        ("MODIFY", Some("sending"), "sent"),
        ("MODIFY", Some("sent"), "delivered"),
    ]);
    changes.handle(&event).await.unwrap();
    changes.handle(&event).await.unwrap();
    let ids: Vec<String> = queued(&sink).into_iter().map(|m| m.webhook_id).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids[..2],
        ids[2..],
        "a receiver drops the repeats by webhook-id"
    );
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn an_inbox_item_that_expired_leaves_the_counters_once() {
    use notify_shared::{
        domain::{InAppContent, NotificationId, UserId, inbox::InboxItem},
        store::{InboxStore, MemoryInbox},
    };
    let inbox = Arc::new(MemoryInbox::new());
    let changes = Changes::new(
        Arc::new(MemoryStats::new()),
        None,
        Arc::new(MemoryStore::new()),
    )
    .with_inbox(inbox.clone());
    let (tenant, user) = (TenantId::new("acme"), UserId::parse("u-1").unwrap());
    let at = Timestamp::from_millis(1_796_220_900_000).unwrap();
    let content = InAppContent {
        body: "b".into(),
        ..InAppContent::default()
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let item = InboxItem::new(NotificationId::generate(), &content, None, at);
        inbox.add(&tenant, &user, &item, at).await.unwrap();
        ids.push(item);
    }
    let gone = &ids[0];
    let removal = serde_json::json!({"Records": [{
        "eventID": "1", "eventName": "REMOVE", "awsRegion": "us-east-1", "eventSource": "aws:dynamodb",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {
            "Keys": {"PK": {"S": "USER#acme#u-1"}, "SK": {"S": format!("INBOX#I#{}", gone.id)}},
            "OldImage": {
                "PK": {"S": "USER#acme#u-1"}, "SK": {"S": format!("INBOX#I#{}", gone.id)},
                "id": {"S": gone.id.as_str()}, "body": {"S": "b"},
                "createdAt": {"S": "2026-12-02T10:15:00.000Z"},
                "changedAt": {"S": "2026-12-02T10:15:00.000Z"}, "ttl": {"N": "1796220900"}
            },
            "SequenceNumber": "200", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1_796_220_900.0
        }
    }]});
    let event: Event = serde_json::from_value(removal).unwrap();
    changes.handle(&event).await.unwrap();
    changes.handle(&event).await.unwrap();
    let counts = inbox.counts(&tenant, &user).await.unwrap();
    assert_eq!((counts.unread, counts.unseen), (1, 1));
}
