//! The table's stream, read as status changes: what DynamoDB Streams says happened to a
//! notification record (`NEW_AND_OLD_IMAGES`), and the stats counters that follow from it.
//! Every other item kind, and a change that leaves the status as it was (a lease, a
//! history note), is not a status change.
//!
//! The same records, read as the events a client hears of through its status callbacks
//! ([`notification_events`]): a status entered after the provider got the message, and a
//! complaint recorded on a delivered email.

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::{Deserialize, Serialize};

use super::{
    keys,
    stats::{Additions, BucketKey},
};
use crate::domain::{
    BatchId, Channel, HistoryEntry, NotificationId, Recipient, Status, TemplateRef, TenantId,
    WebhookUrl,
    callback::{CallbackEvent, webhook_id},
    route::RouteLink,
    stats::{Counted, Granularity},
    time::Timestamp,
};

/// A notification's record came into being (`from` none) or changed status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub id: NotificationId,
    pub tenant: TenantId,
    pub channel: Channel,
    pub from: Option<Status>,
    pub to: Status,
    pub at: Timestamp,
    /// The child's place in a routed send, if it is one.
    pub route: Option<RouteLink>,
    /// A test key's: not in the tenant's stats.
    pub test: bool,
}

/// The attributes of a record image the changes need (a large content is not in it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Image {
    id: NotificationId,
    tenant: TenantId,
    channel: Channel,
    status: Status,
    updated_at: Timestamp,
    #[serde(default)]
    route: Option<RouteLink>,
    #[serde(default)]
    test: bool,
}

fn image(item: &serde_dynamo::Item) -> Option<Image> {
    if item.is_empty() {
        return None;
    }
    serde_dynamo::from_item(item.clone()).ok()
}

/// A notification record's images (new, and old unless it was just written), if the stream
/// record is a notification record written.
/// The event source mapping's filter (Lambda's `FilterCriteria` pattern): only the records
/// the changes function acts on reach it — a notification's record, and an inbox item (whose
/// removal it uncounts). The table's other writes (rate and quota counters, audit entries, a
/// key's last use…) would each cost an invocation for nothing. Both IaC definitions carry
/// exactly this text; `notify-local` and the tests apply it with [`wanted_by_changes`].
pub const CHANGES_STREAM_FILTER: &str =
    r#"{"dynamodb":{"Keys":{"SK":{"S":["NOTIFICATION",{"prefix":"INBOX#I#"}]}}}}"#;

/// Whether a stream record (its JSON, as the stream gives it) passes
/// [`CHANGES_STREAM_FILTER`].
pub fn wanted_by_changes(record: &serde_json::Value) -> bool {
    record["dynamodb"]["Keys"]["SK"]["S"]
        .as_str()
        .is_some_and(|sk| sk == keys::RECORD_SK || sk.starts_with(keys::INBOX_ITEM_PREFIX))
}

fn record_images(record: &EventRecord) -> Option<(&serde_dynamo::Item, &serde_dynamo::Item)> {
    let sk = record.change.keys.get("SK")?;
    let is_record = matches!(sk, serde_dynamo::AttributeValue::S(s) if s == keys::RECORD_SK);
    if !is_record || record.event_name == "REMOVE" {
        return None;
    }
    Some((&record.change.new_image, &record.change.old_image))
}

/// The status change a stream record is, if it is one.
pub fn status_change(record: &EventRecord) -> Option<StatusChange> {
    let (new, old) = record_images(record)?;
    let new = image(new)?;
    let old = image(old);
    let from = old.map(|o| o.status);
    if from == Some(new.status) {
        return None;
    }
    Some(StatusChange {
        id: new.id,
        tenant: new.tenant,
        channel: new.channel,
        from,
        to: new.status,
        at: new.updated_at,
        route: new.route,
        test: new.test,
    })
}

/// One event of a notification that a client may hear of: where it goes is the tenant's
/// subscriptions' business (or the notification's own `callbackUrl`'s).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationEvent {
    pub tenant: TenantId,
    pub id: NotificationId,
    pub channel: Channel,
    pub event: CallbackEvent,
    /// The callback's `webhook-id`: one per event, stable across retries.
    pub webhook_id: String,
    pub callback_url: Option<WebhookUrl>,
    /// The callback's JSON body (Standard Webhooks' `type`, `timestamp`, `data`).
    pub body: String,
}

/// The attributes of a record image a callback tells (a large content is not in it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventImage {
    id: NotificationId,
    tenant: TenantId,
    channel: Channel,
    status: Status,
    recipient: Recipient,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default)]
    history: Vec<HistoryEntry>,
    #[serde(default)]
    batch_id: Option<BatchId>,
    #[serde(default)]
    template: Option<TemplateRef>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    complained_at: Option<Timestamp>,
    #[serde(default)]
    callback_url: Option<WebhookUrl>,
}

/// A callback's `data`. The recipient is masked: the client knows it by `id` and `reference`,
/// and a full address has no business in a third party's request logs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackData<'a> {
    id: &'a NotificationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    channel: Channel,
    status: Status,
    event: CallbackEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    to: String,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<&'a BatchId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    complained_at: Option<Timestamp>,
}

fn event_image(item: &serde_dynamo::Item) -> Option<EventImage> {
    if item.is_empty() {
        return None;
    }
    serde_dynamo::from_item(item.clone()).ok()
}

/// The events a stream record is for a client: the status it entered (if clients hear of
/// that status), and a complaint that appeared on it.
pub fn notification_events(record: &EventRecord) -> Vec<NotificationEvent> {
    let Some((new, old)) = record_images(record) else {
        return Vec::new();
    };
    let Some(n) = event_image(new) else {
        return Vec::new();
    };
    let old = event_image(old);
    let mut events = Vec::new();
    if old.as_ref().map(|o| o.status) != Some(n.status)
        && let Some(event) = CallbackEvent::entering(n.status)
    {
        events.push(notification_event(&n, event, n.updated_at));
    }
    if let Some(at) = n.complained_at
        && old.as_ref().and_then(|o| o.complained_at).is_none()
    {
        events.push(notification_event(&n, CallbackEvent::Complained, at));
    }
    events
}

fn notification_event(n: &EventImage, event: CallbackEvent, at: Timestamp) -> NotificationEvent {
    let entered = |status: Status| {
        n.history
            .iter()
            .rev()
            .find(|h| h.status == status && h.event.is_none())
    };
    // A complaint leaves the status as it was: the reason it was entered is not the event's.
    let reason = (event != CallbackEvent::Complained)
        .then(|| entered(n.status).and_then(|h| h.reason.as_deref()))
        .flatten();
    let completed = matches!(
        n.status,
        Status::Delivered
            | Status::Failed
            | Status::Cancelled
            | Status::Suppressed
            | Status::Expired
    );
    let data = CallbackData {
        id: &n.id,
        reference: n.reference.as_deref(),
        channel: n.channel,
        status: n.status,
        event,
        reason,
        to: n.recipient.masked(),
        created_at: n.created_at,
        sent_at: entered(Status::Sent).map(|h| h.at),
        completed_at: completed.then_some(n.updated_at),
        template: n.template.as_ref().map(|t| t.name.as_str()),
        batch_id: n.batch_id.as_ref(),
        complained_at: n.complained_at,
    };
    let body = serde_json::json!({
        "type": format!("notification.{event}"),
        "timestamp": at,
        "data": data,
    });
    NotificationEvent {
        tenant: n.tenant.clone(),
        id: n.id.clone(),
        channel: n.channel,
        event,
        webhook_id: webhook_id(&n.id, event, at),
        callback_url: n.callback_url.clone(),
        body: body.to_string(),
    }
}

/// The counts a batch of changes adds: per tenant, hour and day, the notifications accepted
/// (a new record) and the statuses entered. A test key's notifications are not counted.
pub fn additions(changes: &[StatusChange]) -> Additions {
    let mut additions = Additions::new();
    for change in changes.iter().filter(|c| !c.test) {
        let mut counted = Vec::new();
        if change.from.is_none() {
            counted.push(Counted::Accepted);
        }
        counted.extend(Counted::entering(change.to));
        for granularity in [Granularity::Hour, Granularity::Day] {
            let key = BucketKey {
                tenant: change.tenant.clone(),
                granularity,
                start: granularity.start(change.at),
            };
            let counts = additions.entry(key).or_default();
            for c in &counted {
                *counts.entry((change.channel, *c)).or_default() += 1;
            }
        }
    }
    additions.retain(|_, counts| !counts.is_empty());
    additions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_filter_keeps_records_and_inbox_items_only() {
        let pattern: serde_json::Value = serde_json::from_str(CHANGES_STREAM_FILTER).unwrap();
        let wanted = pattern["dynamodb"]["Keys"]["SK"]["S"].as_array().unwrap();
        assert_eq!(wanted[0], keys::RECORD_SK);
        assert_eq!(wanted[1]["prefix"], keys::INBOX_ITEM_PREFIX);
        let sk = |sk: &str| serde_json::json!({"dynamodb": {"Keys": {"PK": {"S": "x"}, "SK": {"S": sk}}}});
        assert!(wanted_by_changes(&sk("NOTIFICATION")));
        assert!(wanted_by_changes(&sk(
            "INBOX#I#0190a5b0-0000-7000-8000-000000000001"
        )));
        for other in [
            "RATE#29999999",
            "1796619504529#01a2",
            "KEY",
            "INBOX#COUNTS",
            "ROUTE",
        ] {
            assert!(!wanted_by_changes(&sk(other)), "{other}");
        }
    }

    fn record(event: &str, old: Option<&str>, new: &str) -> EventRecord {
        let image = |status: &str| {
            serde_json::json!({
                "PK": {"S": "NOTIFICATION#0190a5b0-0000-7000-8000-000000000001"},
                "SK": {"S": "NOTIFICATION"},
                "id": {"S": "0190a5b0-0000-7000-8000-000000000001"},
                "tenant": {"S": "acme"},
                "channel": {"S": "email"},
                "status": {"S": status},
                "updatedAt": {"S": "2026-12-02T10:15:00.000Z"},
                "createdAt": {"S": "2026-12-02T10:14:00.000Z"},
                "recipient": {"M": {"email": {"S": "jane@example.com"}}},
                "reference": {"S": "order-42"},
                "history": {"L": [
                    {"M": {"status": {"S": "queued"}, "at": {"S": "2026-12-02T10:14:00.000Z"}}},
                    {"M": {"status": {"S": "sent"}, "at": {"S": "2026-12-02T10:14:30.000Z"}}},
                    {"M": {"status": {"S": "failed"}, "at": {"S": "2026-12-02T10:15:00.000Z"}, "reason": {"S": "bounced"}}}
                ]}
            })
        };
        let mut dynamodb = serde_json::json!({
            "Keys": {"PK": {"S": "NOTIFICATION#0190a5b0-0000-7000-8000-000000000001"}, "SK": {"S": "NOTIFICATION"}},
            "NewImage": image(new),
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1_796_220_900.0
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = image(old);
        }
        serde_json::from_value(serde_json::json!({
            "eventID": "1", "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
        }))
        .unwrap()
    }

    #[test]
    fn a_new_record_is_accepted_and_a_status_change_counts_where_it_lands() {
        let changes: Vec<StatusChange> = [
            record("INSERT", None, "queued"),
            record("MODIFY", Some("queued"), "sending"),
            record("MODIFY", Some("sending"), "sent"),
            record("MODIFY", Some("sent"), "delivered"),
            // A history note, a lease: the status stays.
            record("MODIFY", Some("delivered"), "delivered"),
        ]
        .iter()
        .filter_map(status_change)
        .collect();
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[0].from, None);
        let additions = additions(&changes);
        assert_eq!(additions.len(), 2, "an hour and a day");
        for (key, counts) in &additions {
            assert_eq!(key.tenant, TenantId::new("acme"));
            let got: Vec<(Counted, u64)> = counts.iter().map(|((_, c), n)| (*c, *n)).collect();
            assert_eq!(
                got,
                [
                    (Counted::Accepted, 1),
                    (Counted::Sent, 1),
                    (Counted::Delivered, 1)
                ]
            );
        }
        let hour = additions
            .keys()
            .find(|k| k.granularity == Granularity::Hour)
            .unwrap();
        assert_eq!(
            hour.start,
            "2026-12-02T10:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_millis()
        );
    }

    #[test]
    fn other_items_and_removals_are_not_status_changes() {
        let mut content = record("INSERT", None, "queued");
        content.change.keys.insert(
            "SK".into(),
            serde_dynamo::AttributeValue::S("CONTENT".into()),
        );
        assert_eq!(status_change(&content), None);
        assert_eq!(status_change(&record("REMOVE", Some("sent"), "sent")), None);
    }

    fn events_of(record: &EventRecord) -> Vec<(CallbackEvent, Value)> {
        notification_events(record)
            .into_iter()
            .map(|e| (e.event, serde_json::from_str(&e.body).unwrap()))
            .collect()
    }

    use serde_json::Value;

    #[test]
    fn a_client_hears_of_statuses_after_the_provider_once_each() {
        assert!(events_of(&record("INSERT", None, "queued")).is_empty());
        assert!(events_of(&record("MODIFY", Some("queued"), "sending")).is_empty());
        assert!(events_of(&record("MODIFY", Some("sending"), "queued")).is_empty());
        assert!(
            events_of(&record("MODIFY", Some("sent"), "sent")).is_empty(),
            "a note, not a change"
        );
        assert!(events_of(&record("REMOVE", Some("sent"), "sent")).is_empty());

        let failed = record("MODIFY", Some("sent"), "failed");
        let events = notification_events(&failed);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.event, CallbackEvent::Failed);
        assert_eq!(e.tenant, TenantId::new("acme"));
        assert_eq!(
            e.webhook_id,
            format!(
                "0190a5b0-0000-7000-8000-000000000001.failed.{}",
                "2026-12-02T10:15:00Z"
                    .parse::<Timestamp>()
                    .unwrap()
                    .as_millis()
            )
        );
        let body: Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(body["type"], "notification.failed");
        assert_eq!(body["timestamp"], "2026-12-02T10:15:00.000Z");
        let data = &body["data"];
        assert_eq!(data["id"], "0190a5b0-0000-7000-8000-000000000001");
        assert_eq!(data["status"], "failed");
        assert_eq!(data["reason"], "bounced");
        assert_eq!(data["reference"], "order-42");
        assert_eq!(data["channel"], "email");
        assert_eq!(data["sentAt"], "2026-12-02T10:14:30.000Z");
        assert_eq!(data["completedAt"], "2026-12-02T10:15:00.000Z");
        assert_eq!(data["createdAt"], "2026-12-02T10:14:00.000Z");
        assert_ne!(data["to"], "jane@example.com", "masked: {}", data["to"]);
        assert!(data["to"].as_str().unwrap().ends_with("@example.com"));

        let sent = events_of(&record("MODIFY", Some("sending"), "sent"));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, CallbackEvent::Sent);
        assert_eq!(sent[0].1["data"].get("completedAt"), None, "not final yet");
        // A notification recorded already refused (a suppressed address) is heard of at once.
        let suppressed = events_of(&record("INSERT", None, "suppressed"));
        assert_eq!(suppressed.len(), 1);
        assert_eq!(suppressed[0].0, CallbackEvent::Suppressed);
    }

    #[test]
    fn a_complaint_is_its_own_event_once_and_keeps_the_status() {
        let mut r = record("MODIFY", Some("delivered"), "delivered");
        r.change.new_image.insert(
            "complainedAt".into(),
            serde_dynamo::AttributeValue::S("2026-12-02T11:00:00.000Z".into()),
        );
        let events = events_of(&r);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, CallbackEvent::Complained);
        assert_eq!(events[0].1["data"]["status"], "delivered");
        assert_eq!(
            events[0].1["data"]["complainedAt"],
            "2026-12-02T11:00:00.000Z"
        );
        assert_eq!(events[0].1["timestamp"], "2026-12-02T11:00:00.000Z");
        // The same complaint seen again (a later write keeps it): no new event.
        let mut again = r.clone();
        again.change.old_image = again.change.new_image.clone();
        assert!(events_of(&again).is_empty());
    }

    #[test]
    fn a_notifications_own_callback_url_comes_with_its_events() {
        let mut r = record("MODIFY", Some("sending"), "sent");
        r.change.new_image.insert(
            "callbackUrl".into(),
            serde_dynamo::AttributeValue::S("https://hooks.example.com/status".into()),
        );
        let events = notification_events(&r);
        assert_eq!(
            events[0].callback_url.as_ref().map(|u| u.as_str()),
            Some("https://hooks.example.com/status")
        );
    }
}

/// An inbox item that left the table (its TTL ran out, the purge took it, or its user was
/// erased), with what it counted.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxRemoval {
    pub tenant: TenantId,
    pub user: crate::domain::UserId,
    pub id: NotificationId,
    pub counts: crate::domain::inbox::InboxCounts,
}

/// What a stream record says of an inbox item removed, if it is one.
pub fn inbox_removal(record: &EventRecord) -> Option<InboxRemoval> {
    if record.event_name != "REMOVE" {
        return None;
    }
    let text = |name: &str| match record.change.keys.get(name)? {
        serde_dynamo::AttributeValue::S(s) => Some(s.clone()),
        _ => None,
    };
    let (pk, sk) = (text("PK")?, text("SK")?);
    let id = NotificationId::parse(sk.strip_prefix(keys::INBOX_ITEM_PREFIX)?)?;
    // `USER#<tenant>#<user>`: a user id never holds `#`.
    let (tenant, user) = pk.strip_prefix("USER#")?.rsplit_once('#')?;
    let mut old = record.change.old_image.clone();
    for k in ["PK", "SK", "ttl", "deliveredAt"] {
        old.remove(k);
    }
    let item: crate::domain::inbox::InboxItem = serde_dynamo::from_item(old).ok()?;
    Some(InboxRemoval {
        tenant: TenantId::new(tenant),
        user: crate::domain::UserId::parse(user).ok()?,
        id,
        counts: item.counts(),
    })
}
