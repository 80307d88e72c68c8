//! A stream batch counted once, even when Lambda hands it again.

use notify_shared::{
    domain::{
        Channel, TenantId,
        stats::{Counted, Granularity},
    },
    store::MemoryStats,
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
                    "updatedAt": {"S": "2026-12-02T10:15:00.000Z"}
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
    let changes = Changes::new(stats.clone());
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
