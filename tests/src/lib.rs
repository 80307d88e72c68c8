//! The integration-test harness: a private stack (table, queues, DLQs, SES identity) on the
//! local AWS-API emulator for each test, the real API handler and the real email worker wired
//! to it through the production adapters, and the local event source mapping between them.
//!
//! The emulator is started here when none answers, so `cargo test` works on its own once
//! `scripts/tools.sh` has installed it (`make test` does both).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use http::StatusCode;
use lambda_http::Body;
use notify_api::{ApiConfig, ApiKeys, App};
use notify_email_worker::EmailWorkerConfig;
use notify_local::{
    esm::{BatchReport, EventSourceMapping, Source},
    outbox::{self, SentEmail},
    resources::{self, Stack, StackSpec},
};
use notify_shared::{
    clock::SystemClock,
    config::{DeliverySettings, EmailSettings, StoreSettings},
    delivery::DeliveryWorker,
    domain::{Channel, EmailAddress, Priority},
    queue::SqsQueue,
    store::DynamoStore,
};
use serde_json::Value;

pub const API_KEY: &str = "ndk_integration_test_key_0001";
pub const SENDER: &str = "noreply@example.com";
/// Receives before a message goes to its dead-letter queue in test stacks.
pub const MAX_RECEIVES: u32 = 3;
/// Short, so a kept message comes back quickly; long enough that a batch finishes first.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(2);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator's URL: `NOTIFY_TEST_EMULATOR_URL`, or `dev/emulator.py` on 127.0.0.1:4567, which is
/// started (once, under a file lock shared by all test processes) if nothing answers there.
pub async fn emulator() -> String {
    let url = std::env::var("NOTIFY_TEST_EMULATOR_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4567".into());
    if answers(&url).await {
        return url;
    }
    let target = workspace_root().join("target");
    std::fs::create_dir_all(&target).expect("create target/");
    let lock = std::fs::File::create(target.join("test-emulator.lock")).expect("create lock file");
    lock.lock().expect("lock the emulator start");
    if !answers(&url).await {
        start_moto(&url, &target);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers(&url).await {
            assert!(
                Instant::now() < deadline,
                "the emulator did not start; see target/test-emulator.log"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    url
}

async fn answers(url: &str) -> bool {
    let probe = reqwest::Client::new()
        .get(format!("{url}/moto-api/data.json"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    probe.is_ok_and(|r| r.status().is_success())
}

#[expect(
    clippy::zombie_processes,
    reason = "the emulator must outlive this test process to serve the next ones; it is never waited on"
)]
fn start_moto(url: &str, target: &Path) {
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
    let port = port.expect("NOTIFY_TEST_EMULATOR_URL must end with :<port>");
    let python = workspace_root().join(".dev/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/tools.sh` (or `make test`, which runs it) to install the emulator",
        python.display()
    );
    let log = std::fs::File::create(target.join("test-emulator.log")).expect("create emulator log");
    let mut cmd = Command::new(python);
    cmd.arg(workspace_root().join("dev/emulator.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log);
    // Its own process group: it outlives this test process and serves the next ones.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().expect("start the emulator");
}

/// Options for a test stack.
pub struct StackOptions {
    /// The sender the worker uses; an address SES has not verified makes SES reject sends.
    pub sender: String,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            sender: SENDER.into(),
        }
    }
}

/// One test's private stack and the functions wired to it.
pub struct TestStack {
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub stack: Stack,
    pub api: App,
    pub worker: Arc<DeliveryWorker>,
    pub mapping: EventSourceMapping,
}

impl TestStack {
    pub async fn new() -> Self {
        Self::with(StackOptions::default()).await
    }

    pub async fn with(options: StackOptions) -> Self {
        let endpoint = emulator().await;
        let sdk = notify_local::sdk_config(&endpoint).await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let spec = StackSpec {
            prefix,
            channels: vec![Channel::Email],
            max_receives: MAX_RECEIVES,
            visibility_timeout_secs: VISIBILITY_TIMEOUT.as_secs() as u32,
            email_from: SENDER.into(),
        };
        let stack = resources::create(&sdk, spec)
            .await
            .expect("create the test stack");
        let store = StoreSettings {
            table: stack.table.clone(),
            retention: Duration::from_secs(86_400),
        };

        let api = App::new(
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &stack.table,
            )),
            Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(&sdk),
                stack.queue_urls(),
            )),
            Arc::new(SystemClock),
            ApiConfig {
                store: store.clone(),
                queues: stack.queue_urls(),
                keys: ApiKeys::parse(&format!("test:{API_KEY}")).expect("test key"),
                max_body_bytes: 1024 * 1024,
            },
        );
        let worker = Arc::new(notify_email_worker::worker(
            &sdk,
            EmailWorkerConfig {
                store,
                delivery: DeliverySettings {
                    max_receives: MAX_RECEIVES,
                    concurrency: 10,
                    lease: Duration::from_secs(60),
                },
                email: EmailSettings {
                    from: EmailAddress::parse(&options.sender).expect("sender address"),
                    configuration_set: None,
                },
            },
        ));
        let mapping = EventSourceMapping::new(
            aws_sdk_sqs::Client::new(&sdk),
            stack
                .queues
                .iter()
                .map(|q| Source {
                    priority: q.priority,
                    url: q.url.clone(),
                    arn: q.arn.clone(),
                })
                .collect(),
            worker.clone(),
        );
        Self {
            endpoint,
            sdk,
            stack,
            api,
            worker,
            mapping,
        }
    }

    /// Calls the API handler as API Gateway would, with the test key unless `key` says otherwise.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(API_KEY), "application/json")
            .await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        key: Option<&str>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = req
            .body(
                body.map(|b| Body::Text(b.to_owned()))
                    .unwrap_or(Body::Empty),
            )
            .expect("request");
        let response = self.api.handle(req).await;
        let status = response.status();
        let bytes: &[u8] = response.body().as_ref();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes).expect("JSON response body")
        };
        (status, json)
    }

    /// `POST /v1/notifications`, expecting 202; returns the new id.
    pub async fn send(&self, body: &Value) -> String {
        let (status, response) = self
            .call("POST", "/v1/notifications", Some(&body.to_string()))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{response}");
        response["id"].as_str().expect("id").to_owned()
    }

    pub async fn notification(&self, id: &str) -> Value {
        let (status, body) = self
            .call("GET", &format!("/v1/notifications/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Delivers batches until every queue reads empty (kept messages are invisible for the
    /// visibility timeout, so this returns while they wait).
    pub async fn deliver_all(&self) -> Vec<BatchReport> {
        let mut reports = Vec::new();
        while let Some(report) = self.mapping.poll_once().await.expect("poll") {
            reports.push(report);
        }
        reports
    }

    /// Emails SES accepted for `to`.
    pub async fn emails_to(&self, to: &str) -> Vec<SentEmail> {
        outbox::sent_emails(&self.endpoint)
            .await
            .expect("read the emulator's outbox")
            .into_iter()
            .filter(|e| e.to.iter().any(|a| a == to))
            .collect()
    }

    pub fn queue_url(&self, priority: Priority) -> &str {
        &self
            .stack
            .queue(Channel::Email, priority)
            .expect("queue")
            .url
    }

    pub fn dlq_url(&self, priority: Priority) -> &str {
        &self
            .stack
            .queue(Channel::Email, priority)
            .expect("queue")
            .dlq_url
    }

    /// Puts a raw body on a queue, as a duplicate delivery or a foreign producer would.
    pub async fn put_raw(&self, priority: Priority, body: &str) {
        aws_sdk_sqs::Client::new(&self.sdk)
            .send_message()
            .queue_url(self.queue_url(priority))
            .message_body(body)
            .send()
            .await
            .expect("send raw message");
    }

    /// All messages currently visible on a queue (received and left to reappear).
    pub async fn peek(&self, url: &str) -> Vec<String> {
        let out = aws_sdk_sqs::Client::new(&self.sdk)
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }
}

/// A unique recipient, so a test finds its own emails in the shared emulator.
pub fn unique_recipient() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}
