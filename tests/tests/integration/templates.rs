//! Templates saved through the API, versioned in DynamoDB, rendered into notifications that
//! the workers deliver, against the emulator through the production adapters.

use std::sync::Arc;

use http::StatusCode;
use notify_shared::{
    clock::SystemClock,
    domain::{Content, NotificationId},
    store::NotificationStore,
};
use notify_tests::{TestStack, unique_mobile, unique_recipient};
use serde_json::{Value, json};

/// A template in English (email and SMS) and French (email only), whose English texts start
/// with `greeting`.
fn welcome(greeting: &str) -> Value {
    json!({
        "description": "Welcome mail",
        "defaultLocale": "en",
        "locales": {
            "en": {
                "email": {
                    "subject": format!("{greeting}, {{{{name}}}}"),
                    "html": format!("<p>{greeting} <b>{{{{name}}}}</b></p>"),
                    "text": format!("{greeting} {{{{name}}}}")
                },
                "sms": { "message": format!("{greeting} {{{{name}}}}") }
            },
            "fr": {
                "email": {
                    "subject": "Bienvenue, {{name}}",
                    "html": "<p>Bienvenue <b>{{name}}</b></p>"
                }
            }
        }
    })
}

async fn put(t: &TestStack, name: &str, body: &Value) -> (StatusCode, Value) {
    t.call(
        "PUT",
        &format!("/v1/templates/{name}"),
        Some(&body.to_string()),
    )
    .await
}

/// The content of a notification as recorded (what the worker sends).
async fn recorded(t: &TestStack, id: &str) -> notify_shared::domain::Notification {
    t.store
        .get(
            &NotificationId::parse(id).unwrap(),
            notify_shared::clock::Clock::now(&SystemClock),
        )
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn each_save_is_a_new_version_and_a_notification_records_the_one_it_used() {
    let t = TestStack::new().await;
    let (status, v1) = put(&t, "welcome-mail", &welcome("Hello")).await;
    assert_eq!(
        (status, v1["version"].as_u64()),
        (StatusCode::CREATED, Some(1)),
        "{v1}"
    );
    let (status, v2) = put(&t, "welcome-mail", &welcome("Hi")).await;
    assert_eq!(
        (status, v2["version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v2}"
    );

    let (_, latest) = t.call("GET", "/v1/templates/welcome-mail", None).await;
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["locales"]["en"]["email"]["subject"], "Hi, {{name}}");
    let (_, first) = t
        .call("GET", "/v1/templates/welcome-mail?version=1", None)
        .await;
    assert_eq!(
        first["locales"]["en"]["email"]["subject"],
        "Hello, {{name}}"
    );
    let (status, _) = t
        .call("GET", "/v1/templates/welcome-mail?version=3", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let to = unique_recipient();
    let id = t
        .send(&json!({"channel": "email", "to": to, "template": "welcome-mail", "data": {"name": "Ann"}}))
        .await;
    let view = t.notification(&id).await;
    assert_eq!(
        view["template"],
        json!({"name": "welcome-mail", "version": 2, "locale": "en"})
    );
    let sent = t
        .deliver_until_settled(&id, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let emails = t.emails_to(&to).await;
    assert_eq!(emails[0].subject, "Hi, Ann");
}

#[tokio::test]
async fn a_warm_api_uses_a_version_saved_through_another_instance() {
    let t = TestStack::new().await;
    put(&t, "promo", &welcome("Hello")).await;
    let warm = t.api_with(Arc::new(SystemClock), None);
    let send = |to: String| {
        json!({"channel": "email", "to": to, "template": "promo", "data": {"name": "Bo"}})
            .to_string()
    };
    let (_, a) = TestStack::call_app(
        &warm,
        "POST",
        "/v1/notifications",
        Some(&send(unique_recipient())),
        Some(notify_tests::API_KEY),
        &[],
    )
    .await;
    assert_eq!(a["subject"], "Hello, Bo");
    // Saved through the test stack's API: `warm` has v1 compiled in its cache.
    put(&t, "promo", &welcome("Howdy")).await;
    let (_, b) = TestStack::call_app(
        &warm,
        "POST",
        "/v1/notifications",
        Some(&send(unique_recipient())),
        Some(notify_tests::API_KEY),
        &[],
    )
    .await;
    assert_eq!(b["subject"], "Howdy, Bo");
    assert_eq!(b["template"]["version"], 2);
}

#[tokio::test]
async fn the_locale_falls_back_to_its_language_then_to_the_default() {
    let t = TestStack::new().await;
    put(&t, "greet", &welcome("Hello")).await;
    for (asked, used, subject) in [
        ("fr-CA", "fr", "Bienvenue, Zoé"),
        ("fr", "fr", "Bienvenue, Zoé"),
        ("de-AT", "en", "Hello, Zoé"),
    ] {
        let id = t
            .send(&json!({"channel": "email", "to": unique_recipient(), "template": "greet", "locale": asked, "data": {"name": "Zoé"}}))
            .await;
        let view = t.notification(&id).await;
        assert_eq!(view["template"]["locale"], used, "{asked}");
        assert_eq!(view["subject"], subject, "{asked}");
    }
    // The French variant has no SMS part: an SMS in fr-CA uses the default locale's.
    let id = t
        .send(&json!({"channel": "sms", "to": unique_mobile(), "template": "greet", "locale": "fr-CA", "data": {"name": "Zoé"}}))
        .await;
    assert_eq!(t.notification(&id).await["template"]["locale"], "en");
}

#[tokio::test]
async fn html_is_escaped_in_the_html_part_only() {
    let t = TestStack::new().await;
    put(&t, "greet", &welcome("Hello")).await;
    let name = "<script>x</script> & Co";
    let id = t
        .send(&json!({"channel": "email", "to": unique_recipient(), "template": "greet", "data": {"name": name}}))
        .await;
    let Content::Email(email) = recorded(&t, &id).await.content else {
        panic!("an email")
    };
    assert_eq!(
        email.html.as_deref(),
        Some("<p>Hello <b>&lt;script&gt;x&lt;/script&gt; &amp; Co</b></p>")
    );
    assert_eq!(email.text.as_deref(), Some("Hello <script>x</script> & Co"));
    assert_eq!(email.subject, "Hello, <script>x</script> & Co");

    let id = t
        .send(&json!({"channel": "sms", "to": unique_mobile(), "template": "greet", "data": {"name": name}}))
        .await;
    let Content::Sms(sms) = recorded(&t, &id).await.content else {
        panic!("an SMS")
    };
    assert_eq!(sms.message, "Hello <script>x</script> & Co");
}

#[tokio::test]
async fn a_strict_template_refuses_missing_variables_and_a_syntax_error_names_its_line() {
    let t = TestStack::new().await;
    let mut strict = welcome("Hello");
    strict["strict"] = json!(true);
    put(&t, "strict-greet", &strict).await;
    let (status, err) = t
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "email", "to": unique_recipient(), "template": "strict-greet", "data": {}}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["details"][0]["field"], "data");
    assert_eq!(err["details"][0]["rule"], "missing_variable");
    assert!(
        err["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`name`"),
        "{err}"
    );

    let mut broken = welcome("Hello");
    broken["locales"]["en"]["email"]["html"] = json!("<p>\n{{#if name}}\nno end\n");
    let (status, err) = put(&t, "broken", &broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["details"][0]["field"], "locales.en.email.html");
    assert_eq!(err["details"][0]["rule"], "syntax");
    assert!(
        err["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line"),
        "{err}"
    );
    let (status, _) = t.call("GET", "/v1/templates/broken", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing saved");
}

#[tokio::test]
async fn built_in_templates_serve_every_tenant_until_one_overrides_them() {
    let t = TestStack::new().await;
    let (_, list) = t.call("GET", "/v1/templates", None).await;
    let names: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for builtin in [
        "confirmation",
        "event-confirmation",
        "event-reminder",
        "newsletter",
        "otp",
        "reset",
        "welcome",
    ] {
        assert!(names.contains(&builtin), "{builtin} in {names:?}");
    }

    let to = unique_recipient();
    let id = t
        .send(&json!({"channel": "email", "to": to, "template": "event-confirmation", "locale": "fr",
                       "data": {"eventName": "Tech Conference 2024", "firstName": "Alice", "lastName": "Martin",
                                "eventDate": "2024-12-31", "location": "Paris", "ticketCount": 2}}))
        .await;
    let n = recorded(&t, &id).await;
    assert_eq!(
        n.template.as_ref().map(|r| (r.version, r.builtin)),
        Some((0, true))
    );
    let Content::Email(email) = n.content else {
        panic!()
    };
    let html = email.html.unwrap();
    assert!(html.contains("<h1>Bonjour Alice Martin !</h1>"), "{html}");
    assert!(
        html.contains("Votre inscription à <strong>Tech Conference 2024</strong> est confirmée.")
    );
    assert!(!html.contains("qr-code"), "no QR code asked for");
    assert_eq!(
        email.text, None,
        "the text is derived from the html when sent, not stored"
    );

    // The tenant's own `otp` wins over the built-in one; deleting it brings the built-in back.
    let own = json!({"locales": {"en": {"sms": {"message": "ACME code {{code}}"}}}});
    put(&t, "otp", &own).await;
    let sms = || json!({"channel": "sms", "to": unique_mobile(), "template": "otp", "data": {"code": "4242"}});
    let id = t.send(&sms()).await;
    assert_eq!(t.notification(&id).await["template"]["version"], 1);
    let Content::Sms(m) = recorded(&t, &id).await.content else {
        panic!()
    };
    assert_eq!(m.message, "ACME code 4242");
    let (status, _) = t.call("DELETE", "/v1/templates/otp", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let id = t.send(&sms()).await;
    let Content::Sms(m) = recorded(&t, &id).await.content else {
        panic!()
    };
    assert!(
        m.message.contains("4242") && !m.message.contains("ACME"),
        "{}",
        m.message
    );
    let (status, err) = t.call("DELETE", "/v1/templates/otp", None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("builtin_template"))
    );
}

#[tokio::test]
async fn a_deleted_template_is_gone_with_its_versions_and_a_new_one_numbers_on() {
    let t = TestStack::new().await;
    put(&t, "gone", &welcome("A")).await;
    put(&t, "gone", &welcome("B")).await;
    let (status, _) = t.call("DELETE", "/v1/templates/gone", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in ["/v1/templates/gone", "/v1/templates/gone?version=1"] {
        let (status, _) = t.call("GET", path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, err) = t
        .call(
            "POST",
            "/v1/notifications",
            Some(
                &json!({"channel": "email", "to": unique_recipient(), "template": "gone"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(
        (status, err["details"][0]["rule"].as_str()),
        (StatusCode::BAD_REQUEST, Some("not_found"))
    );
    let (status, again) = put(&t, "gone", &welcome("C")).await;
    assert_eq!(
        (status, again["version"].as_u64()),
        (StatusCode::CREATED, Some(3))
    );
    let (status, _) = t.call("GET", "/v1/templates/gone?version=2", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the deleted template's versions stay gone"
    );
}

#[tokio::test]
async fn render_previews_with_sample_data_and_sends_nothing() {
    let t = TestStack::new().await;
    let (status, preview) = t
        .call(
            "POST",
            "/v1/templates/otp/render",
            Some(r#"{"channel": "sms", "locale": "fr"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["locale"], "fr");
    assert_eq!(preview["builtin"], true);
    assert!(
        preview["content"]["message"]
            .as_str()
            .unwrap()
            .contains("123456")
    );
    assert_eq!(preview["content"]["segments"], 1);
    // An HTML-only email's preview shows the text the worker will derive.
    let (status, preview) = t
        .call(
            "POST",
            "/v1/templates/newsletter/render",
            Some(r#"{"channel": "email"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let text = preview["content"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Hello Alice") && !text.contains('<'),
        "{preview}"
    );

    let (status, err) = t
        .call(
            "POST",
            "/v1/templates/otp/render",
            Some(r#"{"channel": "sms", "data": {}}"#),
        )
        .await;
    assert_eq!(
        (status, err["details"][0]["rule"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_variable"))
    );
    assert!(t.deliver_all().await.is_empty(), "nothing was queued");
}

#[tokio::test]
async fn push_templates_render_title_body_and_data() {
    let t = TestStack::new().await;
    t.register_device("ann", "tpl-device-1", "android").await;
    let id = t
        .send(&json!({"channel": "push", "userId": "ann", "template": "event-reminder",
                       "data": {"eventName": "Rust Meetup", "eventDate": "2026-12-01", "location": "Lyon"}}))
        .await;
    let sent = t
        .deliver_until_settled(&id, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let received = t.fcm.received_for("tpl-device-1");
    assert_eq!(received.len(), 1);
    let text = received[0].message.to_string();
    assert!(text.contains("Rust Meetup"), "{text}");
}
