use async_trait::async_trait;
use aws_sdk_sesv2::{
    Client,
    operation::send_email::SendEmailError,
    types::{
        Body, Content as SesContent, Destination, EmailContent as SesEmailContent, Message,
        MessageHeader, MessageTag,
    },
};

use super::{Provider, ProviderError, Receipt, aws_error};
use crate::{
    config::EmailSettings,
    domain::{Address, Channel, Content, EmailContent, Notification},
};

/// Email through Amazon SES v2 `SendEmail`.
#[derive(Clone)]
pub struct SesEmailProvider {
    client: Client,
    settings: EmailSettings,
}

impl SesEmailProvider {
    pub fn new(client: Client, settings: EmailSettings) -> Self {
        Self { client, settings }
    }
}

fn utf8(data: &str) -> Result<SesContent, ProviderError> {
    SesContent::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| ProviderError::permanent("InvalidContent", e.to_string()))
}

/// SES tag values allow only ASCII letters, digits, `_` and `-`.
fn tag(name: &str, value: &str) -> Option<MessageTag> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then(|| MessageTag::builder().name(name).value(value).build().ok())
        .flatten()
}

/// The From header: the sender address, behind the notification's display name when it has
/// one. SES takes a quoted name in ASCII, or an RFC 2047 encoded word for anything else
/// (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>).
fn from_header(address: &str, name: Option<&str>) -> String {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return address.to_owned();
    };
    if name.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    } else {
        // An encoded word is at most 75 characters: 45 bytes of UTF-8 each, split between
        // characters.
        use base64::Engine;
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in name.chars() {
            if chunk.len() + c.len_utf8() > 45 {
                words.push(std::mem::take(&mut chunk));
            }
            chunk.push(c);
        }
        words.push(chunk);
        let encoded: Vec<String> = words
            .iter()
            .map(|w| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(w.as_bytes());
                format!("=?UTF-8?B?{b64}?=")
            })
            .collect();
        format!("{} <{address}>", encoded.join(" "))
    }
}

fn email_content(c: &EmailContent) -> Result<SesEmailContent, ProviderError> {
    let mut body = Body::builder();
    // An HTML-only email gets its plain-text alternative here, at send time (see
    // `template::html_to_text`); one too long for it goes as HTML alone.
    let derived = match (&c.text, &c.html) {
        (None, Some(html)) => crate::template::html_to_text(html).ok(),
        _ => None,
    };
    if let Some(text) = c.text.as_ref().or(derived.as_ref()) {
        body = body.text(utf8(text)?);
    }
    if let Some(html) = &c.html {
        body = body.html(utf8(html)?);
    }
    let mut message = Message::builder()
        .subject(utf8(&c.subject)?)
        .body(body.build());
    if let Some(url) = &c.unsubscribe_url {
        // RFC 8058 one-click: mailbox providers POST `List-Unsubscribe=One-Click` to the URL.
        for (name, value) in [
            ("List-Unsubscribe", format!("<{url}>")),
            (
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ),
        ] {
            let header = MessageHeader::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| ProviderError::permanent("InvalidHeader", e.to_string()))?;
            message = message.headers(header);
        }
    }
    Ok(SesEmailContent::builder().simple(message.build()).build())
}

/// Transient or permanent, from the SES v2 error model
/// (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors>).
fn modelled(e: &SendEmailError) -> Option<(&'static str, bool)> {
    Some(match e {
        SendEmailError::TooManyRequestsException(_) => ("TooManyRequestsException", true),
        SendEmailError::LimitExceededException(_) => ("LimitExceededException", true),
        SendEmailError::SendingPausedException(_) => ("SendingPausedException", true),
        SendEmailError::MessageRejected(_) => ("MessageRejected", false),
        SendEmailError::MailFromDomainNotVerifiedException(_) => {
            ("MailFromDomainNotVerifiedException", false)
        }
        SendEmailError::AccountSuspendedException(_) => ("AccountSuspendedException", false),
        SendEmailError::NotFoundException(_) => ("NotFoundException", false),
        SendEmailError::BadRequestException(_) => ("BadRequestException", false),
        _ => return None,
    })
}

#[async_trait]
impl Provider for SesEmailProvider {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let (Address::Email(to), Content::Email(content)) = (to, &n.content) else {
            return Err(ProviderError::permanent(
                "WrongChannel",
                "SES sends email notifications only",
            ));
        };
        let mut request = self
            .client
            .send_email()
            .from_email_address(from_header(
                self.settings.from.as_str(),
                content.from_name.as_deref(),
            ))
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(email_content(content)?)
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .set_email_tags(Some(
                [
                    tag("notification_id", n.id.as_str()),
                    tag("tenant", n.tenant.as_str()),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ));
        if let Some(reply_to) = &content.reply_to {
            request = request.reply_to_addresses(reply_to.as_str());
        }
        let out = request.send().await.map_err(|e| aws_error(e, modelled))?;
        match out.message_id {
            Some(id) => Ok(Receipt {
                message_id: id,
                response: None,
            }),
            // SES always returns an id for an accepted message; without one we cannot prove
            // acceptance, but the message may well be out: do not retry into a duplicate.
            None => Err(ProviderError::permanent(
                "NoMessageId",
                "SES accepted the request but returned no message id",
            )),
        }
    }
}

#[cfg(test)]
mod tests {

    use aws_sdk_sesv2::{
        operation::send_email::{SendEmailError, SendEmailOutput},
        types::error::{MessageRejected, TooManyRequestsException},
    };
    use aws_smithy_mocks::{RuleMode, mock};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::provider::ErrorKind;
    use crate::{domain::EmailAddress, store::tests::queued_email};

    fn settings() -> EmailSettings {
        EmailSettings {
            from: EmailAddress::parse("noreply@example.com").unwrap(),
            configuration_set: Some("notify".into()),
        }
    }

    fn provider(rule: &aws_smithy_mocks::Rule) -> SesEmailProvider {
        let config = crate::test_support::mocked_config!(aws_sdk_sesv2, RuleMode::MatchAny, [rule]);
        SesEmailProvider::new(Client::from_conf(config), settings())
    }

    #[tokio::test]
    async fn an_html_only_email_gets_its_text_derived_at_send_time() {
        let mut n = queued_email();
        if let crate::domain::Content::Email(e) = &mut n.content {
            e.text = None;
            e.html = Some(
                "<h1>Hello Bob</h1><p><a href=\"https://example.com/o/42\">Your order</a></p>"
                    .into(),
            );
        }
        let rule = mock!(aws_sdk_sesv2::Client::send_email)
            .match_requests(|req| {
                let body = req
                    .content()
                    .and_then(|c| c.simple())
                    .and_then(|s| s.body())
                    .unwrap();
                let text = body.text().map(|t| t.data()).unwrap_or_default();
                body.html().is_some()
                    && text.contains("Hello Bob")
                    && text.contains("https://example.com/o/42")
                    && !text.contains('<')
            })
            .then_output(|| SendEmailOutput::builder().message_id("ses-1").build());
        provider(&rule)
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn sends_one_simple_utf8_email_with_tags() {
        let n = queued_email();
        let id = n.id.to_string();
        let rule = mock!(aws_sdk_sesv2::Client::send_email)
            .match_requests(move |req| {
                let simple = req.content().and_then(|c| c.simple()).unwrap();
                let subject = simple.subject().unwrap();
                let text = simple.body().and_then(|b| b.text()).unwrap();
                let tags: Vec<(&str, &str)> = req
                    .email_tags()
                    .iter()
                    .map(|t| (t.name(), t.value()))
                    .collect();
                req.from_email_address() == Some("noreply@example.com")
                    && req.destination().unwrap().to_addresses() == ["bob@example.com"]
                    && subject.data() == "Hello"
                    && subject.charset() == Some("UTF-8")
                    && text.data() == "Hi Bob"
                    && simple.body().unwrap().html().is_none()
                    && req.configuration_set_name() == Some("notify")
                    && tags == [("notification_id", id.as_str()), ("tenant", "acme")]
            })
            .then_output(|| SendEmailOutput::builder().message_id("ses-123").build());
        let receipt = provider(&rule)
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap();
        assert_eq!(receipt.message_id, "ses-123");
        assert_eq!(rule.num_calls(), 1);
    }

    #[test]
    fn the_display_name_is_quoted_or_encoded() {
        let from = "noreply@example.com";
        assert_eq!(from_header(from, None), from);
        assert_eq!(from_header(from, Some("  ")), from);
        assert_eq!(
            from_header(from, Some("Custom Sender")),
            "\"Custom Sender\" <noreply@example.com>"
        );
        assert_eq!(
            from_header(from, Some(r#"Say "hi""#)),
            r#""Say \"hi\"" <noreply@example.com>"#
        );
        assert_eq!(
            from_header(from, Some("Événements")),
            "=?UTF-8?B?w4l2w6luZW1lbnRz?= <noreply@example.com>"
        );
        let long = from_header(from, Some(&"é".repeat(40)));
        let words: Vec<&str> = long
            .trim_end_matches(" <noreply@example.com>")
            .split(' ')
            .collect();
        assert_eq!(words.len(), 2, "{long}");
        assert!(words.iter().all(|w| w.len() <= 75), "{long}");
    }

    #[tokio::test]
    async fn a_rejected_message_is_permanent() {
        let rule = mock!(aws_sdk_sesv2::Client::send_email).then_error(|| {
            SendEmailError::MessageRejected(
                MessageRejected::builder()
                    .message("Email address is not verified.")
                    .build(),
            )
        });
        let err = provider(&rule)
            .send(
                &queued_email(),
                &queued_email().recipient.address().unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert_eq!(err.code, "MessageRejected");
        assert!(
            err.message.contains("Email address is not verified."),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn throttling_is_transient() {
        let rule = mock!(aws_sdk_sesv2::Client::send_email).then_error(|| {
            SendEmailError::TooManyRequestsException(
                TooManyRequestsException::builder()
                    .message("slow down")
                    .build(),
            )
        });
        let err = provider(&rule)
            .send(
                &queued_email(),
                &queued_email().recipient.address().unwrap(),
            )
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }

    fn http(status: u16, error_type: Option<&'static str>) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_sesv2::Client::send_email).then_http_response(move || {
            let mut r = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from("{}"));
            if let Some(t) = error_type {
                r.headers_mut().insert("x-amzn-errortype", t);
            }
            r
        })
    }

    #[tokio::test]
    async fn server_errors_are_transient_and_other_client_errors_permanent() {
        let err = provider(&http(503, None))
            .send(
                &queued_email(),
                &queued_email().recipient.address().unwrap(),
            )
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        let err = provider(&http(400, Some("Throttling")))
            .send(
                &queued_email(),
                &queued_email().recipient.address().unwrap(),
            )
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        let err = provider(&http(400, Some("InvalidParameterValue")))
            .send(
                &queued_email(),
                &queued_email().recipient.address().unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Permanent, "InvalidParameterValue")
        );
    }
}
