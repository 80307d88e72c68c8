//! Batches against the emulator: bulk writes and bulk sends through the production adapters,
//! partial failures of either, and a retried request.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use http::StatusCode;
use notify_shared::{
    clock::{Clock, ManualClock, SystemClock},
    domain::{
        Notification, NotificationId,
        schedule::{self, Due, DueKind},
        time::Timestamp,
    },
    queue::{NotificationQueue, QueueError, QueueMessage},
    store::{DynamoStore, NotificationStore, StoreError, Transition, TransitionOutcome},
};
use notify_tests::{API_KEY, HangingQueue, TestStack, unique_recipient};
use serde_json::{Value, json};

fn batch_of(recipients: &[Value]) -> Value {
    json!({
        "channel": "email",
        "subject": "Hello {{name}}",
        "text": "Dear {{name}}, the {{event}} starts soon.",
        "data": {"event": "Rust meetup"},
        "recipients": recipients,
    })
}

fn people(n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            let to = unique_recipient();
            let entry = json!({"to": to, "data": {"name": format!("P{i}")}});
            (to, entry)
        })
        .collect()
}

async fn post_batch(
    app: &notify_api::App,
    body: &Value,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    TestStack::call_app(
        app,
        "POST",
        "/v1/notifications/batch",
        Some(&body.to_string()),
        Some(API_KEY),
        headers,
    )
    .await
}

/// Delivers until the batch has nothing pending, or `within` runs out; returns its summary.
async fn drain(t: &TestStack, batch: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        t.deliver_all().await;
        let (status, summary) = t.call("GET", &format!("/v1/batches/{batch}"), None).await;
        assert_eq!(status, StatusCode::OK, "{summary}");
        if summary["complete"] == true || std::time::Instant::now() > deadline {
            return summary;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn valid_recipients_are_accepted_invalid_ones_reported_by_index_and_all_drain_to_sent() {
    let t = TestStack::new().await;
    let mut list = people(24);
    list[3].1 = json!({"to": "not-an-address"});
    list[7].1 = json!({"to": unique_recipient(), "data": "not an object"});
    let entries: Vec<Value> = list.iter().map(|(_, e)| e.clone()).collect();
    let mut body = batch_of(&entries);
    body["batchId"] = json!("meetup-reminder-1");
    let (status, answer) = post_batch(&t.api, &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(22), Some(2))
    );
    assert_eq!(answer["batchId"], "meetup-reminder-1");
    let fields: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["recipients[3].to", "recipients[7].data"]);
    let ids = answer["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 24);
    assert!(ids[3].is_null() && ids[7].is_null());
    assert_eq!(ids.iter().filter(|i| i.is_string()).count(), 22);

    let summary = drain(&t, "meetup-reminder-1", Duration::from_secs(60)).await;
    assert_eq!(summary["statuses"], json!({"sent": 22}), "{summary}");
    assert_eq!(
        (summary["accepted"].as_u64(), summary["rejected"].as_u64()),
        (Some(22), Some(2))
    );
    let emails = t.emails_to(&list[5].0).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].subject, "Hello P5");
    let view = t.notification(ids[5].as_str().unwrap()).await;
    assert_eq!(view["batchId"], "meetup-reminder-1");
}

/// The real store, except that every `every`-th record of a bulk write is left unwritten, as
/// when DynamoDB keeps refusing some items of a BatchWriteItem.
struct DroppingStore {
    inner: Arc<DynamoStore>,
    every: usize,
}

#[async_trait]
impl NotificationStore for DroppingStore {
    async fn insert(&self, n: &Notification) -> Result<(), StoreError> {
        self.inner.insert(n).await
    }
    async fn insert_many(&self, all: &[Notification]) -> Vec<NotificationId> {
        let (dropped, kept): (Vec<(usize, &Notification)>, Vec<(usize, &Notification)>) = all
            .iter()
            .enumerate()
            .partition(|(i, _)| i % self.every == 0);
        let kept: Vec<Notification> = kept.into_iter().map(|(_, n)| n.clone()).collect();
        let mut unwritten = self.inner.insert_many(&kept).await;
        unwritten.extend(dropped.into_iter().map(|(_, n)| n.id.clone()));
        unwritten
    }
    async fn existing(
        &self,
        ids: &[NotificationId],
    ) -> Result<HashSet<NotificationId>, StoreError> {
        self.inner.existing(ids).await
    }
    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        self.inner.get(id, now).await
    }
    async fn transition(
        &self,
        id: &NotificationId,
        change: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        self.inner.transition(id, change).await
    }
    async fn find_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<NotificationId>, StoreError> {
        self.inner
            .find_by_provider_message(provider, message_id)
            .await
    }
    async fn annotate(
        &self,
        id: &NotificationId,
        note: &notify_shared::store::Annotation,
    ) -> Result<bool, StoreError> {
        self.inner.annotate(id, note).await
    }
    async fn replace_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
    ) -> Result<bool, StoreError> {
        self.inner.replace_due(id, expected, due).await
    }
    async fn confirm_enqueued(&self, id: &NotificationId, expiry: Due) -> Result<bool, StoreError> {
        self.inner.confirm_enqueued(id, expiry).await
    }
    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError> {
        self.inner.due(until, limit).await
    }
}

/// The real queue, except that the messages at the given positions of a bulk send fail.
struct LosingQueue {
    inner: notify_shared::queue::SqsQueue,
    every: usize,
    lost: Mutex<Vec<String>>,
}

#[async_trait]
impl NotificationQueue for LosingQueue {
    async fn enqueue(&self, m: &QueueMessage, delay: Duration) -> Result<(), QueueError> {
        self.inner.enqueue(m, delay).await
    }
    async fn enqueue_many(&self, all: &[(QueueMessage, Duration)]) -> Vec<usize> {
        let kept: Vec<usize> = (0..all.len()).filter(|i| i % self.every != 0).collect();
        let batch: Vec<(QueueMessage, Duration)> = kept.iter().map(|&i| all[i].clone()).collect();
        let mut failed: Vec<usize> = self
            .inner
            .enqueue_many(&batch)
            .await
            .into_iter()
            .map(|j| kept[j])
            .collect();
        for i in (0..all.len()).filter(|i| i % self.every == 0) {
            self.lost.lock().unwrap().push(all[i].0.id.to_string());
            failed.push(i);
        }
        failed.sort_unstable();
        failed
    }
}

#[tokio::test]
async fn records_the_store_refused_are_reported_not_accepted_and_the_rest_are_sent() {
    let t = TestStack::new().await;
    let store = Arc::new(DroppingStore {
        inner: t.store.clone(),
        every: 4,
    });
    let api = t.api_custom(|mut p| {
        p.store = store.clone();
        p
    });
    let list = people(12);
    let entries: Vec<Value> = list.iter().map(|(_, e)| e.clone()).collect();
    let (status, answer) = post_batch(&api, &batch_of(&entries), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(9), Some(3))
    );
    let refused: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule"] == "unavailable")
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["recipients[0]", "recipients[4]", "recipients[8]"]);
    let ids = answer["ids"].as_array().unwrap();
    for i in [0, 4, 8] {
        assert!(ids[i].is_null(), "recipient {i} was not accepted");
    }
    let summary = drain(
        &t,
        answer["batchId"].as_str().unwrap(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(summary["statuses"], json!({"sent": 9}), "{summary}");
    for (i, (to, _)) in list.iter().enumerate() {
        let expected = usize::from(i % 4 != 0);
        assert_eq!(t.emails_to(to).await.len(), expected, "recipient {i}");
    }
}

#[tokio::test]
async fn messages_the_queue_refused_are_sent_by_the_sweep_so_nothing_accepted_is_lost() {
    let t = TestStack::new().await;
    let queue = Arc::new(LosingQueue {
        inner: t.sqs_queue(),
        every: 3,
        lost: Mutex::new(Vec::new()),
    });
    let api = t.api_custom(|mut p| {
        p.queue = queue.clone();
        p
    });
    let list = people(9);
    let entries: Vec<Value> = list.iter().map(|(_, e)| e.clone()).collect();
    let (status, answer) = post_batch(&api, &batch_of(&entries), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["accepted"], 9,
        "a message not sent yet is still accepted: its record is"
    );
    let lost = queue.lost.lock().unwrap().clone();
    assert_eq!(lost.len(), 3);

    t.deliver_all().await;
    for id in &lost {
        assert_eq!(
            t.notification(id).await["status"],
            "queued",
            "waiting for the sweep"
        );
    }
    let clock = ManualClock::at(SystemClock.now());
    clock.advance(schedule::ENQUEUE_GRACE + Duration::from_secs(1));
    let report = t
        .cleanup(Arc::new(clock.clone()))
        .sweep(std::time::Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(report.requeued, 3, "exactly the lost ones");
    let summary = drain(
        &t,
        answer["batchId"].as_str().unwrap(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(summary["statuses"], json!({"sent": 9}), "{summary}");
    for (to, _) in &list {
        assert_eq!(t.emails_to(to).await.len(), 1, "once each");
    }
}

#[tokio::test]
async fn a_retried_batch_that_died_half_way_writes_and_sends_each_recipient_once() {
    let t = TestStack::new().await;
    let clock = ManualClock::at(SystemClock.now());
    let list = people(6);
    let entries: Vec<Value> = list.iter().map(|(_, e)| e.clone()).collect();
    let body = batch_of(&entries);
    let key = [("idempotency-key", "campaign-42")];
    // The first request writes its records, then hangs sending the messages (Lambda's
    // timeout would end it there).
    let dying = t.api_with(Arc::new(clock.clone()), Some(Arc::new(HangingQueue)));
    let first = post_batch(&dying, &body, &key);
    let written = async {
        loop {
            let due = t
                .store
                .due(clock.now().plus(Duration::from_secs(86_400)), 100)
                .await
                .unwrap();
            if due.len() == 6 {
                return due;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let written = tokio::select! {
        _ = first => panic!("the request answered; its queue should have hung"),
        w = tokio::time::timeout(Duration::from_secs(30), written) => w.expect("the records are written"),
    };

    clock.advance(Duration::from_secs(61));
    let api = t.api_with(Arc::new(clock.clone()), None);
    let (status, answer) = post_batch(&api, &body, &key).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let ids: HashSet<String> = answer["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect();
    let written: HashSet<String> = written.iter().map(ToString::to_string).collect();
    assert_eq!(ids, written, "the same ids: nothing written twice");
    // Its messages are the sweep's to send (the first request never sent them).
    clock.advance(schedule::ENQUEUE_GRACE + Duration::from_secs(1));
    t.cleanup(Arc::new(clock.clone()))
        .sweep(std::time::Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    let summary = drain(
        &t,
        answer["batchId"].as_str().unwrap(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(summary["statuses"], json!({"sent": 6}), "{summary}");
    for (to, _) in &list {
        assert_eq!(t.emails_to(to).await.len(), 1);
    }
    let (_, replay) = post_batch(&api, &body, &key).await;
    assert_eq!(replay["ids"], answer["ids"]);
}

#[tokio::test]
async fn a_large_answer_is_kept_for_idempotent_replay() {
    let t = TestStack::new().await;
    // 2,000 recipients: the answer (their ids) is larger than a plain DynamoDB item should
    // hold uncompressed.
    let entries: Vec<Value> = (0..2000)
        .map(|i| json!({"to": format!("bulk-{i}-{}", unique_recipient())}))
        .collect();
    let mut body = batch_of(&entries);
    body["scheduledAt"] = json!(
        SystemClock
            .now()
            .plus(Duration::from_secs(3600))
            .to_string()
    );
    let key = [("idempotency-key", "big-one")];
    let (status, first) = post_batch(&t.api, &body, &key).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(first["accepted"], 2000);
    assert_eq!(first["status"], "scheduled");
    assert!(first.to_string().len() > 64 * 1024);
    let (status, again) = post_batch(&t.api, &body, &key).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again, first);
    let (_, summary) = t
        .call(
            "GET",
            &format!("/v1/batches/{}", first["batchId"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(summary["statuses"], json!({"scheduled": 2000}), "{summary}");
}
