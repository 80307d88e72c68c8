//! What the emulated providers were asked to send: the emulator's outbox routes
//! (`dev/emulator.py`), the FCM stand-in's record and the webhook receiver's.

use serde::{Deserialize, Serialize};

/// One email SES accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// The SES message id (the notification's `providerMessageId`).
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// The headers the SendEmail request added (`List-Unsubscribe`, …).
    #[serde(default)]
    pub headers: Vec<SentHeader>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentHeader {
    pub name: String,
    pub value: String,
}

impl SentEmail {
    /// The value of header `name` (case-insensitive), if the email has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    let fail = |e: reqwest::Error| format!("{url}: {e}");
    reqwest::get(url)
        .await
        .map_err(fail)?
        .json()
        .await
        .map_err(fail)
}

fn outbox_url(endpoint: &str, kind: &str, to: Option<&str>) -> String {
    let mut url = format!("{}/_notify/outbox/{kind}", endpoint.trim_end_matches('/'));
    if let Some(to) = to {
        url.push_str("?to=");
        url.extend(form_urlencoded::byte_serialize(to.as_bytes()));
    }
    url
}

/// The emails SES accepted (for `to` only, if given), oldest first.
pub async fn sent_emails(endpoint: &str, to: Option<&str>) -> Result<Vec<SentEmail>, String> {
    get_json(&outbox_url(endpoint, "email", to)).await
}

/// One SMS SNS accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentSms {
    pub message_id: String,
    pub phone_number: String,
    pub message: String,
}

/// The SMS SNS accepted (to `number` only, if given), oldest first.
pub async fn sent_sms(endpoint: &str, number: Option<&str>) -> Result<Vec<SentSms>, String> {
    get_json(&outbox_url(endpoint, "sms", number)).await
}

/// Every push the FCM stand-in accepted, oldest first.
pub async fn sent_pushes(fcm_url: &str) -> Result<Vec<crate::fcm::ReceivedPush>, String> {
    get_json(&format!(
        "{}/_standin/messages",
        fcm_url.trim_end_matches('/')
    ))
    .await
}

/// Every webhook the local receiver got, oldest first.
pub async fn received_webhooks(
    receiver_url: &str,
) -> Result<Vec<crate::receiver::ReceivedWebhook>, String> {
    get_json(&format!(
        "{}/_receiver/requests",
        receiver_url.trim_end_matches('/')
    ))
    .await
}

/// What the Slack and Teams stand-in received.
pub async fn chat_messages(chat_url: &str) -> Result<Vec<crate::chat::ChatMessage>, String> {
    #[derive(Deserialize)]
    struct Messages {
        messages: Vec<crate::chat::ChatMessage>,
    }
    let url = format!("{}/_chat/messages", chat_url.trim_end_matches('/'));
    Ok(get_json::<Messages>(&url).await?.messages)
}
