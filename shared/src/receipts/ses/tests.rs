//! SES's documented event JSON (event publishing through SNS), one per event type.

use super::*;

const ID: &str = "0190a5b0-0000-7000-8000-000000000001";

fn mail(extra_tags: &str) -> String {
    format!(
        r#"{{
        "timestamp": "2026-12-01T10:00:00.000Z",
        "source": "noreply@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/noreply@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["bob@example.com"],
        "headersTruncated": false,
        "tags": {{
            "ses:configuration-set": ["notify"],
            "ses:source-ip": ["192.0.2.0"],
            "notification_id": ["{ID}"]{extra_tags}
        }}
    }}"#
    )
}

fn event(kind: &str, part: &str) -> String {
    format!(
        r#"{{"eventType": "{kind}", "mail": {}, {part}}}"#,
        mail(r#", "tenant": ["acme"]"#)
    )
}

/// As SNS delivers it to SQS without raw message delivery.
fn in_envelope(message: &str) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:notify-ses-events",
        "Message": message,
        "Timestamp": "2026-12-01T10:00:01.000Z",
        "SignatureVersion": "1",
    })
    .to_string()
}

#[test]
fn a_delivery_names_the_notification_and_tenant_from_the_tags() {
    let body = in_envelope(&event(
        "Delivery",
        r#""delivery": {"timestamp": "2026-12-01T10:00:02.000Z", "processingTimeMillis": 546,
            "recipients": ["bob@example.com"], "smtpResponse": "250 ok",
            "reportingMTA": "a8-70.smtp-out.amazonses.com"}"#,
    ));
    let report = parse(&body).unwrap();
    assert_eq!(report.notification.as_str(), ID);
    assert_eq!(report.tenant, Some(TenantId::new("acme")));
    assert_eq!(report.event, Event::Delivered);
    assert_eq!(report.at.as_jiff().to_string(), "2026-12-01T10:00:02Z");
    assert_eq!(report.recipients.len(), 1);
}

#[test]
fn a_raw_delivery_without_the_envelope_reads_the_same() {
    let raw = event(
        "Delivery",
        r#""delivery": {"timestamp": "2026-12-01T10:00:02.000Z", "recipients": ["bob@example.com"]}"#,
    );
    assert_eq!(parse(&raw).unwrap(), parse(&in_envelope(&raw)).unwrap());
}

#[test]
fn a_permanent_bounce_carries_its_type_and_diagnostic() {
    let body = in_envelope(&event(
        "Bounce",
        r#""bounce": {"feedbackId": "0100015fc1-b1", "bounceType": "Permanent",
            "bounceSubType": "General", "timestamp": "2026-12-01T10:00:03.000Z",
            "reportingMTA": "dsn; e226-55.smtp-out.amazonses.com",
            "bouncedRecipients": [{"emailAddress": "bob@example.com", "action": "failed",
                "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}"#,
    ));
    let report = parse(&body).unwrap();
    assert_eq!(
        report.event,
        Event::Bounced {
            permanent: true,
            provider_list: false,
            kind: "Permanent (General)".into(),
            diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
        }
    );
    assert!(report.key.ends_with("0100015fc1-b1"));
}

#[test]
fn the_account_suppression_list_and_transient_bounces_are_told_apart() {
    let bounce = |kind: &str, sub: &str| {
        parse(&event(
            "Bounce",
            &format!(
                r#""bounce": {{"bounceType": "{kind}", "bounceSubType": "{sub}",
                "timestamp": "2026-12-01T10:00:03.000Z",
                "bouncedRecipients": [{{"emailAddress": "bob@example.com"}}]}}"#
            ),
        ))
        .unwrap()
        .event
    };
    assert!(matches!(
        bounce("Permanent", "OnAccountSuppressionList"),
        Event::Bounced {
            provider_list: true,
            permanent: true,
            ..
        }
    ));
    assert!(matches!(
        bounce("Transient", "MailboxFull"),
        Event::Bounced {
            permanent: false,
            provider_list: false,
            ..
        }
    ));
    assert!(matches!(
        bounce("Undetermined", "Undetermined"),
        Event::Bounced {
            permanent: false,
            ..
        }
    ));
}

#[test]
fn a_complaint_names_its_feedback_type() {
    let body = event(
        "Complaint",
        r#""complaint": {"feedbackId": "0100015fc1-c1", "complaintSubType": null,
            "complainedRecipients": [{"emailAddress": "bob@example.com"}],
            "timestamp": "2026-12-01T10:05:00.000Z", "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse", "arrivalDate": "2026-12-01T10:04:00.000Z"}"#,
    );
    let report = parse(&body).unwrap();
    assert_eq!(
        report.event,
        Event::Complained {
            kind: Some("abuse".into())
        }
    );
}

#[test]
fn reject_rendering_failure_and_delay_are_read() {
    let reject = parse(&event("Reject", r#""reject": {"reason": "Bad content"}"#)).unwrap();
    assert_eq!(
        reject.event,
        Event::Rejected {
            reason: "Bad content".into()
        }
    );
    let failure = parse(&event(
        "Rendering Failure",
        r#""failure": {"errorMessage": "Attribute 'name' is not present", "templateName": "t"}"#,
    ))
    .unwrap();
    assert!(matches!(failure.event, Event::RenderingFailed { .. }));
    let delay = parse(&event(
        "DeliveryDelay",
        r#""deliveryDelay": {"timestamp": "2026-12-01T10:10:00.000Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2026-12-02T10:00:00.000Z",
            "delayedRecipients": [{"emailAddress": "bob@example.com", "status": "4.4.1",
                "diagnosticCode": "smtp; 421 4.4.1 Unable to connect"}]}"#,
    ))
    .unwrap();
    assert_eq!(
        delay.event,
        Event::Delayed {
            kind: "TransientCommunicationFailure".into()
        }
    );
}

#[test]
fn foreign_and_unwanted_events_are_refused_by_name() {
    let untagged = r#"{"eventType": "Delivery", "mail": {"timestamp": "2026-12-01T10:00:00.000Z",
        "messageId": "x", "destination": [], "tags": {}},
        "delivery": {"timestamp": "2026-12-01T10:00:02.000Z", "recipients": []}}"#;
    assert_eq!(parse(untagged), Err(Unreadable::Untagged));
    assert!(matches!(
        parse(&event("Send", r#""send": {}"#)),
        Err(Unreadable::Ignored(kind)) if kind == "Send"
    ));
    assert!(matches!(parse("not json"), Err(Unreadable::Malformed(_))));
    let confirmation = serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "hi"});
    assert!(matches!(
        parse(&confirmation.to_string()),
        Err(Unreadable::Ignored(_))
    ));
}

#[test]
fn opens_and_clicks_are_read_when_tracking_is_on() {
    let open = parse(&event(
        "Open",
        r#""open": {"ipAddress": "192.0.2.1", "timestamp": "2026-12-01T10:20:00.000Z", "userAgent": "Mozilla/5.0"}"#,
    ))
    .unwrap();
    assert_eq!(open.event, Event::Opened);
    let click = parse(&event(
        "Click",
        r#""click": {"ipAddress": "192.0.2.1", "timestamp": "2026-12-01T10:21:00.000Z",
            "userAgent": "Mozilla/5.0", "link": "https://example.com/o/42", "linkTags": {}}"#,
    ))
    .unwrap();
    assert_eq!(
        click.event,
        Event::Clicked {
            link: Some("https://example.com/o/42".into())
        }
    );
    assert_ne!(open.key, click.key);
}
