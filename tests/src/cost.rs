//! What a notification costs in AWS requests, from accept to `sent`: the real API and workers
//! on a stack whose every AWS request goes through the [`Meter`](crate::meter::Meter). The
//! cost test asserts bounds on it; `make bench` prints it.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::{API_KEY, StackOptions, TestStack, meter::Usage, unique_mobile, unique_recipient};

/// One case's bill, per notification.
#[derive(Debug, Clone)]
pub struct Cost {
    pub case: &'static str,
    pub notifications: usize,
    /// Write units of the writes that created its items (record, and content when apart).
    pub record_units: f64,
    /// Write units of every later write to its items: the status changes.
    pub status_units: f64,
    /// Write units of anything else written for it (a batch's header).
    pub other_units: f64,
    pub read_units: f64,
    pub sqs_requests: f64,
    /// The largest its record item grew (bytes).
    pub record_size: usize,
}

/// DynamoDB on-demand and SQS standard list prices, us-east-1, USD (checked 2026-12-01).
pub const PER_MILLION_WRITE_UNITS: f64 = 0.625;
pub const PER_MILLION_READ_UNITS: f64 = 0.125;
pub const PER_MILLION_SQS_REQUESTS: f64 = 0.40;

impl Cost {
    pub fn write_units(&self) -> f64 {
        self.record_units + self.status_units + self.other_units
    }

    /// DynamoDB and SQS, at list prices, in USD.
    pub fn dollars(&self) -> f64 {
        (self.write_units() * PER_MILLION_WRITE_UNITS
            + self.read_units * PER_MILLION_READ_UNITS
            + self.sqs_requests * PER_MILLION_SQS_REQUESTS)
            / 1e6
    }

    fn of(case: &'static str, notifications: usize, usage: &Usage) -> Self {
        let n = notifications as f64;
        let mut cost = Self {
            case,
            notifications,
            record_units: 0.0,
            status_units: 0.0,
            other_units: 0.0,
            read_units: usage.read_units / n,
            sqs_requests: usage.sqs_requests() as f64 / n,
            record_size: 0,
        };
        for w in &usage.writes {
            let units = w.units() as f64 / n;
            if !w.pk.starts_with("NOTIFICATION#") {
                cost.other_units += units;
            } else if w.created {
                cost.record_units += units;
            } else {
                cost.status_units += units;
            }
            if w.pk.starts_with("NOTIFICATION#") && w.sk == "NOTIFICATION" {
                cost.record_size = cost.record_size.max(w.size);
            }
        }
        cost
    }
}

/// An HTML email of about `bytes`.
fn email(bytes: usize) -> Value {
    let paragraph = "<p>Your order has shipped and is on its way to you.</p>\n";
    json!({
        "channel": "email",
        "to": unique_recipient(),
        "subject": "Your order has shipped",
        "html": paragraph.repeat(bytes.div_ceil(paragraph.len())),
    })
}

/// Sends one notification on a metered stack and delivers it; what it cost.
async fn one(t: &TestStack, case: &'static str, body: Value) -> Cost {
    let meter = t.meter.as_ref().expect("a metered stack");
    meter.take();
    let id = t.send(&body).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        t.deliver_all().await;
        let view = meter.unmetered(t.notification(&id)).await;
        if view["status"] == "sent" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{case}: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Cost::of(case, 1, &meter.take())
}

/// The bill of each case: emails of 300 bytes and of 100 KB, an SMS, a push to a user's
/// device, and a batch of 1,000 emails.
pub async fn measure() -> Vec<Cost> {
    let t = TestStack::with(StackOptions {
        metered: true,
        ..Default::default()
    })
    .await;
    t.register_device("cost-user", "cost-device-token", "android")
        .await;
    let mut costs = vec![
        one(&t, "email, 300 B", email(300)).await,
        one(&t, "email, 100 KB", email(100 * 1024)).await,
        one(
            &t,
            "SMS",
            json!({"channel": "sms", "to": unique_mobile(), "message": "Your code is 123456"}),
        )
        .await,
        one(
            &t,
            "push (one device)",
            json!({"channel": "push", "userId": "cost-user", "title": "Hi", "body": "Order 42 shipped"}),
        )
        .await,
    ];
    costs.push(batch(&t, 1_000).await);
    costs
}

async fn batch(t: &TestStack, size: usize) -> Cost {
    let meter = t.meter.as_ref().expect("a metered stack");
    let recipients: Vec<Value> = (0..size)
        .map(|i| json!({"to": unique_recipient(), "data": {"name": format!("P{i}")}}))
        .collect();
    let body = json!({
        "channel": "email",
        "batchId": "cost-batch",
        "subject": "Hello {{name}}",
        "text": "Dear {{name}}, the meetup starts soon.",
        "recipients": recipients,
    });
    meter.take();
    let (status, answer) = TestStack::call_app(
        &t.api,
        "POST",
        "/v1/notifications/batch",
        Some(&body.to_string()),
        Some(API_KEY),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        t.deliver_all().await;
        let (_, summary) = meter
            .unmetered(t.call("GET", "/v1/batches/cost-batch", None))
            .await;
        if summary["complete"] == true {
            assert_eq!(summary["statuses"], json!({"sent": size}), "{summary}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{summary}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Cost::of("batch of 1,000 emails", size, &meter.take())
}

/// The bills as a markdown table.
pub fn table(costs: &[Cost]) -> String {
    let mut out = String::from(
        "| per notification | write units: record | status changes | other | read units | SQS requests | DynamoDB + SQS, USD | record item |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in costs {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.7} | {} B |\n",
            c.case,
            c.record_units,
            c.status_units,
            c.other_units,
            c.read_units,
            c.sqs_requests,
            c.dollars(),
            c.record_size
        ));
    }
    out
}
