//! The Event Planner API (`/api/notifications/...`, `/health`, `/health/detailed`), with the
//! bodies of that document's examples, against the emulator.

use std::time::Duration;

use http::StatusCode;
use notify_tests::{TestStack, unique_mobile, unique_recipient};
use serde_json::{Value, json};

async fn post(t: &TestStack, path: &str, body: &Value) -> (StatusCode, Value) {
    t.call("POST", path, Some(&body.to_string())).await
}

#[tokio::test]
async fn the_email_example_is_queued_sent_and_its_status_read_in_the_event_planner_envelope() {
    let t = TestStack::new().await;
    let to = unique_recipient();
    // "Envoi immédiat" of the Event Planner API, verbatim but for the address.
    let body = json!({
        "to": to,
        "subject": "Confirmation d'événement",
        "template": "event-confirmation",
        "data": {"eventName": "Tech Conference 2024", "date": "2024-12-31", "location": "Paris"},
        "options": {"priority": "high", "fromName": "Custom Sender"}
    });
    let (status, answer) = post(&t, "/api/notifications/email", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["message"], "Email mis en file d'attente");
    let id = answer["data"]["notificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(answer["data"]["queueId"], "email-high");
    assert!(answer["data"]["estimatedDelivery"].is_string());

    let (_, before) = t
        .call("GET", &format!("/api/notifications/{id}/status"), None)
        .await;
    assert_eq!(before["success"], true);
    assert_eq!(before["data"]["status"], "queued");
    assert_eq!(before["data"]["sentAt"], Value::Null);

    t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    let (status, after) = t
        .call("GET", &format!("/api/notifications/{id}/status"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["data"]["notificationId"], id.as_str());
    assert_eq!(after["data"]["status"], "sent");
    assert_eq!(after["data"]["provider"], "ses");
    assert!(
        after["data"]["sentAt"].is_string() && after["data"]["providerMessageId"].is_string(),
        "{after}"
    );
    let emails = t.emails_to(&to).await;
    assert_eq!(
        emails[0].subject, "Confirmation d'événement",
        "the request's subject wins"
    );
    assert!(
        emails[0].source.contains("Custom Sender"),
        "{}",
        emails[0].source
    );
}

#[tokio::test]
async fn the_sms_example_renders_the_otp_template() {
    let t = TestStack::new().await;
    let to = unique_mobile();
    let body = json!({
        "to": to,
        "message": "Votre code OTP est 123456",
        "template": "otp",
        "data": {"code": "123456"},
        "options": {"priority": "medium"}
    });
    let (status, answer) = post(&t, "/api/notifications/sms", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["data"]["queueId"], "sms-normal");
    let id = answer["data"]["notificationId"].as_str().unwrap();
    t.deliver_until_settled(id, Duration::from_secs(10)).await;
    let sms = t.sms_to(&to).await;
    assert_eq!(sms.len(), 1);
    assert!(sms[0].message.contains("123456"), "{}", sms[0].message);
    assert_ne!(
        sms[0].message, "Votre code OTP est 123456",
        "rendered by the template"
    );

    // The API reference's example names a template the tenant does not have: its message goes.
    let to = unique_mobile();
    let body = json!({"to": to, "message": "Votre message SMS", "template": "template-name", "data": {"code": "123456"}});
    let (status, answer) = post(&t, "/api/notifications/sms", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    t.deliver_until_settled(
        answer["data"]["notificationId"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(t.sms_to(&to).await[0].message, "Votre message SMS");
}

#[tokio::test]
async fn the_bulk_example_sends_each_recipient_its_name() {
    let t = TestStack::new().await;
    let (alice, bob) = (unique_recipient(), unique_recipient());
    // "Bulk endpoints" of the Event Planner API: its scheduledAt (2024) is past, which means now.
    let body = json!({
        "recipients": [{"email": alice, "name": "Alice"}, {"email": bob, "name": "Bob"}, {"email": "nope", "name": "Eve"}],
        "template": "newsletter",
        "data": {"month": "Janvier 2024"},
        "options": {"batchId": "campaign-123", "scheduledAt": "2024-01-01T10:00:00Z"}
    });
    let (status, answer) = post(&t, "/api/notifications/email/bulk", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["data"]["batchId"], "campaign-123");
    assert_eq!(
        (
            answer["data"]["total"].as_u64(),
            answer["data"]["queued"].as_u64(),
            answer["data"]["failed"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(answer["data"]["errors"][0]["field"], "recipients[2].email");
    assert_eq!(answer["data"]["notifications"][0]["email"], alice.as_str());
    t.deliver_all().await;
    let a = t.emails_to(&alice).await;
    let b = t.emails_to(&bob).await;
    assert_eq!((a.len(), b.len()), (1, 1));
    assert!(
        a[0].body.contains("Alice") && b[0].body.contains("Bob"),
        "{} / {}",
        a[0].body,
        b[0].body
    );
    assert!(a[0].subject.contains("Janvier 2024"), "{}", a[0].subject);
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_success_false_naming_the_event_planner_field() {
    let t = TestStack::new().await;
    let (status, err) = post(
        &t,
        "/api/notifications/email",
        &json!({"to": "not-an-address", "subject": "Hi", "text": "x", "options": {"priority": "urgent"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["success"], false);
    assert_eq!(err["error"]["code"], "validation_failed");
    let mut fields: Vec<&str> = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["options.priority", "to"],
        "every broken rule at once"
    );
    let priority = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "options.priority")
        .unwrap();
    assert_eq!(priority["message"], "must be one of: high, medium, low");

    let (status, err) = post(&t, "/api/notifications/email", &json!({"to": unique_recipient(), "subject": "Hi", "text": "x", "options": {"fromName": "A\nB", "colour": "red"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut fields: Vec<&str> = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["options.colour", "options.fromName"]);

    // Options go under `options`: a canonical field at the top (or a channel) is unknown
    // here, and a null `options` is not an object.
    for (body, field, rule) in [
        (
            json!({"to": unique_recipient(), "subject": "Hi", "text": "x", "priority": "high"}),
            "priority",
            "unknown_field",
        ),
        (
            json!({"to": unique_recipient(), "subject": "Hi", "text": "x", "channel": "sms"}),
            "channel",
            "unknown_field",
        ),
        (
            json!({"to": unique_recipient(), "subject": "Hi", "text": "x", "options": null}),
            "options",
            "type",
        ),
    ] {
        let (status, err) = post(&t, "/api/notifications/email", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        let details = err["error"]["details"].as_array().unwrap();
        assert_eq!(
            (
                details.len(),
                details[0]["field"].as_str(),
                details[0]["rule"].as_str()
            ),
            (1, Some(field), Some(rule)),
            "{body}: {err}"
        );
    }

    let (status, err) = t
        .call_with(
            "POST",
            "/api/notifications/sms",
            Some("{}"),
            None,
            "application/json",
        )
        .await;
    assert_eq!(
        (status, err["success"].as_bool()),
        (StatusCode::UNAUTHORIZED, Some(false))
    );
    let (status, err) = t
        .call(
            "GET",
            "/api/notifications/0190a0a0-0000-7000-8000-000000000000/status",
            None,
        )
        .await;
    assert_eq!(
        (status, err["success"].as_bool()),
        (StatusCode::NOT_FOUND, Some(false))
    );
}

#[tokio::test]
async fn health_and_detailed_health_answer_in_the_event_planner_shape() {
    let t = TestStack::new().await;
    let (status, health) = t
        .call_with("GET", "/health", None, None, "application/json")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "notification");
    assert!(
        health["uptime"].is_u64()
            && health["timestamp"].is_string()
            && health["version"].is_string()
    );

    let (status, detailed) = t
        .call_with("GET", "/health/detailed", None, None, "application/json")
        .await;
    assert_eq!(status, StatusCode::OK, "{detailed}");
    assert_eq!(detailed["status"], "healthy");
    assert_eq!(
        detailed["dependencies"],
        json!({"database": true, "queues": true})
    );
    assert_eq!(detailed["services"]["email"]["provider"], "ses");
    assert_eq!(detailed["services"]["sms"]["healthy"], true);
    assert_eq!(detailed["services"]["push"]["queues"]["high"]["waiting"], 0);
}
