//! Amazon SES event publishing: the JSON a configuration set's event destination sends to
//! SNS (<https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html>),
//! delivered to the events queue inside SNS's envelope (or raw, with raw message delivery).
//! The `notification_id` and `tenant` message tags the email worker sets name the
//! notification.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Event, Report, Unreadable};
use crate::domain::{Address, EmailAddress, NotificationId, TenantId, time::Timestamp};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    /// Event publishing says `eventType`; identity notifications say `notificationType`.
    #[serde(alias = "notificationType")]
    event_type: String,
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    delivery: Option<Delivery>,
    reject: Option<Reject>,
    failure: Option<RenderingFailure>,
    delivery_delay: Option<DeliveryDelay>,
    open: Option<Engagement>,
    click: Option<Engagement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Engagement {
    timestamp: String,
    link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    timestamp: String,
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<BouncedRecipient>,
    timestamp: String,
    feedback_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedRecipient {
    email_address: String,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    timestamp: String,
    feedback_id: Option<String>,
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    timestamp: String,
    #[serde(default)]
    recipients: Vec<String>,
}

#[derive(Deserialize)]
struct Reject {
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenderingFailure {
    error_message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryDelay {
    timestamp: String,
    delay_type: String,
    #[serde(default)]
    delayed_recipients: Vec<Recipient>,
}

/// The report an SQS message body carries.
pub fn parse(body: &str) -> Result<Report, Unreadable> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| Unreadable::Malformed(e.to_string()))?;
    parse_value(value)
}

/// The report in an SQS message body already read as JSON.
pub fn parse_value(value: serde_json::Value) -> Result<Report, Unreadable> {
    let malformed = |e: serde_json::Error| Unreadable::Malformed(e.to_string());
    let event: SesEvent = match serde_json::from_value::<SnsEnvelope>(value.clone()) {
        Ok(envelope) if envelope.kind == "Notification" => {
            serde_json::from_str(&envelope.message).map_err(malformed)?
        }
        Ok(envelope) => return Err(Unreadable::Ignored(format!("SNS {}", envelope.kind))),
        Err(_) => serde_json::from_value(value).map_err(malformed)?,
    };
    let SesEvent {
        event_type: kind,
        mail,
        bounce,
        complaint,
        delivery,
        reject,
        failure,
        delivery_delay,
        open,
        click,
    } = event;
    let tag = |name: &str| mail.tags.get(name).and_then(|v| v.first()).cloned();
    let notification = tag("notification_id")
        .and_then(|id| NotificationId::parse(&id))
        .ok_or(Unreadable::Untagged)?;
    let tenant = tag("tenant").map(TenantId::new);
    let emails = |list: Vec<String>| -> Vec<Address> {
        list.iter()
            .filter_map(|a| EmailAddress::parse(a).ok().map(Address::Email))
            .collect()
    };
    let missing = |part: &str| Unreadable::Malformed(format!("a {part} event without `{part}`"));
    let (at, event_of, recipients, id) = match kind.as_str() {
        "Delivery" => {
            let d = delivery.ok_or_else(|| missing("delivery"))?;
            (d.timestamp, Event::Delivered, d.recipients, None)
        }
        "Bounce" => {
            let b = bounce.ok_or_else(|| missing("bounce"))?;
            let diagnostic = b
                .bounced_recipients
                .iter()
                .find_map(|r| r.diagnostic_code.clone());
            let recipients = b
                .bounced_recipients
                .into_iter()
                .map(|r| r.email_address)
                .collect();
            let event = Event::Bounced {
                // "Undetermined" bounces are not known to be permanent: not suppressed.
                permanent: b.bounce_type == "Permanent",
                provider_list: b.bounce_sub_type == "OnAccountSuppressionList",
                kind: format!("{} ({})", b.bounce_type, b.bounce_sub_type),
                diagnostic,
            };
            (b.timestamp, event, recipients, b.feedback_id)
        }
        "Complaint" => {
            let c = complaint.ok_or_else(|| missing("complaint"))?;
            let recipients = c
                .complained_recipients
                .into_iter()
                .map(|r| r.email_address)
                .collect();
            let event = Event::Complained {
                kind: c.complaint_feedback_type,
            };
            (c.timestamp, event, recipients, c.feedback_id)
        }
        "Reject" => {
            let r = reject.ok_or_else(|| missing("reject"))?;
            let event = Event::Rejected { reason: r.reason };
            (
                mail.timestamp.clone(),
                event,
                mail.destination.clone(),
                None,
            )
        }
        "Rendering Failure" => {
            let f = failure.ok_or_else(|| missing("failure"))?;
            let event = Event::RenderingFailed {
                message: f.error_message,
            };
            (
                mail.timestamp.clone(),
                event,
                mail.destination.clone(),
                None,
            )
        }
        "DeliveryDelay" => {
            let d = delivery_delay.ok_or_else(|| missing("deliveryDelay"))?;
            let recipients = d
                .delayed_recipients
                .into_iter()
                .map(|r| r.email_address)
                .collect();
            let event = Event::Delayed { kind: d.delay_type };
            (d.timestamp, event, recipients, None)
        }
        "Open" => {
            let o = open.ok_or_else(|| missing("open"))?;
            (o.timestamp, Event::Opened, mail.destination.clone(), None)
        }
        "Click" => {
            let c = click.ok_or_else(|| missing("click"))?;
            let event = Event::Clicked { link: c.link };
            (c.timestamp, event, mail.destination.clone(), None)
        }
        other => return Err(Unreadable::Ignored(other.to_owned())),
    };
    let at = timestamp(&at)?;
    let key = format!(
        "ses:{}:{}:{}",
        kind,
        mail.message_id,
        id.unwrap_or_else(|| at.as_millis().to_string())
    );
    Ok(Report {
        notification,
        tenant,
        recipients: emails(recipients),
        at,
        event: event_of,
        key,
    })
}

fn timestamp(raw: &str) -> Result<Timestamp, Unreadable> {
    raw.parse::<jiff::Timestamp>()
        .map(Timestamp::from_jiff)
        .map_err(|e| Unreadable::Malformed(format!("timestamp `{raw}`: {e}")))
}

#[cfg(test)]
mod tests;
