//! How long the API takes to accept a batch of 10,000 recipients, end to end through the real
//! handler: parse, render each recipient, write the records (`BatchWriteItem`), send the
//! messages (`SendMessageBatch`), confirm the records. Reported, not asserted: run with
//! `make bench` (or `cargo bench -p notify-tests --bench batch_accept`).
//!
//! - in-memory ports: the service's own cost (validation, rendering, bookkeeping);
//! - the local emulator: the same plus the AWS calls over loopback HTTP (the emulator answers
//!   one request at a time, so this is a floor on throughput, not a forecast of AWS).

use std::time::{Duration, Instant};

use http::StatusCode;
use lambda_http::Body;
use notify_api::App;
use notify_tests::{API_KEY, TestStack, memory_app};
use serde_json::{Value, json};

const RECIPIENTS: usize = 10_000;

/// A newsletter-like batch: a built-in template, shared data, a name per recipient.
fn body(run: usize) -> String {
    let recipients: Vec<Value> = (0..RECIPIENTS)
        .map(|i| json!({"to": format!("reader-{run}-{i}@example.com"), "data": {"name": format!("Reader {i}")}}))
        .collect();
    json!({
        "channel": "email",
        "template": "newsletter",
        "locale": "fr",
        "priority": "low",
        "data": {"month": "Janvier 2027"},
        "recipients": recipients,
    })
    .to_string()
}

/// Posts the batch and returns the wall time of the call.
async fn accept(app: &App, body: String) -> Duration {
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/notifications/batch")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {API_KEY}"))
        .body(Body::Text(body))
        .expect("request");
    let started = Instant::now();
    let resp = app.handle(req).await;
    let took = started.elapsed();
    let answer: Value = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["accepted"], RECIPIENTS, "{}", answer["errors"]);
    took
}

fn report(label: &str, runs: &[Duration]) {
    let mut sorted = runs.to_vec();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: {} recipients, {} runs: median {:.0} ms, best {:.0} ms, worst {:.0} ms ({:.0} recipients/s at the median)",
        RECIPIENTS,
        runs.len(),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
        RECIPIENTS as f64 / sorted[sorted.len() / 2].as_secs_f64(),
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick
    // check: one run of each.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };

    let memory: Vec<Duration> = {
        let mut times = Vec::new();
        for run in 0..runs {
            times.push(accept(&memory_app().0, body(run)).await);
        }
        times
    };
    report("in-memory ports", &memory);

    let emulator_runs = if quick { 1 } else { 3 };
    let mut emulator = Vec::new();
    for run in 0..emulator_runs {
        // A fresh stack each run, so no run pays for the one before (the emulator's tables
        // grow and it slows with them).
        let t = TestStack::new().await;
        emulator.push(accept(&t.api, body(run)).await);
    }
    report("local emulator (moto)", &emulator);
}
