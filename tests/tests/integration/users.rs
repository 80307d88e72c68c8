//! Recipients against the emulator through the production adapters: a profile, preferences
//! and devices in DynamoDB and their erasure, a frequency cap under fifty concurrent sends
//! (DynamoDB's conditional writes are what hold it), and an email to a `userId` sent to the
//! profile's address, or suppressed by preferences that changed after it was accepted.

use std::time::Duration;

use http::StatusCode;
use notify_tests::{TestStack, statuses, unique_recipient};
use serde_json::{Value, json};

async fn call(t: &TestStack, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let body = (!body.is_null()).then(|| body.to_string());
    t.call(method, path, body.as_deref()).await
}

fn user() -> String {
    format!("u-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_profile_preferences_and_devices_are_kept_in_dynamodb_and_erased_together() {
    let t = TestStack::new().await;
    let u = user();
    let (status, profile) = call(
        &t,
        "PUT",
        &format!("/v1/users/{u}"),
        json!({"email": "jane@example.com", "timeZone": "Europe/Paris",
               "data": {"plan": "pro", "tiny": -2.1560064612912914e-136, "big": 1e300, "list": [1, [], {}], "": "empty key"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{profile}");
    // Any JSON in `data`, numbers beyond DynamoDB's range included, reads back as it was.
    let (_, read) = call(&t, "GET", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(read["data"], profile["data"], "{read}");
    assert_eq!(read["data"]["tiny"], json!(-2.1560064612912914e-136));
    let (status, patched) = call(
        &t,
        "PATCH",
        &format!("/v1/users/{u}"),
        json!({"name": "Jane", "data": {"plan": null}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, read) = call(&t, "GET", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(read, patched);
    assert_eq!(read["name"], "Jane");
    assert!(read["data"].get("plan").is_none(), "{read}");
    assert_eq!(read["data"]["big"], json!(1e300), "the rest of data kept");

    let prefs = json!({"categories": {"billing": {"sms": false}}, "quietHours": {"start": "22:00", "end": "08:00"}});
    let (status, _) = call(
        &t,
        "PUT",
        &format!("/v1/users/{u}/preferences"),
        prefs.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, read) = call(
        &t,
        "GET",
        &format!("/v1/users/{u}/preferences"),
        Value::Null,
    )
    .await;
    assert_eq!(read["categories"], prefs["categories"]);
    assert_eq!(read["quietHours"], prefs["quietHours"]);
    t.register_device(&u, "tok-erase-1", "ios").await;

    let (status, _) = call(&t, "DELETE", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, "GET", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, read) = call(
        &t,
        "GET",
        &format!("/v1/users/{u}/preferences"),
        Value::Null,
    )
    .await;
    assert_eq!(read["categories"], json!({}));
    let (_, devices) = call(&t, "GET", &format!("/v1/users/{u}/devices"), Value::Null).await;
    assert_eq!(devices["devices"], json!([]), "{devices}");
    let (status, _) = call(&t, "DELETE", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_frequency_cap_sends_exactly_its_limit_of_fifty_concurrent_sends() {
    let t = TestStack::new().await;
    let u = user();
    let (status, _) = call(
        &t,
        "PUT",
        "/v1/preferences/defaults",
        json!({"frequencyCaps": {"marketing": {"limit": 3, "windowHours": 24}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"channel": "push", "userId": u, "category": "marketing", "title": "Sale"})
        .to_string();
    let answers = futures::future::join_all(
        (0..50).map(|_| t.call("POST", "/v1/notifications", Some(&body))),
    )
    .await;
    let mut queued = 0;
    let mut capped = 0;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::ACCEPTED, "{answer}");
        match answer["status"].as_str() {
            Some("queued") => queued += 1,
            Some("suppressed") => {
                assert_eq!(answer["error"]["code"], "frequency_cap");
                capped += 1;
            }
            other => panic!("{other:?}: {answer}"),
        }
    }
    assert_eq!((queued, capped), (3, 47));
}

fn email_to_user(u: &str) -> Value {
    json!({"channel": "email", "userId": u, "category": "news", "subject": "News", "text": "Hello"})
}

#[tokio::test]
async fn an_email_to_a_user_goes_to_their_address_unless_they_opt_out_before_it_is_sent() {
    let t = TestStack::new().await;
    let u = user();
    let address = unique_recipient();
    let (status, _) = call(
        &t,
        "PUT",
        &format!("/v1/users/{u}"),
        json!({"email": address}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let id = t.send(&email_to_user(&u)).await;
    let sent = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["to"], address.as_str());
    assert_eq!(sent["userId"], u.as_str());
    assert_eq!(t.emails_to(&address).await.len(), 1);

    // Accepted while the user still wanted news, then the user turns it off: the worker
    // reads the preferences again and sends nothing.
    let id = t.send(&email_to_user(&u)).await;
    assert_eq!(t.notification(&id).await["status"], "queued");
    let (status, _) = call(
        &t,
        "PUT",
        &format!("/v1/users/{u}/preferences"),
        json!({"categories": {"news": {"email": false}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "suppressed", "{view}");
    assert_eq!(view["error"]["code"], "preference");
    assert_eq!(statuses(&view), ["queued", "sending", "suppressed"]);
    assert_eq!(t.emails_to(&address).await.len(), 1, "no second email");

    // Now declined at once, as the answer says.
    let (status, answer) = t
        .call(
            "POST",
            "/v1/notifications",
            Some(&email_to_user(&u).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["status"], "suppressed");
    assert_eq!(answer["error"]["code"], "preference");

    // Erased: the records keep only the masked address, and the address no longer finds them.
    let (status, _) = call(&t, "DELETE", &format!("/v1/users/{u}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let erased = t.notification(&id).await;
    assert_eq!(erased["status"], "suppressed", "{erased}");
    assert_ne!(erased["to"], address.as_str());
    assert!(erased["to"].as_str().unwrap().contains("***"), "{erased}");
    assert_eq!(erased["deliveries"], json!([]));
    let (_, listed) = call(
        &t,
        "GET",
        &format!("/v1/notifications?recipient={address}"),
        Value::Null,
    )
    .await;
    assert_eq!(listed["notifications"], json!([]), "{listed}");
}

/// `POST /v1/notifications` as API Gateway passes it, with the API's public host.
async fn send_via(t: &TestStack, host: &str, body: &Value) -> String {
    let (status, answer) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/notifications",
        Some(&body.to_string()),
        Some(notify_tests::API_KEY),
        &[("host", host)],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_sent_email_carries_one_click_unsubscribe_headers_whose_post_opts_the_address_out() {
    let t = TestStack::new().await;
    let address = unique_recipient();
    let news = json!({"channel": "email", "to": address, "category": "news", "subject": "News", "text": "Hi"});
    let id = send_via(&t, "notify.example.com", &news).await;
    let sent = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");

    // As SES was asked to send it.
    let emails = t.emails_to(&address).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(
        emails[0].header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let link = emails[0]
        .header("List-Unsubscribe")
        .expect("List-Unsubscribe");
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix('>'))
        .expect("an angle-bracketed URI (RFC 2369)");
    let path = url
        .strip_prefix("https://notify.example.com")
        .expect("an HTTPS URL on the API's host");

    // What Gmail does: a form POST, no API key.
    let (status, answer) = TestStack::call_app(
        &t.api,
        "POST",
        path,
        Some("List-Unsubscribe=One-Click"),
        None,
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["unsubscribed"], true);

    // The next news to the address is suppressed by the worker; other categories still go.
    let id = send_via(&t, "notify.example.com", &news).await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "suppressed", "{view}");
    assert_eq!(view["error"]["code"], "preference");
    let mut billing = news.clone();
    billing["category"] = json!("billing");
    let id = send_via(&t, "notify.example.com", &billing).await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(t.emails_to(&address).await.len(), 2);

    // The tenant reads the address's opt-out, and undoes it: news goes again.
    let path = format!("/v1/preferences/addresses/{address}");
    let (_, read) = call(&t, "GET", &path, Value::Null).await;
    assert_eq!(
        read["categories"],
        json!({"news": {"email": false}}),
        "{read}"
    );
    let (status, _) = call(&t, "PUT", &path, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let id = send_via(&t, "notify.example.com", &news).await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
}
