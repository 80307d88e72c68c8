//! The render route's preview of an unsaved template (the console's live preview): what the
//! edit would render, or its errors with line and column, nothing saved.

use http::StatusCode;
use serde_json::json;

use crate::tests::{KEY, call, field_rules, request, rig};

#[tokio::test]
async fn an_unsaved_source_is_previewed_and_its_errors_name_line_and_column() {
    let rig = rig();
    let body = json!({
        "channel": "sms",
        "data": {"code": "42"},
        "source": {"locales": {"en": {"sms": {"message": "Your code: {{code}}"}}}}
    });
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/templates/draft/render",
            Some(KEY),
            Some(&body.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["content"]["message"], "Your code: 42");
    assert_eq!(answer["version"], 0, "unsaved");
    let (status, _, _) = call(&rig, request("GET", "/v1/templates/draft", Some(KEY), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing saved");

    let broken = json!({
        "channel": "sms",
        "source": {"locales": {"en": {"sms": {"message": "Hi\n{{#if x}}open"}}}}
    });
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/templates/draft/render",
            Some(KEY),
            Some(&broken.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_rules(&answer, "details"),
        ["source.locales.en.sms.message syntax"]
    );
    let message = answer["details"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("column"), "{message}");

    let both = json!({"channel": "sms", "version": 1, "source": {"locales": {}}});
    let (status, answer, _) = call(
        &rig,
        request(
            "POST",
            "/v1/templates/draft/render",
            Some(KEY),
            Some(&both.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        field_rules(&answer, "details").contains(&"source exclusive".to_owned()),
        "{answer}"
    );
}
