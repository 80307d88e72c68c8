//! Batches, templates and the compatible routes over in-memory ports: the request rules and
//! the partial failures. The same paths against DynamoDB and SQS are in the `tests` crate.

use http::StatusCode;
use notify_shared::domain::NotificationId;
use serde_json::{Value, json};

use crate::tests::{KEY, Rig, call, field_rules, request, rig};

async fn batch(rig: &Rig, body: &Value) -> (StatusCode, Value) {
    let (status, answer, _) = call(
        rig,
        request(
            "POST",
            "/v1/notifications/batch",
            Some(KEY),
            Some(&body.to_string()),
        ),
    )
    .await;
    (status, answer)
}

fn recipients(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"to": format!("r{i}@example.com"), "data": {"name": format!("R{i}")}}))
        .collect()
}

fn inline(recipients: Vec<Value>) -> Value {
    json!({"channel": "email", "subject": "Hi {{name}}", "text": "Hello {{name}}", "recipients": recipients})
}

fn fields(answer: &Value, key: &str) -> Vec<String> {
    field_rules(answer, key)
}

#[tokio::test]
async fn each_recipient_gets_its_own_rendering_an_id_derived_from_the_first_and_a_message() {
    let rig = rig();
    let (status, answer) = batch(&rig, &inline(recipients(30))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let ids: Vec<NotificationId> = answer["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| NotificationId::parse(i.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(ids.len(), 30);
    assert_eq!(ids[29], ids[0].nth(29));
    assert_eq!(
        answer["batchId"],
        ids[0].as_str(),
        "an unnamed batch is named after its first id"
    );
    assert_eq!(rig.queue.messages().len(), 30);
    let n = rig.store.record(&ids[7]).unwrap();
    let notify_shared::domain::Content::Email(email) = n.content else {
        panic!("email")
    };
    assert_eq!(
        (email.subject.as_str(), email.text.as_deref()),
        ("Hi R7", Some("Hello R7"))
    );
    assert_eq!(n.template, None, "inline content is not a saved template");
}

#[tokio::test]
async fn records_the_store_does_not_write_are_not_accepted_and_not_queued() {
    let rig = rig();
    rig.store.refuse_inserts(2);
    let (status, answer) = batch(&rig, &inline(recipients(5))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        fields(&answer, "errors"),
        ["recipients[0] unavailable", "recipients[1] unavailable"]
    );
    assert!(answer["ids"][0].is_null() && answer["ids"][1].is_null());
    assert_eq!(
        rig.queue.messages().len(),
        3,
        "only what was recorded is queued"
    );
}

/// The same rule as a single notification's: a message the queue did not take is the sweep's
/// to send (the request's outbox lists it), and the recipient is accepted.
#[tokio::test]
async fn messages_the_queue_refuses_are_accepted_and_left_to_the_sweep() {
    let rig = rig();
    rig.queue.refuse_sends(2);
    let (status, answer) = batch(&rig, &inline(recipients(5))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(rig.queue.messages().len(), 3);
    let ids: Vec<NotificationId> = answer["ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|id| NotificationId::parse(id.as_str()?))
        .collect();
    let sent = rig.queue.sent_ids();
    let refused: Vec<NotificationId> = ids.into_iter().filter(|id| !sent.contains(id)).collect();
    let outboxes = rig.store.outboxes();
    assert_eq!(outboxes.len(), 1, "the outbox stays for the sweep");
    let pending: Vec<NotificationId> = outboxes[0].pending_ids().map(|(_, id)| id).collect();
    assert_eq!(pending, refused, "it lists the two the queue refused");
}

/// A batch writes no record twice: the records carry their expiry from the start, and the
/// request's outbox, settled once the messages are out, stands for their `enqueue` markers.
#[tokio::test]
async fn a_batch_sent_in_full_leaves_no_outbox_and_records_written_once() {
    let rig = rig();
    let (status, answer) = batch(&rig, &inline(recipients(4))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(rig.queue.messages().len(), 4);
    assert!(rig.store.outboxes().is_empty());
    for (m, _) in rig.queue.messages() {
        let record = rig.store.record(&m.id).unwrap();
        assert_eq!(
            record.due.map(|d| d.kind),
            Some(notify_shared::domain::schedule::DueKind::Expire)
        );
        assert_eq!(record.history.len(), 1, "queued, nothing since");
    }
}

#[tokio::test]
async fn a_store_outage_accepts_nothing() {
    let rig = rig();
    rig.store.set_unavailable(true);
    let (status, answer) = batch(&rig, &inline(recipients(3))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(rig.queue.messages().is_empty());
}

#[tokio::test]
async fn the_recipient_list_is_bounded_and_required() {
    let rig = rig();
    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"to": format!("{i}@x.io")}))
        .collect();
    let (status, answer) = batch(&rig, &inline(many)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer, "details"), ["recipients max_items"]);
    let (status, answer) = batch(&rig, &inline(vec![])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer, "details"), ["recipients min_items"]);
}

#[tokio::test]
async fn when_no_recipient_is_valid_the_answer_is_400_listing_each() {
    let rig = rig();
    let (status, answer) = batch(
        &rig,
        &inline(vec![
            json!({"to": "nope"}),
            json!({"to": "a@b.co", "extra": 1}),
            json!("x"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        fields(&answer, "details"),
        [
            "recipients[0].to email",
            "recipients[1].extra unknown_field",
            "recipients[2] type"
        ]
    );
}

#[tokio::test]
async fn inline_batch_content_is_compiled_once_and_its_errors_name_the_request_fields() {
    let rig = rig();
    let mut body = inline(recipients(2));
    body["subject"] = json!("Hi {{#if name}}");
    let (status, answer) = batch(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(fields(&answer, "details"), ["subject syntax"]);

    let mut body = inline(recipients(2));
    body["template"] = json!("otp");
    let (status, answer) = batch(&rig, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer, "details"), ["text exclusive"]);
}

#[tokio::test]
async fn a_strict_template_refuses_each_recipient_lacking_a_variable_by_index() {
    let rig = rig();
    let body = json!({
        "channel": "sms", "template": "otp",
        "recipients": [{"to": "+33612345678", "data": {"code": "1"}}, {"to": "+33612345679"}]
    });
    let (status, answer) = batch(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        fields(&answer, "errors"),
        ["recipients[1].data missing_variable"]
    );
    assert_eq!(
        answer["template"],
        json!({"name": "otp", "version": 0, "locale": "en", "builtin": true})
    );
}

#[tokio::test]
async fn a_batch_far_ahead_is_scheduled_and_nothing_is_queued_yet() {
    let rig = rig();
    let mut body = inline(recipients(3));
    body["scheduledAt"] = json!("2027-06-01T09:00:00Z");
    let (status, answer) = batch(&rig, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "scheduled");
    assert!(rig.queue.messages().is_empty());
}

#[tokio::test]
async fn a_batch_summary_counts_statuses_of_its_own_tenant_only() {
    let rig = rig();
    let mut body = inline(recipients(4));
    body["batchId"] = json!("spring-sale");
    batch(&rig, &body).await;
    let (status, summary, _) = call(
        &rig,
        request("GET", "/v1/batches/spring-sale", Some(KEY), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["statuses"], json!({"queued": 4}));
    assert_eq!(
        (summary["pending"].as_u64(), summary["complete"].as_bool()),
        (Some(4), Some(false))
    );
    let other = "ndk_other_0123456789abcdef";
    let (status, _, _) = call(
        &rig,
        request("GET", "/v1/batches/spring-sale", Some(other), None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_template_name_in_the_path_is_checked() {
    let rig = rig();
    let (status, answer, _) = call(
        &rig,
        request(
            "PUT",
            "/v1/templates/Bad%20Name",
            Some(KEY),
            Some(r#"{"locales": {"en": {"sms": {"message": "x"}}}}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer, "details"), ["name pattern"]);
}

#[tokio::test]
async fn compatible_routes_answer_failures_in_their_envelope() {
    let rig = rig();
    let (status, answer, headers) = call(
        &rig,
        request("POST", "/api/notifications/email", None, Some("{}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["success"], false);
    assert_eq!(answer["error"]["code"], "unauthorized");
    assert!(headers.contains_key(http::header::WWW_AUTHENTICATE));

    rig.store.set_unavailable(true);
    let body = json!({"to": "a@b.co", "subject": "s", "text": "t"}).to_string();
    let (status, answer, _) = call(
        &rig,
        request("POST", "/api/notifications/email", Some(KEY), Some(&body)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (
            answer["success"].as_bool(),
            answer["error"]["code"].as_str()
        ),
        (Some(false), Some("service_unavailable"))
    );
}

#[tokio::test]
async fn detailed_health_is_503_when_a_dependency_is_down() {
    let rig = rig();
    let (status, health, _) = call(&rig, request("GET", "/health/detailed", None, None)).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    rig.queue.set_unavailable(true);
    let (status, health, _) = call(&rig, request("GET", "/health/detailed", None, None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health["dependencies"],
        json!({"database": true, "queues": false})
    );
    assert_eq!(
        health["services"]["email"]["queues"]["high"]["error"],
        "unavailable"
    );
}
