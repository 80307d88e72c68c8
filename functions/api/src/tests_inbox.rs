//! The in-app channel and its feed over in-memory ports: what an in-app send accepts, the
//! feed's counts, filters, pages and delta, marks one by one and in bulk, the first fetch
//! making a notification `delivered`, a read reading the notification, user tokens, and
//! isolation between users and tenants. The worker's part (storing the item, pushing it to
//! live connections) runs here through the same provider the worker runs; the whole chain
//! through the emulator and the WebSocket stand-in is in the `tests` crate.

use std::sync::Arc;

use http::StatusCode;
use notify_shared::{
    clock::Clock,
    domain::{Address, Lease, NotificationId, Status, TenantId, UserId},
    provider::{InAppProvider, MemoryPoster, Provider},
    store::{MemoryConnections, NotificationStore, ProviderRef, Transition, TransitionOutcome},
    user_token::{UserToken, UserTokenSecret},
};
use serde_json::{Value, json};

use crate::tests::{KEY, OTHER_KEY, Rig, call, field_rules, request, rig};

async fn send(rig: &Rig, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    send_as(rig, KEY, method, path, body).await
}

async fn send_as(
    rig: &Rig,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) = call(rig, request(method, path, Some(key), body.as_deref())).await;
    (status, answer)
}

/// Accepts an in-app notification and does what the in-app worker does with it: claims it,
/// stores the item, records it `sent`.
async fn notify(rig: &Rig, key: &str, user: &str, body: Value) -> NotificationId {
    let mut request = json!({"channel": "in_app", "userId": user});
    if body.get("template").is_none() {
        request["body"] = json!("hello");
    }
    request
        .as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    let (status, answer) = send_as(rig, key, "POST", "/v1/notifications", Some(request)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = NotificationId::parse(answer["id"].as_str().unwrap()).unwrap();
    let now = rig.clock.now();
    let lease = Lease {
        token: "t".into(),
        until_ms: now.as_millis() + 60_000,
    };
    let claimed = rig
        .store
        .transition(&id, &Transition::claim(lease, now))
        .await
        .unwrap();
    assert!(matches!(claimed, TransitionOutcome::Applied(_)));
    let n = rig.store.record(&id).unwrap();
    let provider = InAppProvider::new(
        rig.inbox.clone(),
        Arc::new(MemoryConnections::new()),
        Arc::new(MemoryPoster::new()),
        Arc::new(rig.clock.clone()),
    );
    let targets = provider.targets(&n).await.unwrap();
    assert_eq!(targets, vec![Address::Inbox(UserId::parse(user).unwrap())]);
    let mut delivery = notify_shared::domain::Delivery::pending(targets[0].clone());
    provider.send(&n, &targets[0]).await.unwrap();
    delivery.status = notify_shared::domain::DeliveryStatus::Sent;
    let provider_ref = ProviderRef {
        name: "inbox".into(),
        message_id: None,
        indexed: false,
    };
    let settled = Transition::settle("t", Status::Sent, provider_ref, vec![delivery], None, now);
    rig.store.transition(&id, &settled).await.unwrap();
    // Items made in one millisecond would tie: each its own.
    rig.clock.advance(std::time::Duration::from_millis(10));
    id
}

async fn feed(rig: &Rig, user: &str, query: &str) -> Value {
    let (status, answer) = send(rig, "GET", &format!("/v1/users/{user}/inbox{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn ids(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn mark(rig: &Rig, user: &str, id: &NotificationId, what: &str) -> Value {
    let path = format!("/v1/users/{user}/inbox/{id}/{what}");
    let (status, answer) = send(rig, "POST", &path, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn an_in_app_send_goes_to_a_user_with_a_body_and_a_safe_action_url() {
    let rig = rig();
    let cases = [
        (
            json!({"channel": "in_app", "to": "jane@example.com", "body": "b"}),
            "userId required",
        ),
        (
            json!({"channel": "in_app", "userId": "u-1"}),
            "body required",
        ),
        (
            json!({"channel": "in_app", "userId": "u-1", "body": "b", "actionUrl": "javascript:alert(1)"}),
            "actionUrl pattern",
        ),
        (
            json!({"channel": "in_app", "userId": "u-1", "body": "b", "actionUrl": "//evil.example"}),
            "actionUrl pattern",
        ),
        (
            json!({"channel": "in_app", "userId": "u-1", "body": "b", "data": {"k": 1}}),
            "data.k type",
        ),
    ];
    for (body, rule) in cases {
        let (status, answer) = send(&rig, "POST", "/v1/notifications", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            field_rules(&answer, "details").contains(&rule.to_owned()),
            "{body}: {answer}"
        );
    }
    for url in ["/orders/42?tab=items", "https://app.example.com/orders/42"] {
        let body = json!({"channel": "in_app", "userId": "u-1", "title": "Order shipped",
            "body": "Your order is on its way", "actionUrl": url, "data": {"orderId": "42"}});
        let (status, answer) = send(&rig, "POST", "/v1/notifications", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["channel"], "in_app");
        assert_eq!(answer["title"], "Order shipped");
    }
}

#[tokio::test]
async fn a_template_renders_the_in_app_part() {
    let rig = rig();
    let template = json!({"locales": {"en": {"in_app": {
        "title": "Order {{order}}", "body": "Shipped to {{city}}",
        "actionUrl": "/orders/{{order}}", "data": {"order": "{{order}}"}
    }}}});
    let (status, answer) = send(&rig, "PUT", "/v1/templates/shipped", Some(template)).await;
    assert!(status.is_success(), "{answer}");
    let id = notify(
        &rig,
        KEY,
        "u-1",
        json!({"template": "shipped", "data": {"order": "42", "city": "Lyon"}}),
    )
    .await;
    let answer = feed(&rig, "u-1", "").await;
    let item = &answer["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["title"], "Order 42");
    assert_eq!(item["body"], "Shipped to Lyon");
    assert_eq!(item["actionUrl"], "/orders/42");
    assert_eq!(item["data"]["order"], "42");
}

#[tokio::test]
async fn the_feed_counts_filters_and_pages() {
    let rig = rig();
    let mut sent = Vec::new();
    for i in 0..5 {
        let category = if i % 2 == 0 { "orders" } else { "social" };
        sent.push(
            notify(
                &rig,
                KEY,
                "u-1",
                json!({"body": format!("n{i}"), "category": category}),
            )
            .await,
        );
    }
    let all = feed(&rig, "u-1", "").await;
    assert_eq!(all["unreadCount"], 5);
    assert_eq!(all["unseenCount"], 5);
    // Newest first.
    let newest_first: Vec<String> = sent.iter().rev().map(|i| i.to_string()).collect();
    assert_eq!(ids(&all), newest_first);
    assert_eq!(all["items"][0]["category"], "orders");

    mark(&rig, "u-1", &sent[4], "read").await;
    mark(&rig, "u-1", &sent[3], "seen").await;
    mark(&rig, "u-1", &sent[0], "archive").await;
    let unread = feed(&rig, "u-1", "?status=unread").await;
    assert_eq!(
        ids(&unread),
        vec![
            sent[3].to_string(),
            sent[2].to_string(),
            sent[1].to_string()
        ]
    );
    assert_eq!(
        unread["unreadCount"], 3,
        "the archived one no longer counts"
    );
    assert_eq!(unread["unseenCount"], 2);
    let unseen = feed(&rig, "u-1", "?status=unseen").await;
    assert_eq!(ids(&unseen), vec![sent[2].to_string(), sent[1].to_string()]);
    let archived = feed(&rig, "u-1", "?archived=only").await;
    assert_eq!(ids(&archived), vec![sent[0].to_string()]);
    let orders = feed(&rig, "u-1", "?category=orders&archived=include").await;
    assert_eq!(
        ids(&orders),
        vec![
            sent[4].to_string(),
            sent[2].to_string(),
            sent[0].to_string()
        ]
    );

    // Pages of two, by the `next` link.
    let mut seen = Vec::new();
    let mut path = "/v1/users/u-1/inbox?limit=2&archived=include".to_owned();
    loop {
        let (status, page) = send(&rig, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => {
                assert!(next.contains("archived=include"), "{next}");
                assert_eq!(page["more"], true);
                path = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    for (query, rule) in [
        ("?status=maybe", "status enum"),
        ("?archived=no", "archived enum"),
        ("?limit=0", "limit range"),
        ("?cursor=bm90LWEtY3Vyc29y", "cursor cursor"),
        ("?since=xyz", "since cursor"),
    ] {
        let (status, answer) =
            send(&rig, "GET", &format!("/v1/users/u-1/inbox{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            field_rules(&answer, "details").contains(&rule.to_owned()),
            "{query}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_delta_since_a_sync_point_has_the_new_items_and_the_changed_ones_once_each() {
    let rig = rig();
    let a = notify(&rig, KEY, "u-1", json!({"body": "a"})).await;
    let b = notify(&rig, KEY, "u-1", json!({"body": "b"})).await;
    // Past the overlap: what changed before the sync point (less its seconds of overlap) is
    // not in the delta.
    rig.clock.advance(std::time::Duration::from_secs(10));
    let first = feed(&rig, "u-1", "").await;
    let since = first["since"].as_str().unwrap().to_owned();
    let c = notify(&rig, KEY, "u-1", json!({"body": "c"})).await;
    mark(&rig, "u-1", &a, "seen").await;
    mark(&rig, "u-1", &a, "read").await;
    mark(&rig, "u-1", &c, "archive").await;
    rig.clock.advance(std::time::Duration::from_secs(10));
    let delta = feed(&rig, "u-1", &format!("?since={since}")).await;
    // In the order they last changed; `b` did not change.
    assert_eq!(ids(&delta), vec![a.to_string(), c.to_string()]);
    assert!(delta["items"][0]["readAt"].is_string());
    assert!(delta["items"][1]["archivedAt"].is_string());
    assert_eq!(delta["unreadCount"], 1, "only b is unread and not archived");
    assert_eq!(delta["more"], false);
    assert!(!ids(&delta).contains(&b.to_string()));
    // And from the delta's own sync point: nothing new.
    let next = delta["since"].as_str().unwrap();
    let empty = feed(&rig, "u-1", &format!("?since={next}")).await;
    assert_eq!(ids(&empty), Vec::<String>::new());
    // With a cursor it is refused; too old, it asks for a full fetch.
    let (status, answer) = send(
        &rig,
        "GET",
        &format!("/v1/users/u-1/inbox?since={next}&cursor={}", "aW5ib3g6eA"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    rig.clock
        .advance(std::time::Duration::from_secs(8 * 24 * 3600));
    let (status, answer) = send(
        &rig,
        "GET",
        &format!("/v1/users/u-1/inbox?since={next}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        field_rules(&answer, "details").contains(&"since expired".to_owned()),
        "{answer}"
    );
}

#[tokio::test]
async fn marks_move_the_counters_once_and_a_read_reads_the_notification() {
    let rig = rig();
    let id = notify(&rig, KEY, "u-1", json!({})).await;
    let seen = mark(&rig, "u-1", &id, "seen").await;
    assert_eq!(
        (seen["unreadCount"].as_i64(), seen["unseenCount"].as_i64()),
        (Some(1), Some(0))
    );
    let read = mark(&rig, "u-1", &id, "read").await;
    assert_eq!(read["unreadCount"], 0);
    assert!(read["item"]["readAt"].is_string());
    let again = mark(&rig, "u-1", &id, "read").await;
    assert_eq!(again["unreadCount"], 0, "a second read counts nothing");
    assert!(rig.store.record(&id).unwrap().read_at.is_some());
    let unread = mark(&rig, "u-1", &id, "unread").await;
    assert_eq!(
        (
            unread["unreadCount"].as_i64(),
            unread["unseenCount"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let archived = mark(&rig, "u-1", &id, "archive").await;
    assert_eq!(archived["unreadCount"], 0);
    let back = mark(&rig, "u-1", &id, "unarchive").await;
    assert_eq!(back["unreadCount"], 1);
    let (status, _) = send(
        &rig,
        "POST",
        &format!("/v1/users/u-1/inbox/{}/read", NotificationId::generate()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mark_all_marks_what_it_names_and_only_that() {
    let rig = rig();
    let mut ids_by_category = Vec::new();
    for i in 0..4 {
        let category = if i < 3 { "orders" } else { "social" };
        ids_by_category.push(notify(&rig, KEY, "u-1", json!({"category": category})).await);
    }
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/users/u-1/inbox/mark-all",
        Some(json!({"action": "read", "category": "orders"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["marked"], 3);
    assert_eq!(answer["unreadCount"], 1);
    assert_eq!(answer["more"], false);
    for id in &ids_by_category[..3] {
        assert!(rig.store.record(id).unwrap().read_at.is_some());
    }
    assert!(
        rig.store
            .record(&ids_by_category[3])
            .unwrap()
            .read_at
            .is_none()
    );
    let (_, answer) = send(
        &rig,
        "POST",
        "/v1/users/u-1/inbox/mark-all",
        Some(json!({"action": "archived"})),
    )
    .await;
    assert_eq!(answer["marked"], 4);
    assert_eq!(
        (
            answer["unreadCount"].as_i64(),
            answer["unseenCount"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(ids(&feed(&rig, "u-1", "").await).len(), 0);
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/users/u-1/inbox/mark-all",
        Some(json!({"action": "delete"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        vec!["action enum".to_owned()]
    );
}

#[tokio::test]
async fn the_first_fetch_makes_the_notification_delivered() {
    let rig = rig();
    let id = notify(&rig, KEY, "u-1", json!({})).await;
    assert_eq!(rig.store.record(&id).unwrap().status, Status::Sent);
    feed(&rig, "u-1", "").await;
    let n = rig.store.record(&id).unwrap();
    assert_eq!(n.status, Status::Delivered);
    let deliveries = n
        .history
        .iter()
        .filter(|h| h.status == Status::Delivered)
        .count();
    feed(&rig, "u-1", "").await;
    let again = rig.store.record(&id).unwrap();
    assert_eq!(
        again
            .history
            .iter()
            .filter(|h| h.status == Status::Delivered)
            .count(),
        deliveries,
        "fetched again: recorded once"
    );
}

#[tokio::test]
async fn users_and_tenants_see_only_their_own_inbox() {
    let rig = rig();
    let id = notify(&rig, KEY, "u-1", json!({})).await;
    notify(&rig, OTHER_KEY, "u-1", json!({})).await;
    assert_eq!(ids(&feed(&rig, "u-1", "").await), vec![id.to_string()]);
    assert_eq!(ids(&feed(&rig, "u-2", "").await), Vec::<String>::new());
    let (status, _) = send(
        &rig,
        "POST",
        &format!("/v1/users/u-2/inbox/{id}/read"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send_as(
        &rig,
        OTHER_KEY,
        "POST",
        &format!("/v1/users/u-1/inbox/{id}/read"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, other) = send_as(&rig, OTHER_KEY, "GET", "/v1/users/u-1/inbox", None).await;
    assert_eq!(other["items"].as_array().unwrap().len(), 1);
    assert_ne!(other["items"][0]["id"], id.as_str());
}

#[tokio::test]
async fn the_users_app_uses_a_user_token_for_its_own_inbox_only() {
    let rig = rig();
    let id = notify(&rig, KEY, "u-1", json!({})).await;
    let (_, created) = send(&rig, "POST", "/v1/user-token-secret", None).await;
    let secret: UserTokenSecret = serde_json::from_value(created["secret"].clone()).unwrap();
    let now = rig.clock.now().as_seconds();
    let token = |user: &str, secret: &UserTokenSecret, expires: i64| {
        UserToken {
            tenant: TenantId::new("acme"),
            user: UserId::parse(user).unwrap(),
            expires,
        }
        .sign(secret)
    };
    let get = async |t: &str, path: &str| {
        let (status, answer, _) = call(&rig, request("GET", path, Some(t), None)).await;
        (status, answer)
    };
    let good = token("u-1", &secret, now + 600);
    let (status, answer) = get(&good, "/v1/users/u-1/inbox").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ids(&answer), vec![id.to_string()]);
    let expired = token("u-1", &secret, now - 1);
    assert_eq!(
        get(&expired, "/v1/users/u-1/inbox").await.0,
        StatusCode::UNAUTHORIZED
    );
    let other_secret = UserTokenSecret::generate().unwrap();
    let forged = token("u-1", &other_secret, now + 600);
    assert_eq!(
        get(&forged, "/v1/users/u-1/inbox").await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = good.clone();
    tampered.insert(3, 'x');
    assert_eq!(
        get(&tampered, "/v1/users/u-1/inbox").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, answer) = get(&good, "/v1/users/u-2/inbox").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // A mark with the token, and nothing else of the tenant's API with it.
    let path = format!("/v1/users/u-1/inbox/{id}/read");
    let (status, answer, _) = call(&rig, request("POST", &path, Some(&good), None)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        get(&good, "/v1/users/u-1").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_user_tokens_requests_are_limited_per_user_not_from_the_tenants_budget() {
    let rig = rig();
    let (_, created) = send(&rig, "POST", "/v1/user-token-secret", None).await;
    let secret: UserTokenSecret = serde_json::from_value(created["secret"].clone()).unwrap();
    let expires = rig.clock.now().as_seconds() + 600;
    let token = |user: &str| {
        UserToken {
            tenant: TenantId::new("acme"),
            user: UserId::parse(user).unwrap(),
            expires,
        }
        .sign(&secret)
    };
    let (u1, u2) = (token("u-1"), token("u-2"));
    let limit = rig.app.config.user_requests_per_minute;
    for i in 0..limit {
        let (status, _, headers) =
            call(&rig, request("GET", "/v1/users/u-1/inbox", Some(&u1), None)).await;
        assert_eq!(status, StatusCode::OK, "request {i}");
        let state = headers["ratelimit"].to_str().unwrap().to_owned();
        assert!(
            state.starts_with(&format!("limit={limit}, remaining={}", limit - i - 1)),
            "{state}"
        );
    }
    let (status, answer, headers) =
        call(&rig, request("GET", "/v1/users/u-1/inbox", Some(&u1), None)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["code"], "rate_limited");
    assert!(answer["message"].as_str().unwrap().contains("this user"));
    assert!(headers.contains_key("retry-after"));
    // A read acknowledgement with the token is counted in the same window.
    let path = format!("/v1/notifications/{}/read", NotificationId::generate());
    let (status, _, _) = call(&rig, request("POST", &path, Some(&u1), None)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another user of the tenant, and the tenant's own key, are not held back.
    let (status, _, _) = call(&rig, request("GET", "/v1/users/u-2/inbox", Some(&u2), None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, headers) =
        call(&rig, request("GET", "/v1/users/u-1/inbox", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::OK);
    let tenant_limit = rig.app.config.default_limits.requests_per_minute;
    assert!(
        headers["ratelimit"].to_str().unwrap().starts_with(&format!(
            "limit={tenant_limit}, remaining={}",
            tenant_limit - 2
        )),
        "the user token secret's request and this one only"
    );
    // The next minute, the user's app goes on.
    rig.clock.advance(std::time::Duration::from_secs(60));
    let (status, _, _) = call(&rig, request("GET", "/v1/users/u-1/inbox", Some(&u1), None)).await;
    assert_eq!(status, StatusCode::OK);
}
