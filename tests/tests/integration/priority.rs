//! Priorities: a backlog of low-priority messages never delays a high-priority one.

use notify_shared::domain::{Channel, Priority};
use notify_tests::{TestStack, unique_recipient};
use serde_json::json;

#[tokio::test]
async fn a_low_priority_flood_does_not_starve_high_priority() {
    let t = TestStack::new().await;
    // 60 low-priority emails: six batches' worth.
    for _ in 0..60 {
        t.send(&json!({"channel": "email", "to": unique_recipient(), "subject": "Newsletter", "text": "…", "priority": "low"}))
            .await;
    }
    let urgent_to = unique_recipient();
    let urgent = t
        .send(&json!({"channel": "email", "to": urgent_to, "subject": "Your login code", "text": "123456", "priority": "high"}))
        .await;

    // The very next batch is the high-priority one, with the whole flood still waiting.
    let first = t
        .mapping(Channel::Email)
        .poll_once()
        .await
        .unwrap()
        .expect("a batch");
    assert_eq!((first.priority, first.received), (Priority::High, 1));
    assert_eq!(t.notification(&urgent).await["status"], "sent");
    assert_eq!(t.emails_to(&urgent_to).await.len(), 1);
    assert_eq!(
        t.peek(t.queue_url(Channel::Email, Priority::Low))
            .await
            .len(),
        10,
        "the flood is untouched"
    );

    // And the flood then drains too.
    let rest = t.deliver_all().await;
    assert!(rest.iter().all(|r| r.priority == Priority::Low));
    assert_eq!(rest.iter().map(|r| r.deleted).sum::<usize>(), 60);
}
