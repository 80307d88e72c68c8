//! What the emulated providers were asked to send, read from the emulator's state
//! (moto's `/moto-api/data.json`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One email SES accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// The SES message id (the notification's `providerMessageId`).
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
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

async fn state(endpoint: &str) -> Result<Value, String> {
    get_json(&format!(
        "{}/moto-api/data.json",
        endpoint.trim_end_matches('/')
    ))
    .await
}

/// Every email SES accepted, oldest first.
pub async fn sent_emails(endpoint: &str) -> Result<Vec<SentEmail>, String> {
    let state = state(endpoint).await?;
    let messages = state["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(messages
        .iter()
        .map(|m| SentEmail {
            id: m["id"].as_str().unwrap_or_default().to_owned(),
            source: m["source"].as_str().unwrap_or_default().to_owned(),
            to: m["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
            body: m["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// One SMS SNS accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentSms {
    pub message_id: String,
    pub phone_number: String,
    pub message: String,
}

/// Every SMS SNS accepted, oldest first.
pub async fn sent_sms(endpoint: &str) -> Result<Vec<SentSms>, String> {
    let state = state(endpoint).await?;
    let messages = state["sns"]["SMS"].as_array().cloned().unwrap_or_default();
    Ok(messages
        .iter()
        .map(|m| SentSms {
            message_id: m["message_id"].as_str().unwrap_or_default().to_owned(),
            phone_number: m["phone_number"].as_str().unwrap_or_default().to_owned(),
            message: m["message"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Every push the FCM stand-in accepted, oldest first.
pub async fn sent_pushes(fcm_url: &str) -> Result<Vec<crate::fcm::ReceivedPush>, String> {
    get_json(&format!(
        "{}/_standin/messages",
        fcm_url.trim_end_matches('/')
    ))
    .await
}
