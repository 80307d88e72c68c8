//! SMS through the API, the SMS worker and SNS (the emulator), end to end.

use std::time::Duration;

use http::StatusCode;
use notify_shared::domain::{Channel, Priority};
use notify_tests::{TestStack, unique_mobile};
use serde_json::json;

#[tokio::test]
async fn an_sms_is_published_through_sns_and_reads_sent() {
    let t = TestStack::new().await;
    let to = unique_mobile();
    let spaced = format!("{} {} {}", &to[..3], &to[3..6], &to[6..]);
    let (status, accepted) = t
        .call(
            "POST",
            "/v1/notifications",
            Some(&json!({"channel": "sms", "to": spaced, "message": "Your code is 123456", "priority": "high"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(
        (accepted["segments"].as_u64(), accepted["encoding"].as_str()),
        (Some(1), Some("gsm7"))
    );
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(
        t.peek(t.queue_url(Channel::Sms, Priority::High))
            .await
            .len(),
        1
    );

    let view = t.deliver_until_settled(id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(view["provider"], "sns");
    assert_eq!(view["to"], to.as_str(), "stored in E.164");
    let texts = t.sms_to(&to).await;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].message, "Your code is 123456");
    assert_eq!(view["providerMessageId"], texts[0].message_id.as_str());
}

#[tokio::test]
async fn an_opted_out_number_is_suppressed_and_not_texted() {
    let t = TestStack::new().await;
    // The emulator reports numbers ending in 99 as opted out (CheckIfPhoneNumberIsOptedOut).
    let to = "+33612345699";
    let id = t
        .send(&json!({"channel": "sms", "to": to, "message": "Sale!", "priority": "low"}))
        .await;
    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "suppressed", "{view}");
    assert_eq!(view["error"]["code"], "OptedOut");
    assert_eq!(view["deliveries"][0]["status"], "suppressed");
    assert!(t.sms_to(to).await.is_empty());
    assert!(
        t.peek(t.dlq_url(Channel::Sms, Priority::Low))
            .await
            .is_empty(),
        "not a failure"
    );
}

#[tokio::test]
async fn numbers_without_a_country_or_invalid_for_it_are_refused() {
    let t = TestStack::new().await;
    for bad in ["0612345678", "+33 12", "+1 555", "not a number"] {
        let body = json!({"channel": "sms", "to": bad, "message": "Hi"});
        let (status, err) = t
            .call("POST", "/v1/notifications", Some(&body.to_string()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert_eq!(
            (
                err["details"][0]["field"].as_str(),
                err["details"][0]["rule"].as_str()
            ),
            (Some("to"), Some("phone"))
        );
    }
    for p in Priority::ALL {
        assert!(t.peek(t.queue_url(Channel::Sms, p)).await.is_empty());
    }
}

#[tokio::test]
async fn a_long_unicode_message_reports_its_ucs2_segments() {
    let t = TestStack::new().await;
    let body = json!({"channel": "sms", "to": unique_mobile(), "message": "Привет! ".repeat(20)});
    let (status, accepted) = t
        .call("POST", "/v1/notifications", Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // 160 UCS-2 characters: 67 per segment.
    assert_eq!(
        (accepted["segments"].as_u64(), accepted["encoding"].as_str()),
        (Some(3), Some("ucs2"))
    );
}
