//! How long a worker takes over one SQS batch of 10 emails when the provider answers each send
//! in 100 ms: with the shipped concurrency inside the batch (`NOTIFY_WORKER_CONCURRENCY`,
//! default 10) the batch takes about one provider call, one at a time it takes ten. In-memory
//! ports (the API accepts the ten, the worker claims, sends and settles them), so the figure is
//! the worker's own overhead over the provider's latency. Reported, not asserted.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use http::StatusCode;
use lambda_http::Body;
use notify_shared::{
    clock::SystemClock,
    config::DeliverySettings,
    delivery::DeliveryWorker,
    domain::Channel,
    provider::ScriptedProvider,
    queue::{MemoryRedelivery, MessageBody},
};
use notify_tests::{API_KEY, memory_app};
use serde_json::json;

const BATCH: usize = 10;
const PROVIDER_LATENCY: Duration = Duration::from_millis(100);

/// One batch through a worker with `concurrency`; the wall time of `handle`.
async fn batch(concurrency: usize) -> Duration {
    let (app, store, queue) = memory_app();
    for i in 0..BATCH {
        let req = http::Request::builder()
            .method("POST")
            .uri("/v1/notifications")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(Body::Text(
                json!({"channel": "email", "to": format!("reader-{i}@example.com"), "subject": "Hi", "text": "t"})
                    .to_string(),
            ))
            .expect("request");
        assert_eq!(app.handle(req).await.status(), StatusCode::ACCEPTED);
    }
    let mut event = SqsEvent::default();
    event.records = queue
        .messages()
        .into_iter()
        .enumerate()
        .map(|(i, (message, _))| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m-{i}"));
            m.receipt_handle = Some(format!("rh-{i}"));
            m.body = Some(message.to_body());
            m.attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            m
        })
        .collect();
    assert_eq!(event.records.len(), BATCH);
    let provider = Arc::new(ScriptedProvider::new(Channel::Email).with_latency(PROVIDER_LATENCY));
    let worker = DeliveryWorker::new(
        store,
        provider.clone(),
        Arc::new(MemoryRedelivery::new()),
        Arc::new(SystemClock),
        DeliverySettings {
            max_receives: 5,
            concurrency,
            lease: Duration::from_secs(120),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(900),
            breaker_threshold: 10,
            breaker_cooldown: Duration::from_secs(30),
            send_rate: None,
        },
    );
    let started = Instant::now();
    let answer = worker.handle(event).await;
    let took = started.elapsed();
    assert!(
        answer.batch_item_failures.is_empty(),
        "every message is done"
    );
    assert_eq!(provider.calls().len(), BATCH, "each sent once");
    took
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` wants a quick check.
    let runs = if std::env::args().any(|a| a == "--bench") {
        9
    } else {
        1
    };
    for concurrency in [10, 1] {
        let mut times = Vec::new();
        for _ in 0..runs {
            times.push(batch(concurrency).await);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let median = times[times.len() / 2];
        println!(
            "worker, a batch of {BATCH} emails, provider answering in {} ms, concurrency {concurrency}: median {:.0} ms over {runs} runs (best {:.0}, worst {:.0}); {:.2}x one provider call",
            PROVIDER_LATENCY.as_millis(),
            ms(median),
            ms(times[0]),
            ms(times[times.len() - 1]),
            median.as_secs_f64() / PROVIDER_LATENCY.as_secs_f64(),
        );
    }
}
