use async_trait::async_trait;
use aws_sdk_sesv2::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::send_email::SendEmailError,
    types::{
        Body, Content as SesContent, Destination, EmailContent as SesEmailContent, Message,
        MessageTag,
    },
};

use super::{ErrorKind, Provider, ProviderError, Receipt};
use crate::{
    config::EmailSettings,
    domain::{Channel, Content, EmailContent, Notification, Recipient},
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

fn email_content(c: &EmailContent) -> Result<SesEmailContent, ProviderError> {
    let mut body = Body::builder();
    if let Some(text) = &c.text {
        body = body.text(utf8(text)?);
    }
    if let Some(html) = &c.html {
        body = body.html(utf8(html)?);
    }
    let message = Message::builder()
        .subject(utf8(&c.subject)?)
        .body(body.build())
        .build();
    Ok(SesEmailContent::builder().simple(message).build())
}

/// Transient or permanent, from the SES v2 error model
/// (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors>).
fn classify<R>(err: SdkError<SendEmailError, R>) -> ProviderError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let service = match err {
        SdkError::ServiceError(ctx) => ctx.into_err(),
        // Never reached SES or got no answer: try again.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return ProviderError::transient("NetworkError", DisplayErrorContext(err).to_string());
        }
        other => {
            return ProviderError::permanent("RequestError", DisplayErrorContext(other).to_string());
        }
    };
    let code = service.code().unwrap_or("Unknown").to_owned();
    let message = service.message().unwrap_or("no message").to_owned();
    let transient = match &service {
        SendEmailError::TooManyRequestsException(_)
        | SendEmailError::LimitExceededException(_)
        | SendEmailError::SendingPausedException(_) => true,
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::AccountSuspendedException(_)
        | SendEmailError::NotFoundException(_)
        | SendEmailError::BadRequestException(_) => false,
        // Errors outside the documented model: AWS's generic throttling and server-side codes
        // are worth a retry, any other client error is not.
        _ => matches!(
            code.as_str(),
            "Throttling"
                | "ThrottlingException"
                | "ServiceUnavailable"
                | "InternalFailure"
                | "InternalError"
                | "RequestTimeout"
                | "Unknown"
        ),
    };
    ProviderError {
        kind: if transient {
            ErrorKind::Transient { retry_after: None }
        } else {
            ErrorKind::Permanent
        },
        code,
        message,
    }
}

#[async_trait]
impl Provider for SesEmailProvider {
    fn name(&self) -> &'static str {
        "ses"
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, n: &Notification) -> Result<Receipt, ProviderError> {
        let (Recipient::Email(to), Content::Email(content)) = (&n.recipient, &n.content);
        let mut request = self
            .client
            .send_email()
            .from_email_address(self.settings.from.as_str())
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
        let out = request.send().await.map_err(classify)?;
        match out.message_id {
            Some(id) => Ok(Receipt { message_id: id }),
            // SES always returns an id for an accepted message; without one we cannot prove
            // acceptance, but the message may well be out: do not retry into a duplicate.
            None => Err(ProviderError::permanent(
                "NoMessageId",
                "SES accepted the request but returned no message id",
            )),
        }
    }
}
