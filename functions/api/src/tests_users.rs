//! Recipients over in-memory ports: profiles (validation, merge patch, erasure, isolation),
//! preferences and tenant defaults, and what they do to a send to a `userId` (the profile's
//! address, `user.*` in templates, suppressed by preference, deferred by quiet hours,
//! capped). The DynamoDB adapter and the cap under real concurrency are in the `tests` crate.

use http::StatusCode;
use serde_json::{Value, json};

use crate::tests::{KEY, OTHER_KEY, Rig, call, field_rules, post, request, rig};

async fn send(
    rig: &Rig,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let (status, answer, _) = call(rig, request(method, path, Some(key), body.as_deref())).await;
    (status, answer)
}

async fn put_profile(rig: &Rig, user: &str, body: Value) -> (StatusCode, Value) {
    send(rig, "PUT", &format!("/v1/users/{user}"), KEY, Some(body)).await
}

fn jane() -> Value {
    json!({
        "email": "jane@example.com",
        "phone": "+33612345678",
        "name": "Jane",
        "locale": "fr",
        "timeZone": "Europe/Paris",
        "data": {"plan": "pro"}
    })
}

#[tokio::test]
async fn a_profile_is_created_read_replaced_and_patched() {
    let rig = rig();
    let (status, created) = put_profile(&rig, "u-1", jane()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["userId"], "u-1");
    assert_eq!(created["email"], "jane@example.com");
    assert_eq!(created["timeZone"], "Europe/Paris");

    let (status, read) = send(&rig, "GET", "/v1/users/u-1", KEY, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let (status, replaced) = put_profile(&rig, "u-1", json!({"email": "j2@example.com"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["email"], "j2@example.com");
    assert!(
        replaced.get("phone").is_none(),
        "a PUT replaces the whole profile"
    );
    assert_eq!(replaced["createdAt"], created["createdAt"]);

    let patch = json!({"phone": "+33612345678", "email": null, "data": {"tier": 2}});
    let (status, patched) = send(&rig, "PATCH", "/v1/users/u-1", KEY, Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["phone"], "+33612345678");
    assert!(patched.get("email").is_none(), "null removes");
    assert_eq!(patched["data"], json!({"tier": 2}));

    let (status, _) = send(
        &rig,
        "PATCH",
        "/v1/users/nobody",
        KEY,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = send(
        &rig,
        "PATCH",
        "/v1/users/u-1",
        KEY,
        Some(json!({"phone": "0612"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["phone phone"]);
}

#[tokio::test]
async fn every_bad_profile_field_is_named() {
    let rig = rig();
    let (status, answer) = put_profile(
        &rig,
        "u-1",
        json!({
            "email": "not-an-address",
            "phone": "0612345678",
            "locale": "french",
            "timeZone": "Mars/Olympus",
            "name": "a\nb",
            "data": [1],
            "nickname": "x"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut rules = field_rules(&answer, "details");
    rules.sort();
    assert_eq!(
        rules,
        [
            "data type",
            "email email",
            "locale locale",
            "name single_line",
            "nickname unknown_field",
            "phone phone",
            "timeZone time_zone"
        ]
    );
    let (status, answer) = put_profile(&rig, "bad%20id", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["userId pattern"]);
}

#[tokio::test]
async fn erasing_a_user_removes_profile_preferences_and_devices_and_no_other_tenant_sees_them() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/users/u-1/preferences",
        KEY,
        Some(json!({"channels": {"sms": false}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/users/u-1/devices/tok-1",
        KEY,
        Some(json!({"platform": "android"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _) = send(&rig, "GET", "/v1/users/u-1", OTHER_KEY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's user");
    let (status, _) = send(&rig, "DELETE", "/v1/users/u-1", OTHER_KEY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = send(&rig, "DELETE", "/v1/users/u-1", KEY, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&rig, "GET", "/v1/users/u-1", KEY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, prefs) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(prefs["channels"], json!({}), "{prefs}");
    let (_, devices) = send(&rig, "GET", "/v1/users/u-1/devices", KEY, None).await;
    assert_eq!(devices["devices"], json!([]), "{devices}");
    let (status, _) = send(&rig, "DELETE", "/v1/users/u-1", KEY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to erase");
}

#[tokio::test]
async fn preferences_and_defaults_are_checked_and_read_back() {
    let rig = rig();
    let prefs = json!({
        "channels": {"email": false},
        "categories": {"marketing": false, "billing": {"sms": false}},
        "quietHours": {"start": "22:00", "end": "07:30", "days": ["fri", "sat"]}
    });
    let (status, saved) = send(
        &rig,
        "PUT",
        "/v1/users/u-1/preferences",
        KEY,
        Some(prefs.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(read, saved);
    assert_eq!(read["categories"], prefs["categories"]);
    assert_eq!(read["quietHours"], prefs["quietHours"]);
    assert_eq!(read["userId"], "u-1");

    let (status, answer) = send(
        &rig,
        "PUT",
        "/v1/users/u-1/preferences",
        KEY,
        Some(json!({
            "channels": {"fax": false, "sms": "no"},
            "categories": {"bad name": false, "news": 1, "billing": {"pigeon": false}},
            "quietHours": {"start": "25:00", "end": "07:00", "days": ["someday"]}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut rules = field_rules(&answer, "details");
    rules.sort();
    assert_eq!(
        rules,
        [
            "categories.bad name pattern",
            "categories.billing.pigeon enum",
            "categories.news type",
            "channels.fax enum",
            "channels.sms type",
            "quietHours.days[0] enum",
            "quietHours.start time"
        ]
    );

    let defaults = json!({
        "channels": {"sms": false},
        "categories": {"marketing": false},
        "required": ["security"],
        "timeZone": "America/New_York",
        "quietHoursExempt": {"reminders": true},
        "frequencyCaps": {"marketing": {"limit": 3, "windowHours": 24}}
    });
    let (status, saved) = send(
        &rig,
        "PUT",
        "/v1/preferences/defaults",
        KEY,
        Some(defaults.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = send(&rig, "GET", "/v1/preferences/defaults", KEY, None).await;
    assert_eq!(read, saved);
    assert_eq!(read["frequencyCaps"], defaults["frequencyCaps"]);
    let (_, others) = send(&rig, "GET", "/v1/preferences/defaults", OTHER_KEY, None).await;
    assert_eq!(
        others["required"],
        json!([]),
        "defaults are the tenant's own"
    );
    let (_, read) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(read["required"], json!(["security"]));

    let (status, answer) = send(
        &rig,
        "PUT",
        "/v1/preferences/defaults",
        KEY,
        Some(json!({
            "required": ["ok", 5],
            "frequencyCaps": {"marketing": {"limit": 0}, "news": {"limit": 2, "windowHours": 2000}},
            "quietHoursExempt": {"x": "yes"},
            "timeZone": "Nowhere"
        })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut rules = field_rules(&answer, "details");
    rules.sort();
    assert_eq!(
        rules,
        [
            "frequencyCaps.marketing.limit range",
            "frequencyCaps.marketing.windowHours required",
            "frequencyCaps.news.windowHours range",
            "quietHoursExempt.x type",
            "required[1] type",
            "timeZone time_zone"
        ]
    );
}

fn to_user(channel: &str, user: &str) -> Value {
    let mut body = json!({"channel": channel, "userId": user});
    match channel {
        "email" => {
            body["subject"] = json!("Hello");
            body["text"] = json!("Hi");
        }
        "sms" => body["message"] = json!("Hi"),
        _ => body["title"] = json!("Hi"),
    }
    body
}

#[tokio::test]
async fn a_send_to_a_user_goes_to_the_address_in_their_profile() {
    let rig = rig();
    put_profile(&rig, "u-1", json!({"email": "jane@example.com"})).await;
    let (status, answer, _) = post(&rig, &to_user("email", "u-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["userId"], "u-1");
    let id = answer["id"].as_str().unwrap();
    let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{id}"), KEY, None).await;
    assert_eq!(view["to"], "jane@example.com");
    assert_eq!(view["userId"], "u-1");

    let (status, answer, _) = post(&rig, &to_user("sms", "u-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["userId no_address"]);
    let (status, answer, _) = post(&rig, &to_user("email", "stranger")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["userId no_profile"]);
    let mut both = to_user("email", "u-1");
    both["to"] = json!("x@example.com");
    let (status, answer, _) = post(&rig, &both).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["userId exclusive"]);
    assert_eq!(
        rig.queue.messages().len(),
        1,
        "only the valid send was queued"
    );

    let batch = json!({
        "channel": "email", "subject": "s", "text": "t",
        "recipients": [{"to": "a@example.com"}, {"userId": "u-1"}]
    });
    let (status, answer) = send(&rig, "POST", "/v1/notifications/batch", KEY, Some(batch)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        field_rules(&answer, "errors"),
        ["recipients[1].userId single_send_only"]
    );
}

#[tokio::test]
async fn templates_see_the_profile_as_user_and_render_in_its_locale() {
    let rig = rig();
    let template = json!({"defaultLocale": "en", "locales": {
        "en": {"sms": {"message": "Hello {{user.name}} ({{user.data.plan}})"}},
        "fr": {"sms": {"message": "Bonjour {{user.name}} ({{user.data.plan}})"}}
    }});
    let (status, answer) = send(&rig, "PUT", "/v1/templates/greet", KEY, Some(template)).await;
    assert!(status.is_success(), "{answer}");
    put_profile(&rig, "u-1", jane()).await;
    let (status, answer, _) = post(
        &rig,
        &json!({"channel": "sms", "userId": "u-1", "template": "greet"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let queued = rig.queue.messages();
    let n = rig.store.record(&queued[0].0.id).unwrap();
    let notify_shared::domain::Content::Sms(sms) = &n.content else {
        panic!("{:?}", n.content)
    };
    assert_eq!(sms.message, "Bonjour Jane (pro)");
    assert_eq!(n.template.as_ref().unwrap().locale, "fr");
}

async fn put_prefs(rig: &Rig, user: &str, prefs: Value) {
    let (status, answer) = send(
        rig,
        "PUT",
        &format!("/v1/users/{user}/preferences"),
        KEY,
        Some(prefs),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn put_defaults(rig: &Rig, defaults: Value) {
    let (status, answer) = send(rig, "PUT", "/v1/preferences/defaults", KEY, Some(defaults)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_declined_send_is_recorded_suppressed_and_never_queued() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    put_prefs(
        &rig,
        "u-1",
        json!({"channels": {"email": false}, "categories": {"billing": {"sms": false}, "security": false}}),
    )
    .await;
    put_defaults(&rig, json!({"required": ["security"]})).await;

    let (status, answer, _) = post(&rig, &to_user("email", "u-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "suppressed");
    assert_eq!(answer["error"]["code"], "preference");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    let id = answer["id"].as_str().unwrap();
    let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{id}"), KEY, None).await;
    assert_eq!(view["history"][0]["status"], "suppressed");
    assert_eq!(view["history"][0]["reason"], "preference");

    let mut billing = to_user("sms", "u-1");
    billing["category"] = json!("billing");
    let (_, answer, _) = post(&rig, &billing).await;
    assert_eq!(answer["status"], "suppressed", "the pair");
    let mut push = to_user("push", "u-1");
    push["category"] = json!("billing");
    let (_, answer, _) = post(&rig, &push).await;
    assert_eq!(answer["status"], "queued", "billing by push is on");
    let mut security = to_user("email", "u-1");
    security["category"] = json!("security");
    let (_, answer, _) = post(&rig, &security).await;
    assert_eq!(answer["status"], "queued", "a required category goes");
    assert_eq!(rig.queue.messages().len(), 2);
}

#[tokio::test]
async fn a_send_inside_quiet_hours_waits_until_they_end_unless_it_is_urgent() {
    let rig = rig();
    // The rig's clock: 2027-01-15T08:00:00Z, 09:00 in Paris.
    put_profile(&rig, "u-1", jane()).await;
    put_prefs(
        &rig,
        "u-1",
        json!({"quietHours": {"start": "21:00", "end": "09:10"}}),
    )
    .await;
    let (status, answer, _) = post(&rig, &to_user("sms", "u-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["status"], "queued",
        "a 10-minute wait fits a queue delay"
    );
    assert_eq!(answer["scheduledAt"], "2027-01-15T08:10:00.000Z");
    let id = answer["id"].as_str().unwrap();
    let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{id}"), KEY, None).await;
    assert!(
        view["history"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("quiet_hours"),
        "{view}"
    );
    let delay = rig.queue.messages()[0].1;
    assert_eq!(delay.as_secs(), 10 * 60);

    let mut urgent = to_user("sms", "u-1");
    urgent["priority"] = json!("high");
    let (_, answer, _) = post(&rig, &urgent).await;
    assert_eq!(answer["status"], "queued");
    assert!(answer.get("scheduledAt").is_none(), "{answer}");

    // Tenant quiet hours in its own zone apply to a user without any; a long wait is
    // `scheduled` for the sweep.
    put_profile(&rig, "u-2", json!({"phone": "+33612345679"})).await;
    put_defaults(
        &rig,
        json!({"timeZone": "America/New_York", "quietHours": {"start": "20:00", "end": "08:00"}}),
    )
    .await;
    let (_, answer, _) = post(&rig, &to_user("sms", "u-2")).await;
    assert_eq!(answer["status"], "scheduled", "{answer}");
    // 03:00 in New York: quiet until 08:00 EST, 13:00Z.
    assert_eq!(answer["scheduledAt"], "2027-01-15T13:00:00.000Z");
}

#[tokio::test]
async fn fifty_concurrent_sends_over_a_cap_of_three_send_exactly_three() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    put_defaults(
        &rig,
        json!({"frequencyCaps": {"marketing": {"limit": 3, "windowHours": 24}}}),
    )
    .await;
    let mut body = to_user("push", "u-1");
    body["category"] = json!("marketing");
    let answers = futures::future::join_all((0..50).map(|_| post(&rig, &body))).await;
    let statuses: Vec<&str> = answers
        .iter()
        .map(|(_, a, _)| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "queued").count(), 3);
    let capped: Vec<&Value> = answers
        .iter()
        .map(|(_, a, _)| a)
        .filter(|a| a["status"] == "suppressed")
        .collect();
    assert_eq!(capped.len(), 47);
    assert_eq!(capped[0]["error"]["code"], "frequency_cap");
    assert_eq!(rig.queue.messages().len(), 3);

    // Other categories and other users are not counted.
    let mut news = body.clone();
    news["category"] = json!("news");
    assert_eq!(post(&rig, &news).await.1["status"], "queued");
    rig.clock.advance(std::time::Duration::from_secs(24 * 3600));
    assert_eq!(
        post(&rig, &body).await.1["status"],
        "queued",
        "the window moved on"
    );
}

/// A send with the `Host` API Gateway passes, so the API knows its public origin.
async fn post_via(rig: &Rig, host: &str, body: &Value) -> Value {
    let mut req = request(
        "POST",
        "/v1/notifications",
        Some(KEY),
        Some(&body.to_string()),
    );
    req.headers_mut().insert("host", host.parse().unwrap());
    let (status, answer, _) = call(rig, req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer
}

fn unsubscribe_url(rig: &Rig, answer: &Value) -> Option<String> {
    let id = notify_shared::domain::NotificationId::parse(answer["id"].as_str()?)?;
    match rig.store.record(&id)?.content {
        notify_shared::domain::Content::Email(e) => e.unsubscribe_url,
        notify_shared::domain::Content::Sms(_)
        | notify_shared::domain::Content::Push(_)
        | notify_shared::domain::Content::Webhook(_)
        | notify_shared::domain::Content::InApp(_)
        | notify_shared::domain::Content::Chat(_) => None,
    }
}

async fn unsubscribe(rig: &Rig, method: &str, path: &str, accept: &str) -> (StatusCode, String) {
    let mut req = request(method, path, None, Some("List-Unsubscribe=One-Click"));
    req.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    req.headers_mut().insert("accept", accept.parse().unwrap());
    let resp = rig.app.handle(req).await;
    let body = String::from_utf8(resp.body().as_ref().to_vec()).unwrap();
    (resp.status(), body)
}

#[tokio::test]
async fn an_email_in_a_category_carries_a_one_click_link_that_opts_the_user_out() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    put_defaults(&rig, json!({"required": ["security"]})).await;
    let mut news = to_user("email", "u-1");
    news["category"] = json!("news");
    let answer = post_via(&rig, "api.example.com", &news).await;
    let url = unsubscribe_url(&rig, &answer).expect("a link");
    let path = url
        .strip_prefix("https://api.example.com")
        .expect("on the API's own origin");
    assert!(path.starts_with("/v1/unsubscribe/"), "{url}");

    let mut security = to_user("email", "u-1");
    security["category"] = json!("security");
    let answer = post_via(&rig, "api.example.com", &security).await;
    assert_eq!(unsubscribe_url(&rig, &answer), None, "a required category");
    let answer = post_via(&rig, "api.example.com", &to_user("email", "u-1")).await;
    assert_eq!(unsubscribe_url(&rig, &answer), None, "no category");

    // The page does not unsubscribe; the POST does, and again is harmless.
    let (status, page) = unsubscribe(&rig, "GET", path, "text/html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("news") && page.contains("method=\"post\""),
        "{page}"
    );
    let (_, prefs) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(prefs["categories"], json!({}));
    for _ in 0..2 {
        let (status, body) = unsubscribe(&rig, "POST", path, "*/*").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["unsubscribed"], true);
    }
    let (_, prefs) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(prefs["categories"], json!({"news": {"email": false}}));
    let answer = post_via(&rig, "api.example.com", &news).await;
    assert_eq!(answer["status"], "suppressed");
    assert_eq!(answer["error"]["code"], "preference");
    let (status, page) = unsubscribe(&rig, "POST", path, "text/html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("no longer receive"), "{page}");
}

#[tokio::test]
async fn an_unsubscribe_link_that_expired_was_altered_or_names_another_tenant_is_refused() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    let mut news = to_user("email", "u-1");
    news["category"] = json!("news");
    let answer = post_via(&rig, "api.example.com", &news).await;
    let url = unsubscribe_url(&rig, &answer).unwrap();
    let path = url
        .strip_prefix("https://api.example.com")
        .unwrap()
        .to_owned();
    let token = path.strip_prefix("/v1/unsubscribe/").unwrap();
    let (payload, tag) = token.split_once('.').unwrap();

    // Another tenant's link, signed with its own key: valid for it, not for acme's.
    let mut req = request("POST", "/v1/notifications", Some(OTHER_KEY), Some(&json!({
        "channel": "email", "to": "x@example.com", "category": "news", "subject": "s", "text": "t"
    }).to_string()));
    req.headers_mut()
        .insert("host", "api.example.com".parse().unwrap());
    let (_, other, _) = call(&rig, req).await;
    let other_url = unsubscribe_url(&rig, &other).unwrap();
    let other_token = other_url.rsplit('/').next().unwrap();
    let (_, other_tag) = other_token.split_once('.').unwrap();

    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    claims["c"] = json!("billing");
    let altered = format!("{}.{tag}", b64.encode(claims.to_string()));
    let mut moved: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    moved["t"] = json!("globex");
    let moved = format!("{}.{other_tag}", b64.encode(moved.to_string()));

    for bad in [
        altered,
        moved,
        "garbage".to_owned(),
        format!("{payload}.{other_tag}"),
    ] {
        let (status, body) =
            unsubscribe(&rig, "POST", &format!("/v1/unsubscribe/{bad}"), "*/*").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.contains("invalid_link"), "{body}");
    }
    let (_, prefs) = send(&rig, "GET", "/v1/users/u-1/preferences", KEY, None).await;
    assert_eq!(prefs["categories"], json!({}), "nothing changed");

    rig.clock
        .advance(notify_shared::unsubscribe::TOKEN_LIFETIME);
    let (status, body) = unsubscribe(&rig, "POST", &path, "*/*").await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("link_expired"), "{body}");
    let (status, page) = unsubscribe(&rig, "GET", &path, "text/html").await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
}

#[tokio::test]
async fn erasing_a_user_masks_the_records_sent_to_them_and_cancels_what_has_not_gone() {
    let rig = rig();
    put_profile(&rig, "u-1", jane()).await;
    let (_, sent, _) = post(&rig, &to_user("email", "u-1")).await;
    let mut later = to_user("sms", "u-1");
    later["scheduledAt"] = json!("2027-02-01T00:00:00Z");
    let (_, scheduled, _) = post(&rig, &later).await;
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    let mut other = crate::tests::email();
    other["to"] = json!("someone@example.com");
    let (_, unrelated, _) = post(&rig, &other).await;

    let (status, _) = send(&rig, "DELETE", "/v1/users/u-1", KEY, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (answer, status) in [(&sent, "cancelled"), (&scheduled, "cancelled")] {
        let id = answer["id"].as_str().unwrap();
        let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{id}"), KEY, None).await;
        assert_eq!(view["status"], status, "{view}");
        let to = view["to"].as_str().unwrap();
        assert!(
            !to.contains("jane@") && !to.contains("12345678"),
            "masked: {to}"
        );
        assert!(view.get("userId").is_none(), "{view}");
        assert_eq!(view["history"][1]["reason"], "the user was erased");
    }
    let (_, listed) = send(
        &rig,
        "GET",
        "/v1/notifications?recipient=jane@example.com",
        KEY,
        None,
    )
    .await;
    assert_eq!(
        listed["notifications"],
        json!([]),
        "no longer found by the address"
    );
    let id = unrelated["id"].as_str().unwrap();
    let (_, view) = send(&rig, "GET", &format!("/v1/notifications/{id}"), KEY, None).await;
    assert_eq!(
        view["to"], "someone@example.com",
        "another recipient's record is untouched"
    );
}

#[tokio::test]
async fn an_address_unsubscribed_from_a_send_without_a_user_is_read_and_resubscribed() {
    let rig = rig();
    let news = json!({"channel": "email", "to": "Ann@Example.com", "category": "news", "subject": "s", "text": "t"});
    let answer = post_via(&rig, "api.example.com", &news).await;
    let url = unsubscribe_url(&rig, &answer).unwrap();
    let path = url
        .strip_prefix("https://api.example.com")
        .unwrap()
        .to_owned();
    assert_eq!(
        unsubscribe(&rig, "POST", &path, "*/*").await.0,
        StatusCode::OK
    );

    let (status, read) = send(
        &rig,
        "GET",
        "/v1/preferences/addresses/ann%40example.com",
        KEY,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["address"], "ann@example.com");
    assert_eq!(read["categories"], json!({"news": {"email": false}}));
    let (_, other) = send(
        &rig,
        "GET",
        "/v1/preferences/addresses/ann%40example.com",
        OTHER_KEY,
        None,
    )
    .await;
    assert_eq!(other["categories"], json!({}), "another tenant's");

    let (status, _) = send(
        &rig,
        "PUT",
        "/v1/preferences/addresses/ANN%40example.com",
        KEY,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, read) = send(
        &rig,
        "GET",
        "/v1/preferences/addresses/ann%40example.com",
        KEY,
        None,
    )
    .await;
    assert_eq!(
        read["categories"],
        json!({}),
        "resubscribed, whatever the case of the address"
    );

    let (status, answer) = send(
        &rig,
        "GET",
        "/v1/preferences/addresses/not-an-address",
        KEY,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_rules(&answer, "details"), ["address email"]);
}
