use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use aws_sdk_sns::{
    Client,
    operation::{
        check_if_phone_number_is_opted_out::CheckIfPhoneNumberIsOptedOutError,
        publish::PublishError,
    },
    types::MessageAttributeValue,
};

use super::{ErrorKind, Provider, ProviderError, Receipt, aws_error};
use crate::{
    config::{ConfigError, Env},
    domain::{Address, Channel, Content, Notification, PhoneNumber, Priority},
};

/// `AWS.SNS.SMS.SMSType`: transactional messages get the most reliable routes (and cost
/// more); promotional ones the cheapest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsType {
    Transactional,
    Promotional,
}

impl SmsType {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsType::Transactional => "Transactional",
            SmsType::Promotional => "Promotional",
        }
    }
}

/// How the SMS worker addresses SNS.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// `AWS.SNS.SMS.SenderID`, shown instead of a number where the country allows it.
    pub sender_id: Option<String>,
    /// The type of normal-priority messages (high is always transactional, low promotional).
    pub normal_type: SmsType,
    /// How long an opt-out answer is trusted before SNS is asked again.
    pub opt_out_cache: Duration,
}

impl SmsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let sender_id = env.optional("NOTIFY_SMS_SENDER_ID").map(str::to_owned);
        if let Some(id) = &sender_id {
            // https://docs.aws.amazon.com/sns/latest/dg/channels-sms-senderid.html
            let ok = (1..=11).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric())
                && id.chars().any(|c| c.is_ascii_alphabetic());
            if !ok {
                return Err(Env::malformed(
                    "NOTIFY_SMS_SENDER_ID",
                    "must be 1 to 11 letters and digits, with at least one letter",
                ));
            }
        }
        let normal_type = match env
            .optional("NOTIFY_SMS_TYPE_NORMAL")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("transactional") => SmsType::Transactional,
            Some("promotional") => SmsType::Promotional,
            Some(other) => {
                return Err(Env::malformed(
                    "NOTIFY_SMS_TYPE_NORMAL",
                    format!("`{other}` is not transactional or promotional"),
                ));
            }
        };
        Ok(Self {
            sender_id,
            normal_type,
            opt_out_cache: env.seconds("NOTIFY_SMS_OPT_OUT_CACHE_SECONDS", 300, 0..=86_400)?,
        })
    }

    pub fn sms_type(&self, priority: Priority) -> SmsType {
        match priority {
            Priority::High => SmsType::Transactional,
            Priority::Normal => self.normal_type,
            Priority::Low => SmsType::Promotional,
        }
    }
}

/// SMS through Amazon SNS `Publish` to a phone number.
pub struct SnsSmsProvider {
    client: Client,
    settings: SmsSettings,
    /// Opt-out answers per number, so a burst to one number asks SNS once.
    opt_outs: Mutex<HashMap<String, (bool, Instant)>>,
}

impl SnsSmsProvider {
    pub fn new(client: Client, settings: SmsSettings) -> Self {
        Self {
            client,
            settings,
            opt_outs: Mutex::new(HashMap::new()),
        }
    }

    async fn opted_out(&self, number: &PhoneNumber) -> Result<bool, ProviderError> {
        let cached = self
            .opt_outs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(number.as_str())
            .filter(|(_, at)| at.elapsed() < self.settings.opt_out_cache)
            .map(|(out, _)| *out);
        if let Some(out) = cached {
            return Ok(out);
        }
        let out = self
            .client
            .check_if_phone_number_is_opted_out()
            .phone_number(number.as_str())
            .send()
            .await
            .map_err(|e| aws_error(e, opt_out_error))?
            .is_opted_out;
        let mut cache = self.opt_outs.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a warm worker texting many numbers must not grow without end.
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(number.as_str().to_owned(), (out, Instant::now()));
        Ok(out)
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, ProviderError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| ProviderError::permanent("InvalidAttribute", e.to_string()))
}

/// <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors>
fn publish_error(e: &PublishError) -> Option<(&'static str, bool)> {
    Some(match e {
        // SNS throttles Publish with the generic `Throttling` code, which `aws_error` retries.
        PublishError::InternalErrorException(_) => ("InternalErrorException", true),
        PublishError::KmsThrottlingException(_) => ("KMSThrottlingException", true),
        PublishError::InvalidParameterException(_) => ("InvalidParameterException", false),
        PublishError::InvalidParameterValueException(_) => {
            ("InvalidParameterValueException", false)
        }
        PublishError::AuthorizationErrorException(_) => ("AuthorizationErrorException", false),
        PublishError::EndpointDisabledException(_) => ("EndpointDisabledException", false),
        PublishError::NotFoundException(_) => ("NotFoundException", false),
        PublishError::ValidationException(_) => ("ValidationException", false),
        PublishError::InvalidSecurityException(_) => ("InvalidSecurityException", false),
        _ => return None,
    })
}

fn opt_out_error(e: &CheckIfPhoneNumberIsOptedOutError) -> Option<(&'static str, bool)> {
    Some(match e {
        CheckIfPhoneNumberIsOptedOutError::ThrottledException(_) => ("ThrottledException", true),
        CheckIfPhoneNumberIsOptedOutError::InternalErrorException(_) => {
            ("InternalErrorException", true)
        }
        CheckIfPhoneNumberIsOptedOutError::InvalidParameterException(_) => {
            ("InvalidParameterException", false)
        }
        CheckIfPhoneNumberIsOptedOutError::AuthorizationErrorException(_) => {
            ("AuthorizationErrorException", false)
        }
        _ => return None,
    })
}

#[async_trait]
impl Provider for SnsSmsProvider {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    // SNS's SMS delivery status logs name the message id Publish returned, and nothing else.
    fn reports_by_message_id(&self) -> bool {
        true
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let (Address::Phone(number), Content::Sms(content)) = (to, &n.content) else {
            return Err(ProviderError::permanent(
                "WrongChannel",
                "SNS sends SMS notifications only",
            ));
        };
        // Checked before every send (cached briefly): texting a number that replied STOP is
        // against carrier rules, and SNS would silently drop it anyway.
        if self.opted_out(number).await? {
            return Err(ProviderError::permanent(
                "OptedOut",
                "the number has opted out of SMS (it replied STOP)",
            )
            .with_kind(ErrorKind::OptedOut));
        }
        let mut request = self
            .client
            .publish()
            .phone_number(number.as_str())
            .message(&content.message)
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                string_attribute(self.settings.sms_type(n.priority).as_str())?,
            );
        if let Some(sender) = &self.settings.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender)?);
        }
        let out = request
            .send()
            .await
            .map_err(|e| aws_error(e, publish_error))?;
        match out.message_id {
            Some(id) => Ok(Receipt {
                message_id: id,
                response: None,
            }),
            None => Err(ProviderError::permanent(
                "NoMessageId",
                "SNS accepted the request but returned no message id",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sns::{
        operation::{
            check_if_phone_number_is_opted_out::CheckIfPhoneNumberIsOptedOutOutput,
            publish::{PublishError, PublishOutput},
        },
        types::error::InvalidParameterException,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::{
        domain::{Draft, SmsContent, TenantId, sms::segments},
        store::tests::at,
    };

    fn sms(priority: Priority) -> Notification {
        let draft = Draft {
            channel: Channel::Sms,
            priority,
            recipient: crate::domain::Recipient::Phone(PhoneNumber::parse("+33612345678").unwrap()),
            content: Content::Sms(SmsContent {
                message: "Your code is 123456".into(),
                segments: segments("Your code is 123456"),
            }),
            category: None,
            metadata: Default::default(),
            scheduled_at: None,
            batch_id: None,
            template: None,
            reference: None,
            callback_url: None,
            user_id: None,
        };
        Notification::accept(
            crate::domain::NotificationId::generate(),
            draft,
            TenantId::new("acme"),
            at(0),
            Duration::from_secs(60),
        )
    }

    fn provider(rules: &[&Rule], sender_id: Option<&str>) -> SnsSmsProvider {
        let config = crate::test_support::mocked_config!(aws_sdk_sns, RuleMode::MatchAny, rules);
        let settings = SmsSettings {
            sender_id: sender_id.map(str::to_owned),
            normal_type: SmsType::Transactional,
            opt_out_cache: Duration::from_secs(300),
        };
        SnsSmsProvider::new(Client::from_conf(config), settings)
    }

    fn not_opted_out() -> Rule {
        mock!(aws_sdk_sns::Client::check_if_phone_number_is_opted_out).then_output(|| {
            CheckIfPhoneNumberIsOptedOutOutput::builder()
                .is_opted_out(false)
                .build()
        })
    }

    fn publish_with_type(expected: &'static str) -> Rule {
        mock!(aws_sdk_sns::Client::publish)
            .match_requests(move |req| {
                let attrs = req.message_attributes().unwrap();
                req.phone_number() == Some("+33612345678")
                    && req.message() == Some("Your code is 123456")
                    && attrs["AWS.SNS.SMS.SMSType"].string_value() == Some(expected)
                    && attrs["AWS.SNS.SMS.SenderID"].string_value() == Some("ACME")
            })
            .then_output(|| PublishOutput::builder().message_id("sns-1").build())
    }

    #[tokio::test]
    async fn high_is_transactional_and_low_promotional_with_the_sender_id() {
        for (priority, expected) in [
            (Priority::High, "Transactional"),
            (Priority::Low, "Promotional"),
        ] {
            let check = not_opted_out();
            let publish = publish_with_type(expected);
            let n = sms(priority);
            let receipt = provider(&[&check, &publish], Some("ACME"))
                .send(&n, &n.recipient.address().unwrap())
                .await
                .unwrap();
            assert_eq!(receipt.message_id, "sns-1");
            assert_eq!(publish.num_calls(), 1, "{priority}");
        }
    }

    #[tokio::test]
    async fn an_opted_out_number_is_not_texted_and_the_answer_is_cached() {
        let check =
            mock!(aws_sdk_sns::Client::check_if_phone_number_is_opted_out).then_output(|| {
                CheckIfPhoneNumberIsOptedOutOutput::builder()
                    .is_opted_out(true)
                    .build()
            });
        let publish =
            mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
        let p = provider(&[&check, &publish], None);
        let n = sms(Priority::Normal);
        for _ in 0..3 {
            let err = p
                .send(&n, &n.recipient.address().unwrap())
                .await
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::OptedOut);
        }
        assert_eq!(publish.num_calls(), 0);
        assert_eq!(check.num_calls(), 1, "cached");
    }

    #[tokio::test]
    async fn sns_errors_are_classified() {
        let n = sms(Priority::Normal);
        let check = not_opted_out();
        // What SNS answers when throttling (AWS query protocol).
        let throttled = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
            Response::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                     <Message>Rate exceeded</Message></Error></ErrorResponse>",
                ),
            )
        });
        let err = provider(&[&check, &throttled], None)
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");

        let check = not_opted_out();
        let invalid = mock!(aws_sdk_sns::Client::publish).then_error(|| {
            PublishError::InvalidParameterException(
                InvalidParameterException::builder()
                    .message("bad number")
                    .build(),
            )
        });
        let err = provider(&[&check, &invalid], None)
            .send(&n, &n.recipient.address().unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Permanent, "InvalidParameterException")
        );
    }

    #[test]
    fn sender_ids_are_checked_at_startup() {
        let env = Env::from_pairs([("NOTIFY_SMS_SENDER_ID", "TOO-LONG-SENDER")]);
        assert!(
            SmsSettings::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("NOTIFY_SMS_SENDER_ID")
        );
        let env = Env::from_pairs([
            ("NOTIFY_SMS_SENDER_ID", "ACME1"),
            ("NOTIFY_SMS_TYPE_NORMAL", "Promotional"),
        ]);
        let s = SmsSettings::from_env(&env).unwrap();
        assert_eq!(s.sms_type(Priority::Normal), SmsType::Promotional);
        assert_eq!(s.sms_type(Priority::High), SmsType::Transactional);
    }
}
