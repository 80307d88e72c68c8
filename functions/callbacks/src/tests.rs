//! What the function makes of each answer a receiver gives, over in-memory ports and a
//! receiver on loopback: retried or given up, recorded, dead-lettered, within the window.

use std::sync::Arc;

use notify_local::receiver::{Answer, KnownSecrets, WebhookReceiver};
use notify_shared::{
    clock::ManualClock,
    domain::{NotificationId, TenantId, WebhookUrl, callback::CallbackEvent},
    queue::{MemoryRedelivery, MemorySink},
    store::{MemoryCallbacks, MemoryWebhooks},
    webhook::{SigningSecrets, SystemLookup, UrlPolicy, WebhookSecret},
};

use super::*;

struct Rig {
    callbacks: Callbacks,
    receiver: WebhookReceiver,
    url: String,
    records: Arc<MemoryCallbacks>,
    dead: Arc<MemorySink>,
    redelivery: Arc<MemoryRedelivery>,
    clock: ManualClock,
}

const WINDOW_HOURS: u64 = 24;

async fn rig() -> Rig {
    let secret = WebhookSecret::generate().unwrap();
    let known = KnownSecrets::default();
    known.add("tenant", secret.clone());
    let receiver = WebhookReceiver::new(Arc::new(known));
    let (addr, _) = receiver
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let webhooks = Arc::new(MemoryWebhooks::new());
    webhooks
        .put_signing_secrets(&TenantId::new("acme"), &SigningSecrets::new(secret), None)
        .await
        .unwrap();
    let records = Arc::new(MemoryCallbacks::new());
    let dead = Arc::new(MemorySink::new());
    let redelivery = Arc::new(MemoryRedelivery::new());
    // The receiver checks the signature's timestamp against its own clock.
    let clock = ManualClock::at(notify_shared::clock::SystemClock.now());
    let config = CallbacksConfig {
        store: StoreSettings {
            table: "t".into(),
            retention: Duration::from_secs(86_400),
            lifetime: Duration::from_secs(3600),
        },
        webhook: WebhookSettings {
            timeout: Duration::from_secs(2),
            policy: UrlPolicy::AllowLoopback,
        },
        retry_window: Duration::from_secs(WINDOW_HOURS * 3600),
        retry_base: Duration::from_secs(30),
        retry_max: Duration::from_secs(3600),
        dead_letter_url: "unused".into(),
    };
    let ports = CallbackPorts {
        secrets: webhooks,
        deliveries: records.clone(),
        dead_letters: dead.clone(),
        redelivery: redelivery.clone(),
        clock: Arc::new(clock.clone()),
    };
    // The receiver's address is an IP literal: nothing is looked up.
    let callbacks = Callbacks::new(&config, Arc::new(SystemLookup), ports).unwrap();
    Rig {
        callbacks,
        receiver,
        url: format!("http://{addr}/status"),
        records,
        dead,
        redelivery,
        clock,
    }
}

/// The callback message as SQS hands it: queued `age` ago, received `receives` times.
fn message(rig: &Rig, age: Duration, receives: u32) -> SqsMessage {
    let now = rig.clock.now();
    let body = CallbackMessage {
        v: CallbackMessage::VERSION,
        tenant: TenantId::new("acme"),
        notification_id: NotificationId::generate(),
        event: CallbackEvent::Delivered,
        url: WebhookUrl::parse(&rig.url).unwrap(),
        webhook_id: "n.delivered.1".into(),
        body: r#"{"type":"notification.delivered"}"#.into(),
        recorded: false,
    };
    let mut m = SqsMessage::default();
    m.message_id = Some("m1".into());
    m.receipt_handle = Some("rh-m1".into());
    m.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:notify-callbacks".into());
    m.body = Some(body.to_body());
    m.attributes
        .insert("ApproximateReceiveCount".into(), receives.to_string());
    let sent = now.as_millis() - i64::try_from(age.as_millis()).unwrap();
    m.attributes
        .insert("SentTimestamp".into(), sent.to_string());
    m
}

async fn handle(rig: &Rig, m: SqsMessage) -> Vec<String> {
    let mut event = SqsEvent::default();
    event.records = vec![m];
    rig.callbacks
        .handle(event)
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

async fn records(rig: &Rig) -> Vec<CallbackDelivery> {
    rig.records
        .deliveries(&TenantId::new("acme"), None, None, 10)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn a_2xx_at_once_is_done_and_leaves_no_record() {
    let rig = rig().await;
    assert!(
        handle(&rig, message(&rig, Duration::ZERO, 1))
            .await
            .is_empty()
    );
    let got = rig.receiver.received_at("/status");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].verified_by.as_deref(),
        Some("tenant"),
        "{:?}",
        got[0].verify_error
    );
    assert_eq!(got[0].header("webhook-id"), Some("n.delivered.1"));
    assert!(records(&rig).await.is_empty());
}

#[tokio::test]
async fn answers_408_429_and_5xx_are_retried_with_backoff_or_retry_after_and_recorded() {
    // A Retry-After shorter than the backoff (7 s) would spend the queue's receives too fast.
    for (status, retry_after) in [
        (408, None),
        (429, Some(7)),
        (429, Some(600)),
        (500, None),
        (503, None),
    ] {
        let rig = rig().await;
        rig.receiver.script(
            "/status",
            vec![Answer {
                retry_after,
                ..Answer::status(status)
            }],
        );
        let kept = handle(&rig, message(&rig, Duration::from_secs(60), 2)).await;
        assert_eq!(kept, ["m1"], "{status} is retried");
        let delay = rig.redelivery.delays()[0].1;
        match retry_after {
            Some(600) => assert_eq!(delay, Duration::from_secs(600), "Retry-After honoured"),
            // Second receive: 30 s doubled, half of it random.
            _ => assert!(
                (Duration::from_secs(30)..=Duration::from_secs(60)).contains(&delay),
                "{delay:?}"
            ),
        }
        let r = records(&rig).await;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, CallbackDeliveryStatus::Retrying);
        assert_eq!(r[0].attempts, 2);
        assert_eq!(r[0].error.as_ref().unwrap().code, format!("http_{status}"));
        assert_eq!(r[0].next_attempt_at, Some(rig.clock.now().plus(delay)));
        assert!(rig.dead.bodies().is_empty());
    }
}

#[tokio::test]
async fn other_4xx_and_redirects_fail_at_once_and_are_dead_lettered() {
    for status in [400, 401, 404, 410, 302] {
        let rig = rig().await;
        rig.receiver.script("/status", vec![Answer::status(status)]);
        let m = message(&rig, Duration::ZERO, 1);
        let body = m.body.clone().unwrap();
        assert!(handle(&rig, m).await.is_empty(), "{status}: not kept");
        assert!(rig.redelivery.delays().is_empty(), "{status}: no retry");
        let r = records(&rig).await;
        assert_eq!(r[0].status, CallbackDeliveryStatus::Failed, "{status}");
        let parked = rig.dead.bodies();
        assert_eq!(parked.len(), 1, "{status}: on the dead-letter queue");
        let parked = CallbackMessage::from_body(&parked[0]).unwrap();
        assert!(parked.recorded);
        assert_eq!(
            CallbackMessage {
                recorded: false,
                ..parked
            },
            CallbackMessage::from_body(&body).unwrap()
        );
    }
}

#[tokio::test]
async fn a_transient_failure_past_the_window_is_given_up() {
    let rig = rig().await;
    rig.receiver.script("/status", vec![Answer::status(503)]);
    let late = message(&rig, Duration::from_secs(WINDOW_HOURS * 3600 - 10), 30);
    assert!(
        handle(&rig, late).await.is_empty(),
        "the next retry would fall past the window"
    );
    let r = records(&rig).await;
    assert_eq!(r[0].status, CallbackDeliveryStatus::Failed);
    assert_eq!(r[0].attempts, 30);
    assert_eq!(rig.dead.bodies().len(), 1);
}

#[tokio::test]
async fn a_success_after_retries_is_recorded_delivered() {
    let rig = rig().await;
    assert!(
        handle(&rig, message(&rig, Duration::from_secs(600), 3))
            .await
            .is_empty()
    );
    let r = records(&rig).await;
    assert_eq!(r[0].status, CallbackDeliveryStatus::Delivered);
    assert_eq!(r[0].attempts, 3);
    assert_eq!(r[0].response.as_ref().map(|a| a.status), Some(200));
}

#[tokio::test]
async fn an_unreadable_message_and_a_missing_secret_are_dead_lettered_not_retried() {
    let rig = rig().await;
    let mut m = message(&rig, Duration::ZERO, 1);
    m.body = Some("not a callback".into());
    assert!(handle(&rig, m).await.is_empty());
    assert_eq!(rig.dead.bodies(), ["not a callback"]);

    let mut m = message(&rig, Duration::ZERO, 1);
    let other = m.body.clone().unwrap().replace("\"acme\"", "\"nobody\"");
    m.body = Some(other);
    assert!(handle(&rig, m).await.is_empty());
    assert_eq!(rig.dead.bodies().len(), 2);
    assert!(rig.receiver.received().is_empty(), "nothing sent unsigned");

    // The dead-letter queue refusing: the message stays, to be tried again.
    rig.dead.refuse(true);
    let mut m = message(&rig, Duration::ZERO, 1);
    m.body = Some("still not a callback".into());
    assert_eq!(handle(&rig, m).await, ["m1"]);
}

#[tokio::test]
async fn a_redriven_callback_delivered_at_its_first_attempt_updates_its_failed_record() {
    let rig = rig().await;
    rig.receiver.script("/status", vec![Answer::status(404)]);
    assert!(
        handle(&rig, message(&rig, Duration::ZERO, 1))
            .await
            .is_empty()
    );
    assert_eq!(
        records(&rig).await[0].status,
        CallbackDeliveryStatus::Failed
    );

    // The receiver is fixed; the dead-letter queue is redriven: a new message, first receive.
    let mut m = message(&rig, Duration::ZERO, 1);
    m.body = Some(rig.dead.bodies()[0].clone());
    assert!(handle(&rig, m).await.is_empty());
    let r = records(&rig).await;
    assert_eq!(r.len(), 1, "the same record");
    assert_eq!(r[0].status, CallbackDeliveryStatus::Delivered);
}
