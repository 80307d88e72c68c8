//! The DynamoDB record store keeps the conditional semantics the workers rely on (the same
//! cases the in-memory store is unit-tested for), checked against the emulator.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use notify_shared::{
    clock::{Clock, SystemClock},
    domain::{
        BatchId, Channel, Content, Delivery, DeliveryStatus, Draft, EmailAddress, EmailContent,
        Failure, Lease, Notification, NotificationId, Priority, Recipient, Status, TemplateRef,
        TenantId,
    },
    store::{
        BatchRequest, BatchStore, Begin, DynamoStore, IdempotencyStore, NotificationStore,
        ProviderRef, StoreError, StoredResponse, TemplateStore, Transition, TransitionOutcome,
    },
    template::{TemplateName, TemplateSource},
};
use notify_tests::TestStack;

async fn store() -> (TestStack, Arc<DynamoStore>) {
    let t = TestStack::new().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.sdk),
        &t.stack.table,
    ));
    (t, store)
}

fn queued() -> Notification {
    let draft = Draft {
        channel: Channel::Email,
        priority: Priority::High,
        recipient: Recipient::Email(EmailAddress::parse("carol@example.com").unwrap()),
        content: Content::Email(EmailContent {
            subject: "Subject é ✓".into(),
            text: Some("text".into()),
            html: Some("<p>html</p>".into()),
            reply_to: Some(EmailAddress::parse("help@example.com").unwrap()),
            from_name: Some("Acme Events".into()),
            unsubscribe_url: Some("https://api.example.com/v1/unsubscribe/t".into()),
        }),
        category: Some("orders".into()),
        metadata: BTreeMap::from([("order".into(), "42".into())]),
        scheduled_at: None,
        batch_id: Some(BatchId::parse("orders-batch").unwrap()),
        template: Some(TemplateRef {
            name: "order-shipped".into(),
            version: 3,
            locale: "fr-CA".into(),
            builtin: false,
        }),
        reference: Some("order-42/shipped".into()),
        callback_url: None,
        user_id: None,
    };
    Notification::accept(
        NotificationId::generate(),
        draft,
        TenantId::new("acme"),
        SystemClock.now(),
        Duration::from_secs(3600),
    )
}

/// The settle of the holder of lease `token`: SES accepted the one email as `m-1`.
fn sent_by(token: &str, n: &Notification) -> Transition {
    let mut d = Delivery::pending(n.recipient.address().unwrap());
    d.status = DeliveryStatus::Sent;
    d.provider_message_id = Some("m-1".into());
    let p = ProviderRef {
        name: "ses".into(),
        message_id: Some("m-1".into()),
        indexed: false,
    };
    Transition::settle(token, Status::Sent, p, vec![d], None, SystemClock.now())
}

fn lease(token: &str, secs: u64) -> Lease {
    Lease {
        token: token.into(),
        until_ms: SystemClock
            .now()
            .plus(Duration::from_secs(secs))
            .as_millis(),
    }
}

#[tokio::test]
async fn records_round_trip_and_ids_are_unique() {
    let (_t, store) = store().await;
    let n = queued();
    store.insert(&n).await.unwrap();
    assert_eq!(
        store.get(&n.id, SystemClock.now()).await.unwrap(),
        Some(n.clone())
    );
    assert!(matches!(
        store.insert(&n).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store
            .get(&NotificationId::generate(), SystemClock.now())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn large_content_in_its_own_item_reads_back_whole_through_every_path() {
    let (_t, store) = store().await;
    let large = |id: NotificationId| {
        let mut n = queued();
        n.id = id;
        if let Content::Email(e) = &mut n.content {
            e.html = Some("<p>Order 42 shipped ✓</p>".repeat(4_000));
        }
        n
    };
    let n = large(NotificationId::generate());
    store.insert(&n).await.unwrap();
    let now = SystemClock.now();
    assert_eq!(store.get(&n.id, now).await.unwrap(), Some(n.clone()));
    // A retry of the same request finds it, content and all.
    assert!(matches!(
        store.insert(&n).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let lease = Lease {
        token: "t".into(),
        until_ms: now.plus(Duration::from_secs(60)).as_millis(),
    };
    let TransitionOutcome::Applied(claimed) = store
        .transition(&n.id, &Transition::claim(lease.clone(), now))
        .await
        .unwrap()
    else {
        panic!("the claim applies")
    };
    assert_eq!(
        claimed.content, n.content,
        "the worker gets the content with its claim"
    );
    let TransitionOutcome::Refused(Some(current)) = store
        .transition(&n.id, &Transition::claim(lease, now))
        .await
        .unwrap()
    else {
        panic!("a second claim is refused")
    };
    assert_eq!(current.content, n.content);
    // In bulk too.
    let many: Vec<Notification> = (0..30).map(|i| large(n.id.nth(i + 1))).collect();
    assert!(store.insert_many(&many).await.is_empty());
    for m in &many {
        assert_eq!(store.get(&m.id, now).await.unwrap().as_ref(), Some(m));
    }
}

#[tokio::test]
async fn bulk_writes_land_every_record_and_the_batch_counts_their_statuses() {
    let (_t, store) = store().await;
    let first = queued();
    let all: Vec<Notification> = (0..60)
        .map(|i| {
            let mut n = first.clone();
            n.id = first.id.nth(i);
            n
        })
        .collect();
    assert!(store.insert_many(&all).await.is_empty());
    let ids: Vec<NotificationId> = all.iter().map(|n| n.id.clone()).collect();
    let mut probe = ids.clone();
    probe.push(NotificationId::generate());
    assert_eq!(store.existing(&probe).await.unwrap().len(), 60);
    assert_eq!(
        store.get(&ids[59], SystemClock.now()).await.unwrap(),
        Some(all[59].clone())
    );

    let now = SystemClock.now();
    let batch = BatchId::parse("orders-batch").unwrap();
    let tenant = TenantId::new("acme");
    let request = BatchRequest {
        channel: Channel::Email,
        accepted: 60,
        rejected: 2,
        now,
        expires_at: all[0].expires_at,
    };
    store.record_batch(&tenant, &batch, &request).await.unwrap();
    store.record_batch(&tenant, &batch, &request).await.unwrap();
    let lease = lease("t", 60);
    let claimed = Transition::claim(lease.clone(), now);
    assert!(matches!(
        store.transition(&ids[0], &claimed).await.unwrap(),
        TransitionOutcome::Applied(_)
    ));
    let summary = store.batch(&tenant, &batch, now).await.unwrap().unwrap();
    assert_eq!(
        (summary.requests, summary.accepted, summary.rejected),
        (2, 120, 4)
    );
    assert_eq!(
        summary.statuses.into_iter().collect::<Vec<_>>(),
        [(Status::Queued, 59), (Status::Sending, 1)]
    );
    assert!(
        store
            .batch(&TenantId::new("other"), &batch, now)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_large_idempotent_answer_is_kept_and_replayed_whole() {
    let (_t, store) = store().await;
    let tenant = TenantId::new("acme");
    let now = SystemClock.now();
    let planned = NotificationId::generate();
    let day = Duration::from_secs(86_400);
    let begin = store
        .begin(
            &tenant,
            "k",
            "f",
            &planned,
            now,
            Duration::from_secs(60),
            day,
        )
        .await
        .unwrap();
    assert_eq!(
        begin,
        Begin::Started {
            planned: planned.clone()
        }
    );
    // Over DynamoDB's 400 KB item limit as text (a full batch answer is about that size).
    let ids: Vec<String> = (0..12_000).map(|i| planned.nth(i).to_string()).collect();
    let body = serde_json::json!({ "ids": ids }).to_string();
    assert!(body.len() > 400 * 1024);
    let answer = StoredResponse { status: 202, body };
    store.complete(&tenant, "k", &answer).await.unwrap();
    let again = store
        .begin(
            &tenant,
            "k",
            "f",
            &NotificationId::generate(),
            now,
            Duration::from_secs(60),
            day,
        )
        .await
        .unwrap();
    assert_eq!(again, Begin::Replay(answer));
}

#[tokio::test]
async fn template_versions_are_numbered_listed_and_deleted() {
    let (_t, store) = store().await;
    let tenant = TenantId::new("acme");
    let name = TemplateName::parse("receipt").unwrap();
    let source = |subject: &str| {
        TemplateSource::parse(
            &serde_json::json!({"locales": {"en": {"email": {"subject": subject, "text": "t"}}}}),
        )
        .unwrap()
        .0
    };
    let now = SystemClock.now();
    let v1 = store
        .save(&tenant, &name, &source("one"), now)
        .await
        .unwrap();
    let v2 = store
        .save(
            &tenant,
            &name,
            &source("two"),
            now.plus(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v2.created_at, v1.created_at);
    assert_eq!(store.latest_version(&tenant, &name).await.unwrap(), Some(2));
    assert_eq!(
        store
            .template(&tenant, &name, Some(1))
            .await
            .unwrap()
            .unwrap()
            .source,
        source("one")
    );
    assert_eq!(
        store.template(&tenant, &name, None).await.unwrap().unwrap(),
        v2
    );
    let listed = store.list(&tenant).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|t| (t.name.as_str(), t.version))
            .collect::<Vec<_>>(),
        [("receipt", 2)]
    );
    assert!(
        store
            .list(&TenantId::new("other"))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.delete(&tenant, &name, now).await.unwrap());
    assert!(
        !store.delete(&tenant, &name, now).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.latest_version(&tenant, &name).await.unwrap(), None);
    assert!(store.list(&tenant).await.unwrap().is_empty());
    let v3 = store
        .save(&tenant, &name, &source("three"), now)
        .await
        .unwrap();
    assert_eq!(v3.version, 3, "numbers go on");
    assert_eq!(store.template(&tenant, &name, Some(2)).await.unwrap(), None);
}

#[tokio::test]
async fn a_template_keeps_json_that_dynamodb_numbers_cannot_hold() {
    let (_t, store) = store().await;
    let tenant = TenantId::new("acme");
    let name = TemplateName::parse("big-numbers").unwrap();
    // Past DynamoDB's number range (1E-130 to 9.99E+125) and its 38 digits; each float read
    // back bit for bit (serde_json's float_roundtrip).
    let sample = serde_json::json!({"huge": -2.869719034680209e249, "tiny": 1e-200, "exact": 12345678901234567890_u64, "nested": [[], {"": null}]});
    let (source, _) = TemplateSource::parse(&serde_json::json!({
        "locales": {"en": {"sms": {"message": "{{huge}}"}}},
        "sampleData": sample,
    }))
    .unwrap();
    let saved = store
        .save(&tenant, &name, &source, SystemClock.now())
        .await
        .unwrap();
    let read = store
        .template(&tenant, &name, Some(saved.version))
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(read.source.sample_data, Some(sample));
    assert_eq!(read.source, source);
}

#[tokio::test]
async fn concurrent_saves_of_one_template_each_get_their_own_version() {
    let (_t, store) = store().await;
    let tenant = TenantId::new("acme");
    let name = TemplateName::parse("race").unwrap();
    let source =
        TemplateSource::parse(&serde_json::json!({"locales": {"en": {"sms": {"message": "m"}}}}))
            .unwrap()
            .0;
    let now = SystemClock.now();
    let saves = (0..4).map(|_| store.save(&tenant, &name, &source, now));
    let mut versions: Vec<u32> = futures::future::join_all(saves)
        .await
        .into_iter()
        .map(|r| r.unwrap().version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4]);
}

#[tokio::test]
async fn only_one_claim_wins_and_only_its_holder_completes() {
    let (_t, store) = store().await;
    let n = queued();
    store.insert(&n).await.unwrap();
    let now = SystemClock.now();

    let first = store
        .transition(&n.id, &Transition::claim(lease("a", 60), now))
        .await
        .unwrap();
    let TransitionOutcome::Applied(claimed) = first else {
        panic!("first claim must win: {first:?}")
    };
    assert_eq!((claimed.status, claimed.attempts), (Status::Sending, 1));

    let second = store
        .transition(&n.id, &Transition::claim(lease("b", 60), now))
        .await
        .unwrap();
    match second {
        TransitionOutcome::Refused(Some(current)) => assert_eq!(current.lease.unwrap().token, "a"),
        other => panic!("second claim must be refused with the current record: {other:?}"),
    }

    let stale = store.transition(&n.id, &sent_by("b", &n)).await.unwrap();
    assert!(matches!(stale, TransitionOutcome::Refused(Some(_))));
    let done = store.transition(&n.id, &sent_by("a", &n)).await.unwrap();
    let TransitionOutcome::Applied(sent) = done else {
        panic!("the holder completes: {done:?}")
    };
    assert_eq!(sent.status, Status::Sent);
    assert_eq!(sent.lease, None);
    assert_eq!(sent.provider_message_id.as_deref(), Some("m-1"));
    assert_eq!(sent.deliveries[0].status, DeliveryStatus::Sent);
    let history: Vec<Status> = sent.history.iter().map(|h| h.status).collect();
    assert_eq!(history, [Status::Queued, Status::Sending, Status::Sent]);
}

#[tokio::test]
async fn an_expired_lease_can_be_taken_over() {
    let (_t, store) = store().await;
    let n = queued();
    store.insert(&n).await.unwrap();
    let now = SystemClock.now();
    let gone = Lease {
        token: "crashed".into(),
        until_ms: now.as_millis() - 1,
    };
    store
        .transition(&n.id, &Transition::claim(gone, now))
        .await
        .unwrap();
    let again = store
        .transition(
            &n.id,
            &Transition::claim(lease("new", 60), SystemClock.now()),
        )
        .await
        .unwrap();
    let TransitionOutcome::Applied(taken) = again else {
        panic!("an expired lease must be taken over: {again:?}")
    };
    assert_eq!(
        (taken.lease.unwrap().token.as_str(), taken.attempts),
        ("new", 2)
    );
}

#[tokio::test]
async fn requeue_and_failure_record_the_error() {
    let (_t, store) = store().await;
    let n = queued();
    store.insert(&n).await.unwrap();
    let failure = Failure {
        code: "TooManyRequestsException".into(),
        message: "slow down".into(),
    };
    store
        .transition(&n.id, &Transition::claim(lease("a", 60), SystemClock.now()))
        .await
        .unwrap();
    let back = store
        .transition(
            &n.id,
            &Transition::requeued("a", failure.clone(), vec![], SystemClock.now()),
        )
        .await
        .unwrap();
    let TransitionOutcome::Applied(back) = back else {
        panic!("{back:?}")
    };
    assert_eq!(
        (back.status, back.lease.clone(), back.error.clone()),
        (Status::Queued, None, Some(failure))
    );

    let never = Failure {
        code: "QueueUnavailable".into(),
        message: "down".into(),
    };
    let failed = store
        .transition(
            &n.id,
            &Transition::failed_before_sending(never, SystemClock.now()),
        )
        .await
        .unwrap();
    let TransitionOutcome::Applied(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.status, Status::Failed);
    // Final: nothing moves it any more.
    let late = store
        .transition(&n.id, &Transition::claim(lease("z", 60), SystemClock.now()))
        .await
        .unwrap();
    assert!(matches!(late, TransitionOutcome::Refused(Some(ref c)) if c.status == Status::Failed));
}

#[tokio::test]
async fn a_missing_record_refuses_every_change() {
    let (_t, store) = store().await;
    let outcome = store
        .transition(
            &NotificationId::generate(),
            &Transition::claim(lease("a", 60), SystemClock.now()),
        )
        .await
        .unwrap();
    assert_eq!(outcome, TransitionOutcome::Refused(None));
}

mod devices {
    use notify_shared::{
        domain::{DeviceToken, Platform, TenantId, UserId},
        store::{DeviceRegistry, MAX_DEVICES_PER_USER},
    };

    use super::*;

    fn token(s: &str) -> DeviceToken {
        DeviceToken::parse(s).unwrap()
    }

    #[tokio::test]
    async fn refreshing_keeps_created_at_and_the_oldest_goes_past_the_limit() {
        let (_t, store) = store().await;
        let (tenant, ann) = (TenantId::new("acme"), UserId::parse("ann").unwrap());
        let first = SystemClock.now();
        store
            .register(&tenant, &ann, &token("d0"), Platform::Android, None, first)
            .await
            .unwrap();
        let later = first.plus(Duration::from_secs(5));
        let again = store
            .register(
                &tenant,
                &ann,
                &token("d0"),
                Platform::Android,
                Some("app".into()),
                later,
            )
            .await
            .unwrap();
        assert_eq!(
            (again.created_at, again.updated_at, again.app_id.as_deref()),
            (first, later, Some("app"))
        );

        for i in 1..=MAX_DEVICES_PER_USER {
            let at = later.plus(Duration::from_secs(i as u64));
            store
                .register(
                    &tenant,
                    &ann,
                    &token(&format!("d{i}")),
                    Platform::Ios,
                    None,
                    at,
                )
                .await
                .unwrap();
        }
        let devices = store
            .devices(&tenant, &ann, SystemClock.now())
            .await
            .unwrap();
        assert_eq!(devices.len(), MAX_DEVICES_PER_USER);
        assert_eq!(
            devices[0].token,
            token(&format!("d{MAX_DEVICES_PER_USER}")),
            "newest first"
        );
        assert!(
            devices.iter().all(|d| d.token != token("d0")),
            "the least recently seen went"
        );
    }

    #[tokio::test]
    async fn a_forgotten_token_leaves_every_user_and_unregister_reports_absence() {
        let (_t, store) = store().await;
        let tenant = TenantId::new("acme");
        let ann = UserId::parse("ann").unwrap();
        let now = SystemClock.now();
        store
            .register(&tenant, &ann, &token("gone"), Platform::Web, None, now)
            .await
            .unwrap();
        store
            .register(&tenant, &ann, &token("kept"), Platform::Web, None, now)
            .await
            .unwrap();
        assert_eq!(
            store.forget_token(&tenant, &token("gone")).await.unwrap(),
            1
        );
        let left: Vec<DeviceToken> = store
            .devices(&tenant, &ann, SystemClock.now())
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.token)
            .collect();
        assert_eq!(left, vec![token("kept")]);
        assert!(
            !store
                .unregister(&tenant, &ann, &token("gone"))
                .await
                .unwrap()
        );
        assert!(
            store
                .unregister(&tenant, &ann, &token("kept"))
                .await
                .unwrap()
        );
        assert!(
            store
                .devices(&tenant, &ann, SystemClock.now())
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn the_suppression_list_pages_filters_and_keeps_the_first_reason() {
    use notify_shared::{
        domain::{SuppressedAddress, Suppression, SuppressionReason},
        store::{SuppressionFilter, SuppressionList},
    };
    let (_t, store) = store().await;
    let tenant = TenantId::new("acme");
    let entry = |address: SuppressedAddress, reason| Suppression {
        tenant: tenant.clone(),
        address,
        reason,
        created_at: SystemClock.now(),
        notification_id: None,
        detail: Some("smtp; 550".into()),
    };
    for i in 0..5 {
        let address =
            SuppressedAddress::parse(Channel::Email, &format!("u{i}@example.com")).unwrap();
        let reason = if i % 2 == 0 {
            SuppressionReason::Bounced
        } else {
            SuppressionReason::Complained
        };
        assert!(
            store
                .suppress(&entry(address, reason), false)
                .await
                .unwrap()
        );
    }
    let phone = SuppressedAddress::parse(Channel::Sms, "+12125551234").unwrap();
    store
        .suppress(&entry(phone.clone(), SuppressionReason::Manual), false)
        .await
        .unwrap();
    // A second bounce keeps the first entry; the tenant's own PUT replaces it.
    let first = SuppressedAddress::parse(Channel::Email, "u0@example.com").unwrap();
    assert!(
        !store
            .suppress(&entry(first.clone(), SuppressionReason::Complained), false)
            .await
            .unwrap()
    );
    let read = store.suppression(&tenant, &first).await.unwrap().unwrap();
    assert_eq!(read.reason, SuppressionReason::Bounced);
    assert_eq!(read.detail.as_deref(), Some("smtp; 550"));

    let bounced = SuppressionFilter {
        channel: Some(Channel::Email),
        reason: Some(SuppressionReason::Bounced),
    };
    let page = store
        .suppressions(&tenant, &bounced, None, 2)
        .await
        .unwrap();
    let addresses: Vec<&str> = page.items.iter().map(|s| s.address.as_str()).collect();
    assert_eq!(addresses, ["u0@example.com", "u2@example.com"]);
    let rest = store
        .suppressions(&tenant, &bounced, page.next.as_deref(), 2)
        .await
        .unwrap();
    let addresses: Vec<&str> = rest.items.iter().map(|s| s.address.as_str()).collect();
    assert_eq!(addresses, ["u4@example.com"]);
    assert_eq!(rest.next, None);

    let all = store
        .suppressions(&tenant, &SuppressionFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.items[5].address, phone);
    let other = store
        .suppressions(
            &TenantId::new("globex"),
            &SuppressionFilter::default(),
            None,
            100,
        )
        .await
        .unwrap();
    assert!(other.items.is_empty());
    assert!(store.unsuppress(&tenant, &phone).await.unwrap());
    assert!(!store.unsuppress(&tenant, &phone).await.unwrap());
}

/// What both tenant stores must do alike: a tenant created once, keys found by their hash
/// only, listed without it, revoked for good, and their use recorded at most once a minute.
async fn tenant_store_semantics(store: &dyn notify_shared::store::TenantStore, id: &str) {
    use notify_shared::domain::tenant::{
        ApiKeySecret, KeyKind, Scope, StoredKey, Tenant, TenantLimits, TenantStatus, key_hash,
    };
    let now = SystemClock.now();
    let tenant = Tenant {
        id: TenantId::new(id),
        name: "Acme".into(),
        status: TenantStatus::Active,
        limits: TenantLimits::default(),
        settings: Default::default(),
        created_at: now,
        updated_at: now,
    };
    assert!(store.create_tenant(&tenant).await.unwrap());
    assert!(!store.create_tenant(&tenant).await.unwrap(), "once");
    assert!(
        store
            .tenants()
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == tenant.id)
    );
    let secret = ApiKeySecret::generate(KeyKind::Test).unwrap();
    let key = StoredKey {
        tenant: tenant.id.clone(),
        prefix: secret.prefix(),
        kind: KeyKind::Test,
        scopes: [Scope::Send, Scope::Read].into(),
        description: Some("ci".into()),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    store.add_key(&secret.hash(), &key).await.unwrap();
    assert_eq!(
        store.key(&key_hash(secret.expose())).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.key(&key_hash("nk_test_other")).await.unwrap(), None);
    let listed = store.keys(&tenant.id).await.unwrap();
    assert_eq!(listed, vec![key.clone()]);
    assert!(
        store
            .touch_key(&secret.hash(), now, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let soon = now.plus(Duration::from_secs(30));
    assert!(
        !store
            .touch_key(&secret.hash(), soon, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let later = now.plus(Duration::from_secs(61));
    assert!(
        store
            .touch_key(&secret.hash(), later, Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(
        store.keys(&tenant.id).await.unwrap()[0].last_used_at,
        Some(later),
        "the tenant's list shows the last use"
    );
    let revoked = store
        .revoke_key(&tenant.id, &key.prefix, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    let found = store.key(&secret.hash()).await.unwrap().unwrap();
    assert!(!found.usable());
    assert_eq!(
        store
            .revoke_key(&TenantId::new("other"), &key.prefix, later)
            .await
            .unwrap(),
        None,
        "another tenant's prefix"
    );
}

#[tokio::test]
async fn tenants_and_keys_behave_alike_in_dynamodb_and_in_memory() {
    let (_t, store) = store().await;
    let id = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    tenant_store_semantics(store.as_ref(), &id).await;
    tenant_store_semantics(&notify_shared::store::MemoryTenants::new(), &id).await;
}

/// The rate limit's counter under 200 concurrent requests against DynamoDB: exactly the
/// limit is let in; a quota's "what fits" under concurrency never passes the quota.
#[tokio::test]
async fn limit_counters_hold_their_cap_under_concurrency() {
    use notify_shared::store::LimitCounters;
    let (_t, store) = store().await;
    let tenant = TenantId::new(format!(
        "t{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let expires = SystemClock.now().as_seconds() + 120;
    let admitted = futures::future::join_all(
        (0..200).map(|_| store.add_within(&tenant, "RATE#1", 1, 50, expires)),
    )
    .await;
    let let_in = admitted.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    assert!(admitted.iter().all(Result::is_ok));
    assert_eq!(let_in, 50);
    let taken = futures::future::join_all(
        (0..20).map(|_| store.add_what_fits(&tenant, "QUOTA#d#sms", 7, 100, expires)),
    )
    .await;
    let total: u32 = taken.into_iter().map(Result::unwrap).sum();
    assert_eq!(total, 100, "the quota is filled exactly, never passed");
    assert_eq!(
        store
            .add_within(&tenant, "QUOTA#d#sms", 1, 100, expires)
            .await
            .unwrap(),
        None
    );
}

/// The audit trail in DynamoDB: a tenant's entries newest first, paged, filtered by action;
/// the operator's view across tenants from the day partitions.
#[tokio::test]
async fn audit_entries_are_read_back_per_tenant_and_across_tenants() {
    use notify_shared::store::{AuditEntry, AuditLog, AuditScope};
    let (_t, store) = store().await;
    let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (a, b) = (
        TenantId::new(format!("a{unique}")),
        TenantId::new(format!("b{unique}")),
    );
    let start = SystemClock.now();
    let mut ids = Vec::new();
    for (i, (tenant, action)) in [
        (&a, "template.save"),
        (&b, "key.create"),
        (&a, "key.create"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = start.plus(Duration::from_millis(i as u64));
        let entry = AuditEntry {
            id: AuditEntry::new_id(at),
            at,
            tenant: Some(tenant.clone()),
            actor: "admin".into(),
            action: action.into(),
            target: Some(format!("t{i}")),
            source_ip: Some("127.0.0.1".into()),
            outcome: 201,
            request_id: format!("r{i}"),
        };
        store.append(&entry, at.as_seconds() + 3600).await.unwrap();
        ids.push(entry.id);
    }
    let mine = store
        .entries(&AuditScope::Tenant(a.clone()), start, None, None, 1)
        .await
        .unwrap();
    assert_eq!(mine.entries.len(), 1);
    assert_eq!(mine.entries[0].id, ids[2], "newest first");
    let rest = store
        .entries(
            &AuditScope::Tenant(a.clone()),
            start,
            None,
            mine.next.as_deref(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        rest.entries.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&ids[0]]
    );
    assert_eq!(rest.next, None);
    let all = store
        .entries(&AuditScope::All, start, Some("key.create"), None, 100)
        .await
        .unwrap();
    let ours: Vec<&String> = all
        .entries
        .iter()
        .filter(|e| e.id == ids[1] || e.id == ids[2])
        .map(|e| &e.id)
        .collect();
    assert_eq!(ours, [&ids[2], &ids[1]], "both tenants', newest first");
    assert!(all.entries.iter().all(|e| e.action == "key.create"));
}
