//! The rules of receipts, against the in-memory stores.

use super::*;
use crate::{
    domain::{Delivery, DeliveryStatus},
    store::{
        MemoryStore, MemorySuppressions, ProviderRef, SuppressionFilter,
        tests::{at, lease, queued_email},
    },
};

struct Fixture {
    store: MemoryStore,
    list: MemorySuppressions,
    n: Notification,
}

/// A notification the worker has recorded `sent` when `sent`, else still `queued`.
async fn fixture(sent: bool) -> Fixture {
    let store = MemoryStore::new();
    let n = queued_email();
    store.insert(&n).await.unwrap();
    if sent {
        let claim = Transition::claim(lease("t", at(60_000)), at(1));
        store.transition(&n.id, &claim).await.unwrap();
        let to = n.recipient.address().unwrap();
        let settle = Transition::settle(
            "t",
            Status::Sent,
            ProviderRef {
                name: "ses".into(),
                message_id: Some("ses-1".into()),
                indexed: false,
            },
            vec![Delivery {
                status: DeliveryStatus::Sent,
                ..Delivery::pending(to)
            }],
            None,
            at(2),
        );
        store.transition(&n.id, &settle).await.unwrap();
    }
    Fixture {
        store,
        list: MemorySuppressions::new(),
        n,
    }
}

fn report(n: &Notification, event: Event, key: &str) -> Report {
    Report {
        notification: n.id.clone(),
        tenant: Some(n.tenant.clone()),
        recipients: vec![n.recipient.address().unwrap()],
        at: at(10),
        event,
        key: key.into(),
    }
}

fn bounce(permanent: bool, provider_list: bool) -> Event {
    Event::Bounced {
        permanent,
        provider_list,
        kind: "Permanent (General)".into(),
        diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
    }
}

impl Fixture {
    async fn apply(&self, report: &Report) -> Applied {
        apply(&self.store, &self.list, report, at(20))
            .await
            .unwrap()
    }

    async fn current(&self) -> Notification {
        self.store.get(&self.n.id, at(20)).await.unwrap().unwrap()
    }

    async fn listed(&self) -> Vec<Suppression> {
        self.list
            .suppressions(&self.n.tenant, &SuppressionFilter::default(), None, 10)
            .await
            .unwrap()
            .items
    }
}

#[tokio::test]
async fn a_delivery_makes_a_sent_notification_delivered_once() {
    let f = fixture(true).await;
    let r = report(&f.n, Event::Delivered, "d1");
    assert_eq!(f.apply(&r).await, Applied::Recorded);
    assert_eq!(f.current().await.status, Status::Delivered);
    assert_eq!(f.apply(&r).await, Applied::Duplicate);
    let history = f.current().await.history;
    assert_eq!(
        history
            .iter()
            .filter(|h| h.status == Status::Delivered)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_report_before_the_worker_recorded_the_send_is_retried_later() {
    let f = fixture(false).await;
    let r = report(&f.n, Event::Delivered, "d1");
    assert_eq!(f.apply(&r).await, Applied::NotYet);
    assert_eq!(f.current().await.status, Status::Queued);
}

#[tokio::test]
async fn unknown_and_other_tenants_notifications_are_foreign() {
    let f = fixture(true).await;
    let mut r = report(&f.n, Event::Delivered, "d1");
    r.tenant = Some(TenantId::new("someone-else"));
    assert_eq!(f.apply(&r).await, Applied::Foreign);
    r.notification = NotificationId::generate();
    r.tenant = None;
    assert_eq!(f.apply(&r).await, Applied::Foreign);
    assert_eq!(f.current().await.status, Status::Sent);
}

#[tokio::test]
async fn a_permanent_bounce_fails_it_and_suppresses_the_address() {
    let f = fixture(true).await;
    assert_eq!(
        f.apply(&report(&f.n, bounce(true, false), "b1")).await,
        Applied::Recorded
    );
    let n = f.current().await;
    assert_eq!(n.status, Status::Failed);
    assert_eq!(n.error.unwrap().code, BOUNCED);
    let listed = f.listed().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, SuppressionReason::Bounced);
    assert_eq!(listed[0].notification_id.as_ref(), Some(&f.n.id));
    // A late delivery report does not overwrite the final status.
    assert_eq!(
        f.apply(&report(&f.n, Event::Delivered, "d1")).await,
        Applied::Duplicate
    );
    assert_eq!(f.current().await.status, Status::Failed);
}

#[tokio::test]
async fn a_bounce_after_the_delivery_keeps_delivered_but_still_suppresses() {
    let f = fixture(true).await;
    f.apply(&report(&f.n, Event::Delivered, "d1")).await;
    assert_eq!(
        f.apply(&report(&f.n, bounce(true, false), "b1")).await,
        Applied::Duplicate
    );
    assert_eq!(f.current().await.status, Status::Delivered);
    assert_eq!(f.listed().await.len(), 1);
}

#[tokio::test]
async fn a_soft_bounce_fails_it_without_suppressing() {
    let f = fixture(true).await;
    f.apply(&report(&f.n, bounce(false, false), "b1")).await;
    let n = f.current().await;
    assert_eq!(n.status, Status::Failed);
    assert_eq!(n.error.unwrap().code, SOFT_BOUNCE);
    assert!(f.listed().await.is_empty());
}

#[tokio::test]
async fn the_providers_own_suppression_list_ends_it_suppressed() {
    let f = fixture(true).await;
    f.apply(&report(&f.n, bounce(true, true), "b1")).await;
    let n = f.current().await;
    assert_eq!(n.status, Status::Suppressed);
    assert_eq!(n.error.unwrap().code, PROVIDER_SUPPRESSED);
    assert_eq!(f.listed().await[0].reason, SuppressionReason::Bounced);
}

#[tokio::test]
async fn a_complaint_is_recorded_once_beside_the_delivered_status() {
    let f = fixture(true).await;
    f.apply(&report(&f.n, Event::Delivered, "d1")).await;
    let complaint = report(
        &f.n,
        Event::Complained {
            kind: Some("abuse".into()),
        },
        "c1",
    );
    assert_eq!(f.apply(&complaint).await, Applied::Recorded);
    assert_eq!(f.apply(&complaint).await, Applied::Duplicate);
    let n = f.current().await;
    assert_eq!(n.status, Status::Delivered);
    assert_eq!(n.complained_at, Some(at(10)));
    let events: Vec<_> = n.history.iter().filter_map(|h| h.event.clone()).collect();
    assert_eq!(events, vec!["complained".to_owned()]);
    assert_eq!(f.listed().await[0].reason, SuppressionReason::Complained);
}

#[tokio::test]
async fn a_complaint_before_the_delivery_report_leaves_room_for_it() {
    let f = fixture(true).await;
    let complaint = report(&f.n, Event::Complained { kind: None }, "c1");
    assert_eq!(f.apply(&complaint).await, Applied::Recorded);
    assert_eq!(
        f.apply(&report(&f.n, Event::Delivered, "d1")).await,
        Applied::Recorded
    );
    let n = f.current().await;
    assert_eq!(n.status, Status::Delivered);
    assert!(n.complained_at.is_some());
}

#[tokio::test]
async fn a_delay_is_history_only() {
    let f = fixture(true).await;
    let delay = report(
        &f.n,
        Event::Delayed {
            kind: "MailboxFull".into(),
        },
        "delay-1",
    );
    assert_eq!(f.apply(&delay).await, Applied::Recorded);
    let n = f.current().await;
    assert_eq!(n.status, Status::Sent);
    let last = n.history.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("delayed"));
    assert_eq!(last.reason.as_deref(), Some("MailboxFull"));
    assert!(f.listed().await.is_empty());
}
