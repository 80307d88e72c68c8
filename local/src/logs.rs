//! CloudWatch Logs' part of SMS receipts: a subscription filter that hands new records of
//! SNS's SMS delivery status log groups to the events function, as CloudWatch Logs invokes
//! a Lambda function (`{"awslogs": {"data": <base64 of the gzipped batch>}}`).

use std::{collections::HashSet, io::Write, sync::Mutex};

use aws_config::SdkConfig;
use base64::Engine;
use serde_json::{Value, json};

/// The account the emulator gives every request (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// The groups SNS writes SMS delivery status to: successes, then failures.
pub fn sms_status_log_groups() -> [String; 2] {
    let base = format!("sns/{}/{ACCOUNT}/DirectPublishToPhoneNumber", crate::REGION);
    [base.clone(), format!("{base}/Failure")]
}

/// Reads what was logged since it last looked, once per record.
pub struct LogsSubscription {
    client: aws_sdk_cloudwatchlogs::Client,
    groups: Vec<String>,
    seen: Mutex<HashSet<String>>,
    /// Only records logged from here on (epoch milliseconds).
    since_ms: i64,
}

impl LogsSubscription {
    pub fn new(sdk: &SdkConfig, groups: Vec<String>) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self {
            client: aws_sdk_cloudwatchlogs::Client::new(sdk),
            groups,
            seen: Mutex::new(HashSet::new()),
            // A little before now: what the emulator logged while this started counts.
            since_ms: now - 60_000,
        }
    }

    /// The new records of each group, as the invocation payload CloudWatch Logs would send
    /// (one per group that has any).
    pub async fn poll_once(&self) -> Result<Vec<Value>, String> {
        self.poll_events()
            .await?
            .into_iter()
            .map(|(group, events)| payload(&group, events))
            .collect()
    }

    /// The new records (`{id, timestamp, message}`) of each group that has any.
    pub async fn poll_events(&self) -> Result<Vec<(String, Vec<Value>)>, String> {
        let mut found = Vec::new();
        for group in &self.groups {
            let mut events = Vec::new();
            let mut next = None;
            loop {
                let out = match self
                    .client
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(self.since_ms)
                    .set_next_token(next.take())
                    .send()
                    .await
                {
                    Ok(out) => out,
                    // The group appears with SNS's first record.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        break;
                    }
                    Err(e) => {
                        return Err(format!(
                            "{group}: {}",
                            aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e)
                        ));
                    }
                };
                for e in out.events.unwrap_or_default() {
                    let id = e.event_id.clone().unwrap_or_default();
                    if self
                        .seen
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone())
                    {
                        events.push(json!({
                            "id": id,
                            "timestamp": e.timestamp.unwrap_or_default(),
                            "message": e.message.unwrap_or_default(),
                        }));
                    }
                }
                match out.next_token {
                    Some(token) if !token.is_empty() => next = Some(token),
                    _ => break,
                }
            }
            if !events.is_empty() {
                found.push((group.clone(), events));
            }
        }
        Ok(found)
    }
}

/// CloudWatch Logs' invocation payload for `events` of `group`.
pub fn payload(group: &str, events: Vec<Value>) -> Result<Value, String> {
    let batch = json!({
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": group,
        "logStream": "local",
        "subscriptionFilters": ["notify-sms-status"],
        "logEvents": events,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(batch.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let zipped = gz.finish().map_err(|e| e.to_string())?;
    Ok(json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(zipped)}}))
}
