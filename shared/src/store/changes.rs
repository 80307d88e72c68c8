//! The table's stream, read as status changes: what DynamoDB Streams says happened to a
//! notification record (`NEW_AND_OLD_IMAGES`), and the stats counters that follow from it.
//! Every other item kind, and a change that leaves the status as it was (a lease, a
//! history note), is not a status change.

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;

use super::{
    keys,
    stats::{Additions, BucketKey},
};
use crate::domain::{
    Channel, NotificationId, Status, TenantId,
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
}

fn image(item: &serde_dynamo::Item) -> Option<Image> {
    if item.is_empty() {
        return None;
    }
    serde_dynamo::from_item(item.clone()).ok()
}

/// The status change a stream record is, if it is one.
pub fn status_change(record: &EventRecord) -> Option<StatusChange> {
    let sk = record.change.keys.get("SK")?;
    let is_record = matches!(sk, serde_dynamo::AttributeValue::S(s) if s == keys::RECORD_SK);
    if !is_record || record.event_name == "REMOVE" {
        return None;
    }
    let new = image(&record.change.new_image)?;
    let old = image(&record.change.old_image);
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
    })
}

/// The counts a batch of changes adds: per tenant, hour and day, the notifications accepted
/// (a new record) and the statuses entered.
pub fn additions(changes: &[StatusChange]) -> Additions {
    let mut additions = Additions::new();
    for change in changes {
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
                "history": {"L": []}
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
}
