//! SNS's SMS delivery status, as SNS logs it to CloudWatch Logs (groups
//! `sns/<region>/<account>/DirectPublishToPhoneNumber` and `…/Failure`,
//! <https://docs.aws.amazon.com/sns/latest/dg/sms_stats_cloudwatch.html>) and a subscription
//! filter hands it to the events function. A record names the message id `Publish` returned,
//! nothing else: the notification is found by it ([`crate::store::PROVIDER_INDEX`]).

use serde::Deserialize;

use super::Unreadable;
use crate::domain::time::Timestamp;

/// One SMS's delivery status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsStatus {
    pub message_id: String,
    pub at: Timestamp,
    pub delivered: bool,
    /// The carrier's answer ("Message has been accepted by phone carrier", "Phone is
    /// currently unreachable/unavailable", …).
    pub provider_response: String,
    pub destination: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    notification: RecordNotification,
    #[serde(default)]
    delivery: Delivery,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordNotification {
    message_id: String,
    timestamp: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    destination: Option<String>,
    provider_response: Option<String>,
}

/// Whether a JSON value looks like a delivery status record (rather than an SES event).
pub fn is_status_record(value: &serde_json::Value) -> bool {
    value.get("notification").is_some() && value.get("status").is_some()
}

pub fn parse_value(value: serde_json::Value) -> Result<SmsStatus, Unreadable> {
    let record: Record =
        serde_json::from_value(value).map_err(|e| Unreadable::Malformed(e.to_string()))?;
    let delivered = match record.status.as_str() {
        "SUCCESS" => true,
        "FAILURE" => false,
        other => return Err(Unreadable::Ignored(format!("SMS status {other}"))),
    };
    Ok(SmsStatus {
        message_id: record.notification.message_id,
        at: timestamp(&record.notification.timestamp)?,
        delivered,
        provider_response: record
            .delivery
            .provider_response
            .unwrap_or_else(|| record.status.clone()),
        destination: record.delivery.destination,
    })
}

/// `2016-06-28 00:40:34.558`, in UTC.
fn timestamp(raw: &str) -> Result<Timestamp, Unreadable> {
    let civil: jiff::civil::DateTime = raw
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|e| Unreadable::Malformed(format!("timestamp `{raw}`: {e}")))?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| Timestamp::from_jiff(z.timestamp()))
        .map_err(|e| Unreadable::Malformed(format!("timestamp `{raw}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The success record of SNS's documentation.
    const SUCCESS: &str = r#"{
        "notification": {"messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf", "timestamp": "2016-06-28 00:40:34.558"},
        "delivery": {"phoneCarrier": "My Phone Carrier", "mnc": 270, "destination": "+1XXX5550100",
            "priceInUSD": 0.00645, "smsType": "Transactional", "mcc": 310,
            "providerResponse": "Message has been accepted by phone carrier",
            "dwellTimeMs": 599, "dwellTimeMsUntilDeviceAck": 1344},
        "status": "SUCCESS"
    }"#;

    #[test]
    fn a_success_record_names_its_message_and_time() {
        let value: serde_json::Value = serde_json::from_str(SUCCESS).unwrap();
        assert!(is_status_record(&value));
        let status = parse_value(value).unwrap();
        assert_eq!(status.message_id, "34d9b400-c6dd-5444-820d-fbeb0f1f54cf");
        assert!(status.delivered);
        assert_eq!(status.at.as_millis(), 1_467_074_434_558);
        assert_eq!(
            status.provider_response,
            "Message has been accepted by phone carrier"
        );
    }

    #[test]
    fn a_failure_record_carries_the_carriers_reason() {
        let failure = SUCCESS.replace("\"SUCCESS\"", "\"FAILURE\"").replace(
            "Message has been accepted by phone carrier",
            "Phone is currently unreachable/unavailable",
        );
        let status = parse_value(serde_json::from_str(&failure).unwrap()).unwrap();
        assert!(!status.delivered);
        assert_eq!(
            status.provider_response,
            "Phone is currently unreachable/unavailable"
        );
    }

    #[test]
    fn other_statuses_and_shapes_are_refused() {
        let odd = SUCCESS.replace("\"SUCCESS\"", "\"PENDING\"");
        assert!(matches!(
            parse_value(serde_json::from_str(&odd).unwrap()),
            Err(Unreadable::Ignored(_))
        ));
        assert!(matches!(
            parse_value(serde_json::json!({"notification": {}, "status": "SUCCESS"})),
            Err(Unreadable::Malformed(_))
        ));
    }
}
