//! Routed sends over in-memory ports: which steps start, wait, are held or skipped (and why),
//! a held step released when the one before fails (the changes function's `advance`, called
//! here directly), escalation dropped by a read, cancel, idempotent retry, and the
//! request's errors. The whole chain through the workers is in the `tests` crate.

use http::StatusCode;
use notify_shared::{
    domain::{NotificationId, Status, schedule::DueKind},
    routing,
    store::{NotificationStore, Transition},
};
use serde_json::{Value, json};

use crate::tests::{KEY, Rig, call, field_rules, request, rig};

async fn send(rig: &Rig, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) = call(rig, request(method, path, Some(KEY), body.as_deref())).await;
    (status, answer)
}

async fn user(rig: &Rig, id: &str, profile: Value, device: bool) {
    let (status, _) = send(rig, "PUT", &format!("/v1/users/{id}"), Some(profile)).await;
    assert!(status.is_success());
    if device {
        let (status, _) = send(
            rig,
            "PUT",
            &format!("/v1/users/{id}/devices/tok-{id}"),
            Some(json!({"platform": "ios"})),
        )
        .await;
        assert!(status.is_success());
    }
}

fn routed(user: &str, method: &str, channels: Value) -> Value {
    json!({
        "userId": user,
        "routing": {"method": method, "channels": channels},
        "category": "alerts",
        "content": {
            "push": {"title": "Server down", "body": "db-1 is down"},
            "sms": {"message": "db-1 is down"},
            "email": {"subject": "Server down", "text": "db-1 is down"}
        }
    })
}

fn step(route: &Value, i: usize) -> &Value {
    &route["steps"][i]
}

fn child(rig: &Rig, route: &Value, i: usize) -> notify_shared::domain::Notification {
    let id = NotificationId::parse(step(route, i)["notificationId"].as_str().unwrap()).unwrap();
    rig.store.record(&id).unwrap()
}

#[tokio::test]
async fn first_skips_a_user_without_a_device_and_holds_the_fallback() {
    let rig = rig();
    user(
        &rig,
        "u-1",
        json!({"phone": "+33612345678", "email": "jane@example.com"}),
        false,
    )
    .await;
    let (status, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-1", "first", json!(["push", "sms", "email"]))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{route}");
    assert_eq!(route["status"], "pending");
    assert_eq!(route["routing"]["method"], "first");
    assert_eq!(step(&route, 0)["status"], "skipped");
    assert!(
        step(&route, 0)["reason"]
            .as_str()
            .unwrap()
            .starts_with("no_device")
    );
    assert_eq!(step(&route, 1)["status"], "queued");
    assert_eq!(
        step(&route, 2)["status"],
        "scheduled",
        "held behind the SMS"
    );
    assert!(
        step(&route, 2)["reason"]
            .as_str()
            .unwrap()
            .starts_with("held"),
        "{route}"
    );
    let queued = rig.queue.messages();
    assert_eq!(queued.len(), 1, "only the SMS goes now");
    assert_eq!(queued[0].0.id, child(&rig, &route, 1).id);

    // The parent reads back at its own id, and a child names its route.
    let id = route["id"].as_str().unwrap();
    let (_, read) = send(&rig, "GET", &format!("/v1/notifications/{id}"), None).await;
    assert_eq!(read, route);
    let sms = child(&rig, &route, 1);
    let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{}", sms.id), None).await;
    assert_eq!(view["route"], json!({"id": id, "step": 1}));
    assert_eq!(view["to"], "+33612345678");

    // The SMS fails for good: the changes function releases the held email (due now, for
    // the sweep); a second report of the same failure changes nothing.
    let now = notify_shared::clock::Clock::now(&rig.clock);
    let failed = Transition::expired("gone".into(), now);
    rig.store.transition(&sms.id, &failed).await.unwrap();
    let link = sms.route.clone().unwrap();
    let a = routing::advance(
        rig.store.as_ref(),
        &link,
        Some(Status::Queued),
        Status::Expired,
        now,
    )
    .await
    .unwrap();
    assert_eq!(a.released, 1);
    let email = child(&rig, &route, 2);
    assert_eq!(
        email.due.map(|d| (d.kind, d.at)),
        Some((DueKind::Release, now))
    );
    let again = routing::advance(
        rig.store.as_ref(),
        &link,
        Some(Status::Queued),
        Status::Expired,
        now,
    )
    .await
    .unwrap();
    assert_eq!(again.released, 0);
}

#[tokio::test]
async fn a_sent_step_cancels_its_held_fallbacks_and_an_opted_out_channel_is_skipped() {
    let rig = rig();
    user(
        &rig,
        "u-2",
        json!({"phone": "+33612345678", "email": "jane@example.com"}),
        true,
    )
    .await;
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/users/u-2/preferences",
        Some(json!({"categories": {"alerts": {"sms": false}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-2", "first", json!(["push", "sms", "email"]))),
    )
    .await;
    assert_eq!(step(&route, 0)["status"], "queued");
    assert_eq!(step(&route, 1)["status"], "skipped");
    assert!(
        step(&route, 1)["reason"]
            .as_str()
            .unwrap()
            .starts_with("preference")
    );
    assert_eq!(step(&route, 2)["status"], "scheduled");

    let push = child(&rig, &route, 0);
    let now = notify_shared::clock::Clock::now(&rig.clock);
    let link = push.route.clone().unwrap();
    assert_eq!(
        link.on_failure,
        Some(child(&rig, &route, 2).id),
        "the skipped SMS is passed over"
    );
    let a = routing::advance(
        rig.store.as_ref(),
        &link,
        Some(Status::Sending),
        Status::Sent,
        now,
    )
    .await
    .unwrap();
    assert_eq!(a.cancelled, 1);
    assert_eq!(child(&rig, &route, 2).status, Status::Cancelled);
}

#[tokio::test]
async fn all_sends_on_every_channel_the_user_has() {
    let rig = rig();
    user(&rig, "u-3", json!({"email": "jane@example.com"}), true).await;
    let (status, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-3", "all", json!(["push", "sms", "email"]))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{route}");
    assert_eq!(step(&route, 0)["status"], "queued");
    assert_eq!(step(&route, 1)["status"], "skipped");
    assert!(
        step(&route, 1)["reason"]
            .as_str()
            .unwrap()
            .starts_with("no_address")
    );
    assert_eq!(step(&route, 2)["status"], "queued");
    assert_eq!(rig.queue.messages().len(), 2);
}

#[tokio::test]
async fn an_escalation_waits_and_is_dropped_once_the_earlier_step_is_read() {
    let rig = rig();
    user(&rig, "u-4", json!({"phone": "+33612345678"}), true).await;
    let channels = json!(["push", {"channel": "sms", "after": "PT5M", "unless": "read"}]);
    let (_, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-4", "first", channels.clone())),
    )
    .await;
    assert_eq!(step(&route, 1)["status"], "queued", "{route}");
    assert_eq!(step(&route, 1)["afterSeconds"], 300);
    let delays: Vec<u64> = rig
        .queue
        .messages()
        .iter()
        .map(|(_, d)| d.as_secs())
        .collect();
    assert_eq!(delays, [0, 300], "the SMS waits five minutes in its queue");

    // Read in time: the SMS is dropped (its message, when it comes, finds it cancelled).
    let push = child(&rig, &route, 0);
    let (status, answer) = send(
        &rig,
        "POST",
        &format!("/v1/notifications/{}/read", push.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["escalationsCancelled"], 1);
    assert_eq!(child(&rig, &route, 1).status, Status::Cancelled);
    assert!(child(&rig, &route, 0).read_at.is_some());
    let id = route["id"].as_str().unwrap();
    let (_, parent) = send(&rig, "GET", &format!("/v1/notifications/{id}"), None).await;
    assert!(parent["readAt"].is_string(), "{parent}");

    // Not read: the SMS stays on its way.
    let (_, other) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-4", "first", channels)),
    )
    .await;
    assert_eq!(child(&rig, &other, 1).status, Status::Queued);
    assert!(child(&rig, &other, 1).scheduled_at.is_some());
}

#[tokio::test]
async fn a_route_is_cancelled_whole_and_a_retry_with_its_key_is_the_same_route() {
    let rig = rig();
    user(&rig, "u-5", json!({"email": "jane@example.com"}), true).await;
    let body = routed("u-5", "first", json!(["push", "email"])).to_string();
    let keyed = || {
        let mut r = request("POST", "/v1/notifications", Some(KEY), Some(&body));
        r.headers_mut()
            .insert("idempotency-key", "route-1".parse().unwrap());
        r
    };
    let (status, first, _) = call(&rig, keyed()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (_, again, _) = call(&rig, keyed()).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(rig.queue.messages().len(), 1, "the push, once");

    let id = first["id"].as_str().unwrap();
    let (status, cancelled) = send(
        &rig,
        "POST",
        &format!("/v1/notifications/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(step(&cancelled, 0)["status"], "cancelled");
    assert_eq!(step(&cancelled, 1)["status"], "cancelled");
    let (status, _) = send(
        &rig,
        "POST",
        &format!("/v1/notifications/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left");
}

#[tokio::test]
async fn every_bad_part_of_a_routed_request_is_named() {
    let rig = rig();
    user(&rig, "u-6", json!({"email": "jane@example.com"}), true).await;
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(json!({
            "userId": "u-6",
            "to": "x@example.com",
            "routing": {"method": "some", "channels": [
                {"channel": "push", "after": "PT1M"},
                "fax",
                "webhook",
                {"channel": "sms", "unless": "read"},
                {"channel": "email", "after": "5 minutes"}
            ]},
            "content": {"push": {"title": "t"}, "email": {"subject": "s"}, "slack": {}}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut rules = field_rules(&answer, "details");
    rules.sort();
    assert_eq!(
        rules,
        [
            "content.slack enum",
            "routing.channels[0].after first_step",
            "routing.channels[1] enum",
            "routing.channels[2] channel",
            "routing.channels[3].unless needs_after",
            "routing.channels[4].after duration",
            "routing.method enum",
            "to exclusive"
        ]
    );
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(json!({
            "userId": "u-6",
            "routing": {"method": "all", "channels": ["push", "email"]},
            "content": {"push": {"title": "t"}, "email": {"subject": "s"}}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        ["content.email.text required"]
    );
}

#[tokio::test]
async fn an_app_acknowledges_a_read_with_a_user_token_its_backend_signed() {
    use notify_shared::{
        domain::{TenantId, UserId},
        user_token::{UserToken, UserTokenSecret},
    };
    let rig = rig();
    user(&rig, "u-7", json!({"phone": "+33612345678"}), true).await;
    let channels = json!(["push", {"channel": "sms", "after": "PT10M", "unless": "read"}]);
    let (_, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(routed("u-7", "first", channels)),
    )
    .await;
    let push = child(&rig, &route, 0);
    let path = format!("/v1/notifications/{}/read", push.id);
    let now = notify_shared::clock::Clock::now(&rig.clock).as_seconds();
    let token = |user: &str, secret: &UserTokenSecret, expires: i64| {
        UserToken {
            tenant: TenantId::new("acme"),
            user: UserId::parse(user).unwrap(),
            expires,
        }
        .sign(secret)
    };
    let read_with = |t: String| {
        let path = path.clone();
        let rig = &rig;
        async move {
            let (status, answer, _) = call(rig, request("POST", &path, Some(&t), None)).await;
            (status, answer)
        }
    };

    // No secret yet: nothing verifies.
    let unknown = UserTokenSecret::generate().unwrap();
    assert_eq!(
        read_with(token("u-7", &unknown, now + 60)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (status, created) = send(&rig, "POST", "/v1/user-token-secret", None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret: UserTokenSecret = serde_json::from_value(created["secret"].clone()).unwrap();
    assert!(secret.expose().starts_with("uts_"));

    assert_eq!(
        read_with(token("u-7", &secret, now - 1)).await.0,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    assert_eq!(
        read_with(token("u-7", &unknown, now + 60)).await.0,
        StatusCode::UNAUTHORIZED,
        "another secret"
    );
    assert_eq!(
        read_with(token("u-8", &secret, now + 60)).await.0,
        StatusCode::NOT_FOUND,
        "another user's"
    );
    assert_eq!(child(&rig, &route, 1).status, Status::Queued);
    let (status, answer) = read_with(token("u-7", &secret, now + 3600)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["escalationsCancelled"], 1);
    assert_eq!(child(&rig, &route, 1).status, Status::Cancelled);
}

#[tokio::test]
async fn a_route_counts_once_against_a_frequency_cap_and_over_it_no_step_goes() {
    let rig = rig();
    user(&rig, "u-9", json!({"email": "jane@example.com"}), true).await;
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/preferences/defaults",
        Some(json!({"frequencyCaps": {"alerts": {"limit": 1, "windowHours": 1}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = routed("u-9", "first", json!(["push", "email"]));
    let (_, first) = send(&rig, "POST", "/v1/notifications", Some(body.clone())).await;
    assert_eq!(first["status"], "pending", "{first}");
    let (_, second) = send(&rig, "POST", "/v1/notifications", Some(body)).await;
    assert_eq!(second["status"], "failed", "{second}");
    for i in 0..2 {
        assert_eq!(step(&second, i)["status"], "suppressed");
        assert!(
            step(&second, i)["reason"]
                .as_str()
                .unwrap()
                .starts_with("frequency_cap")
        );
    }
    assert_eq!(rig.queue.messages().len(), 1, "the first route's push only");
}

#[tokio::test]
async fn an_in_app_step_goes_to_the_inbox_and_its_errors_are_named_under_its_content() {
    let rig = rig();
    user(&rig, "u-20", json!({"phone": "+33612345678"}), false).await;
    let body = |in_app: Value| {
        json!({
            "userId": "u-20",
            "routing": {"method": "first", "channels": ["in_app", {"channel": "sms", "after": "PT5M", "unless": "read"}]},
            "content": {"in_app": in_app, "sms": {"message": "db-1 is down"}}
        })
    };
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(body(json!({"title": "t"}))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        field_rules(&answer, "details").contains(&"content.in_app.body required".to_owned()),
        "{answer}"
    );
    let (status, route) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(body(json!({"title": "db-1", "body": "db-1 is down"}))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{route}");
    assert_eq!(step(&route, 0)["channel"], "in_app");
    assert_eq!(step(&route, 0)["status"], "queued");
    assert_eq!(
        child(&rig, &route, 0).channel,
        notify_shared::domain::Channel::InApp
    );
    let (status, answer) = send(
        &rig,
        "POST",
        "/v1/notifications",
        Some(
            json!({"userId": "u-20", "routing": {"method": "all", "channels": ["chat"]},
            "content": {"chat": {"text": "x"}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let rules = field_rules(&answer, "details");
    assert!(
        rules.contains(&"routing.channels[0] channel".to_owned()),
        "{answer}"
    );
    assert!(rules.contains(&"content.chat enum".to_owned()), "{answer}");
}
