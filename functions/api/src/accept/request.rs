//! The accept service's first step, *validate*: what a request body asks for, checked per
//! channel. Every broken rule is reported at once, each naming its field.

use std::collections::BTreeMap;

use notify_shared::{
    domain::{
        BatchId, Channel, Content, Draft, MAX_REFERENCE_CHARS, Priority, Recipient, TemplateRef,
        WebhookUrl, schedule, time::Timestamp,
    },
    template::{Locale, TemplateName},
    validate::{self, FieldError, Fields},
    webhook::UrlPolicy,
};
use serde_json::{Map, Value};

use crate::{
    ApiError, channel,
    content::{self, ContentSpec},
    idempotency::Planned,
};

/// Limits that are configuration rather than protocol, and the time of the request.
#[derive(Debug, Clone, Copy)]
pub struct DraftLimits {
    pub channel: channel::Limits,
    pub now: Timestamp,
}

/// The fields every notification request has besides its recipient and content.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    pub priority: Priority,
    pub category: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub scheduled_at: Option<Timestamp>,
    /// Where this notification's status callbacks go instead of the tenant's subscriptions.
    pub callback_url: Option<WebhookUrl>,
    /// Kept as a draft until approved (`POST /v1/notifications/{id}/approve`).
    pub draft: bool,
}

impl Common {
    pub fn read(f: &mut Fields<'_>, now: Timestamp, policy: UrlPolicy) -> Self {
        let priority = f.optional_enum::<Priority>("priority");
        let category = f.optional_label("category", validate::MAX_CATEGORY_CHARS);
        let metadata = f.string_map("metadata", validate::METADATA_LIMITS);
        let scheduled_at = f.optional_timestamp("scheduledAt");
        let callback_url = f.optional_webhook_url("callbackUrl", policy);
        let draft = f.optional_bool("draft").unwrap_or(false);
        if let Some(at) = scheduled_at {
            if at <= now {
                f.error("scheduledAt", "future", "must be in the future");
            } else if now.until(at) > schedule::MAX_SCHEDULE_AHEAD {
                f.error("scheduledAt", "max_ahead", "must be at most 366 days ahead");
            }
        }
        Self {
            priority: priority.unwrap_or_default(),
            category,
            metadata,
            scheduled_at,
            callback_url,
            draft,
        }
    }

    /// The draft of a notification to `recipient` with `content`.
    pub fn draft(
        &self,
        channel: Channel,
        recipient: Recipient,
        content: Content,
        template: Option<TemplateRef>,
        batch_id: Option<BatchId>,
        reference: Option<String>,
    ) -> Draft {
        Draft {
            channel,
            priority: self.priority,
            recipient,
            content,
            category: self.category.clone(),
            metadata: self.metadata.clone(),
            scheduled_at: self.scheduled_at,
            batch_id,
            template,
            reference,
            callback_url: self.callback_url.clone(),
            user_id: None,
        }
    }
}

/// A `POST /v1/notifications` body, validated, before its template (if any) is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRequest {
    pub channel: Channel,
    pub recipient: Recipient,
    pub common: Common,
    pub content: ContentSpec,
    /// The client's own reference, to find it by.
    pub reference: Option<String>,
}

/// `reference`: one line of at most [`MAX_REFERENCE_CHARS`] characters.
fn client_reference(f: &mut Fields<'_>) -> Option<String> {
    f.header_text("reference", MAX_REFERENCE_CHARS, false)
}

/// The request a `POST /v1/notifications` body describes, or every problem with it.
pub fn parse_request(body: &Value, limits: DraftLimits) -> Result<NotificationRequest, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let common = Common::read(&mut f, limits.now, limits.channel.url_policy);
    let reference = client_reference(&mut f);
    let parts = match channel {
        Some(channel) => {
            let recipient = channel::recipient(&mut f, channel, &limits.channel);
            let content = content::parse(&mut f, channel, &limits.channel);
            recipient.zip(content)
        }
        // Without a channel the other fields cannot be judged: report only the channel.
        None => {
            f.skip_unread();
            None
        }
    };
    f.finish().map_err(ApiError::Validation)?;
    // `finish` succeeded, so every field parsed.
    let (Some(channel), Some((recipient, content))) = (channel, parts) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    Ok(NotificationRequest {
        channel,
        recipient,
        common,
        content,
        reference,
    })
}

/// Recipients per batch request.
pub const MAX_RECIPIENTS: usize = 10_000;

/// Where a batch's content comes from: a saved (or built-in) template, or its inline fields,
/// which are compiled as a template and rendered per recipient.
pub enum BatchContent {
    Saved {
        name: TemplateName,
        locale: Option<Locale>,
        subject: Option<String>,
    },
    Inline(Map<String, Value>),
}

/// A `POST /v1/notifications/batch` body, validated but for its recipients, which are
/// checked one by one (a bad one is reported by index, the others accepted).
pub struct BatchRequest<'a> {
    pub channel: Channel,
    pub common: Common,
    pub batch_id: BatchId,
    pub content: BatchContent,
    pub options: channel::Options,
    /// Template data shared by every recipient.
    pub data: Map<String, Value>,
    pub recipients: &'a [Value],
}

pub fn parse_batch<'a>(
    body: &'a Value,
    now: Timestamp,
    policy: UrlPolicy,
    planned: &Planned,
) -> Result<BatchRequest<'a>, ApiError> {
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let common = Common::read(&mut f, now, policy);
    let batch_id = match f.optional_str("batchId").map(BatchId::parse) {
        // The first notification's id: a retried request (same Idempotency-Key) names the
        // same batch.
        None => BatchId::parse(planned.id.as_str()).ok(),
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            f.error("batchId", "pattern", e);
            None
        }
    };
    let data = content::object(&mut f, "data");
    let recipients = match f.optional_value("recipients") {
        None => {
            f.error("recipients", "required", "is required");
            None
        }
        Some(Value::Array(r)) if r.is_empty() => {
            f.error(
                "recipients",
                "min_items",
                "must list at least one recipient",
            );
            None
        }
        Some(Value::Array(r)) if r.len() > MAX_RECIPIENTS => {
            f.error(
                "recipients",
                "max_items",
                format!("must list at most {MAX_RECIPIENTS} recipients; send several requests with the same batchId"),
            );
            None
        }
        Some(Value::Array(r)) => Some(r.as_slice()),
        Some(_) => {
            f.error("recipients", "type", "must be an array");
            None
        }
    };
    let Some(channel) = channel else {
        f.skip_unread();
        f.finish().map_err(ApiError::Validation)?;
        return Err(ApiError::Validation(Vec::new()));
    };
    let options = channel::options(&mut f, channel);
    let batch_content = if f.has("template") {
        let name = content::template_name(&mut f, "template");
        let locale = content::locale(&mut f, "locale");
        let subject = content::refuse_inline_beside_template(&mut f, channel);
        name.map(|name| BatchContent::Saved {
            name,
            locale,
            subject,
        })
    } else {
        let mut part = Map::new();
        for &name in channel::inline_fields(channel) {
            if let Some(v) = f.optional_value(name) {
                part.insert(name.to_owned(), v.clone());
            }
        }
        if part.is_empty() {
            f.error(
                "template",
                "required",
                "a template, or the channel's inline content, is required",
            );
            None
        } else {
            Some(BatchContent::Inline(part))
        }
    };
    f.finish().map_err(ApiError::Validation)?;
    match (batch_id, batch_content, recipients) {
        (Some(batch_id), Some(content), Some(recipients)) => Ok(BatchRequest {
            channel,
            common,
            batch_id,
            content,
            options,
            data,
            recipients,
        }),
        _ => Err(ApiError::Validation(Vec::new())),
    }
}

/// One batch recipient's own fields: its target, data (over the batch's) and locale.
pub struct BatchRecipient {
    pub recipient: Recipient,
    /// Each recipient's own: a batch's notifications are found together by its `batchId`.
    pub reference: Option<String>,
    pub data: Map<String, Value>,
    pub locale: Option<Locale>,
}

pub fn parse_recipient(
    channel: Channel,
    limits: &channel::Limits,
    index: usize,
    entry: &Value,
) -> Result<BatchRecipient, Vec<FieldError>> {
    let prefix = format!("recipients[{index}]");
    let mut f = Fields::of(entry, &prefix).map_err(|e| vec![e])?;
    let recipient = channel::recipient(&mut f, channel, limits);
    let reference = client_reference(&mut f);
    let data = content::object(&mut f, "data");
    let locale = content::locale(&mut f, "locale");
    f.finish()?;
    Ok(BatchRecipient {
        recipient: recipient.ok_or_else(Vec::new)?,
        reference,
        data,
        locale,
    })
}

#[cfg(test)]
mod tests {
    use notify_shared::domain::sms::SmsEncoding;
    use serde_json::json;

    use super::*;
    use crate::content::Source;

    /// The draft of an inline request (what the handler sends without rendering).
    fn parse_draft(body: &Value, limits: DraftLimits) -> Result<Draft, ApiError> {
        let r = parse_request(body, limits)?;
        let Source::Inline(texts) = r.content.source else {
            panic!("a template request");
        };
        let content = channel::assemble(texts, &r.content.options, "")
            .map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(r.common
            .draft(r.channel, r.recipient, content, None, None, r.reference))
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000).unwrap()
    }

    fn limits() -> DraftLimits {
        DraftLimits {
            channel: channel::Limits {
                sms_max_chars: 1600,
                url_policy: notify_shared::webhook::UrlPolicy::PublicHttps,
            },
            now: now(),
        }
    }

    fn rules(body: Value) -> Vec<(String, String)> {
        match parse_draft(&body, limits()) {
            Err(ApiError::Validation(details)) => {
                let mut r: Vec<(String, String)> = details
                    .into_iter()
                    .map(|d| (d.field, d.rule.to_owned()))
                    .collect();
                r.sort();
                r
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn sms_numbers_must_be_e164_and_messages_say_their_segments() {
        for ok in ["+33612345678", "+447911123456", "+12125551234"] {
            let d = parse_draft(
                &json!({"channel": "sms", "to": ok, "message": "Hi"}),
                limits(),
            )
            .unwrap();
            assert_eq!(d.recipient.as_str(), ok);
        }
        assert_eq!(
            rules(json!({"channel": "sms", "to": "0612345678", "message": "Hi"})),
            [("to".into(), "phone".into())]
        );
        let d = parse_draft(
            &json!({"channel": "sms", "to": "+33612345678", "message": "ж".repeat(71)}),
            limits(),
        )
        .unwrap();
        let Content::Sms(c) = d.content else { panic!() };
        assert_eq!(
            (c.segments.encoding, c.segments.count),
            (SmsEncoding::Ucs2, 2)
        );
    }

    #[test]
    fn sms_length_is_bounded_by_configuration() {
        let long = json!({"channel": "sms", "to": "+33612345678", "message": "a".repeat(11)});
        assert!(
            parse_draft(
                &long,
                DraftLimits {
                    channel: channel::Limits {
                        sms_max_chars: 11,
                        url_policy: notify_shared::webhook::UrlPolicy::PublicHttps,
                    },
                    now: now()
                }
            )
            .is_ok()
        );
        assert!(matches!(
            parse_draft(
                &long,
                DraftLimits {
                    channel: channel::Limits {
                        sms_max_chars: 10,
                        url_policy: notify_shared::webhook::UrlPolicy::PublicHttps,
                    },
                    now: now()
                }
            ),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn push_goes_to_a_user_or_a_token_not_both() {
        assert!(
            parse_draft(
                &json!({"channel": "push", "userId": "u1", "title": "Hi"}),
                limits()
            )
            .is_ok()
        );
        assert!(
            parse_draft(
                &json!({"channel": "push", "token": "tok:1", "body": "Hi"}),
                limits()
            )
            .is_ok()
        );
        assert_eq!(
            rules(json!({"channel": "push", "userId": "u1", "token": "t", "title": "Hi"})),
            [("token".into(), "exclusive".into())]
        );
        assert_eq!(
            rules(json!({"channel": "push", "title": "Hi"})),
            [("userId".into(), "required".into())]
        );
        assert_eq!(
            rules(json!({"channel": "push", "userId": "u1"})),
            [("title".into(), "required".into())]
        );
    }

    #[test]
    fn push_payload_over_4kb_is_refused() {
        let body = json!({"channel": "push", "userId": "u1", "title": "Hi",
                          "data": {"a": "x".repeat(2100), "b": "x".repeat(2100)}});
        assert_eq!(rules(body), [("data".into(), "max_bytes".into())]);
        let fits = json!({"channel": "push", "userId": "u1", "title": "Hi", "data": {"blob": "x".repeat(3900)}});
        assert!(parse_draft(&fits, limits()).is_ok());
    }

    #[test]
    fn push_options_are_checked() {
        let body = json!({
            "channel": "push", "userId": "u1", "title": "Hi",
            "imageUrl": "http://insecure.example/p.png", "badge": -1, "ttlSeconds": 99_999_999,
            "collapseKey": "has spaces", "data": {"google.x": "1", "n": 1}
        });
        assert_eq!(
            rules(body),
            [
                ("badge".into(), "range".into()),
                ("collapseKey".into(), "pattern".into()),
                ("data.google.x".into(), "reserved".into()),
                ("data.n".into(), "type".into()),
                ("imageUrl".into(), "https_url".into()),
                ("ttlSeconds".into(), "range".into()),
            ]
        );
    }

    #[test]
    fn scheduled_at_must_be_ahead_but_not_absurdly() {
        let body = |at: &str| json!({"channel": "sms", "to": "+33612345678", "message": "Hi", "scheduledAt": at});
        let d = parse_draft(&body("2027-02-15T08:00:00+01:00"), limits()).unwrap();
        assert_eq!(
            d.scheduled_at.unwrap().to_string(),
            "2027-02-15T07:00:00.000Z"
        );
        assert_eq!(
            rules(body("2020-01-01T00:00:00Z")),
            [("scheduledAt".into(), "future".into())]
        );
        assert_eq!(
            rules(body("2999-01-01T00:00:00Z")),
            [("scheduledAt".into(), "max_ahead".into())]
        );
        assert_eq!(
            rules(body("tomorrow")),
            [("scheduledAt".into(), "date_time".into())]
        );
        assert_eq!(
            rules(body("2027-02-15T08:00:00")),
            [("scheduledAt".into(), "date_time".into())],
            "no offset"
        );
    }
}
