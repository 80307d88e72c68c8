//! The integration-test harness: a private stack (table, nine queues with DLQs, SES identity,
//! FCM key secret) on the local AWS-API emulator for each test, an FCM stand-in of its own,
//! the real API handler and the real email, SMS and push workers wired to them through the
//! production adapters, and the local event source mapping between queues and workers.
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
use notify_api::{AdminKeys, ApiConfig, ApiKeys, App, Ports};
use notify_cleanup::Cleanup;
use notify_email_worker::EmailWorkerConfig;
use notify_local::{
    esm::{BatchReport, EventSourceMapping},
    fcm::{DevCredentials, FcmStandIn},
    outbox::{self, SentEmail, SentSms},
    receiver::{TableSecrets, WebhookReceiver},
    resources::{self, FcmSpec, Stack, StackSpec},
};
use notify_push_worker::PushWorkerConfig;
use notify_shared::{
    clock::{Clock, SystemClock},
    config::{DeliverySettings, EmailSettings, StoreSettings},
    delivery::DeliveryWorker,
    domain::{Channel, EmailAddress, Priority},
    health::SqsQueueHealth,
    provider::{CredentialsSource, FcmConfig, SmsSettings, SmsType, WebhookSettings},
    queue::{NotificationQueue, QueueError, QueueMessage, SqsDeadLetters, SqsQueue},
    store::DynamoStore,
    webhook::{Lookup, UrlPolicy},
};
use notify_sms_worker::SmsWorkerConfig;
use notify_webhook_worker::WebhookWorkerConfig;
use serde_json::Value;

pub mod cost;
pub mod meter;

pub const API_KEY: &str = "ndk_integration_test_key_0001";
/// Another tenant's key (`other`), to show what one tenant cannot see of another's.
pub const OTHER_API_KEY: &str = "ndk_integration_other_key_0002";
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
        .get(format!("{url}/_notify/health"))
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

/// How long the test webhook worker waits for a receiver: short, so a slow receiver times out.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// The webhook worker's DNS in tests: names answer what a test says, and nothing else
/// resolves (no test ever asks a real resolver, or sends traffic off loopback).
#[derive(Default, Clone)]
pub struct TestDns(Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<std::net::IpAddr>>>>);

impl TestDns {
    pub fn answer(&self, host: &str, addrs: &[&str]) {
        let addrs = addrs
            .iter()
            .map(|a| a.parse().expect("an IP address"))
            .collect();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_owned(), addrs);
    }
}

impl Lookup for TestDns {
    fn lookup(
        &self,
        host: String,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send>,
    > {
        let found = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&host)
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: no such test host"),
                )
            })
        })
    }
}

/// Options for a test stack.
pub struct StackOptions {
    /// The sender the email worker uses; an address SES has not verified makes SES reject sends.
    pub sender: String,
    /// Transient failures in a row that open a worker's circuit breaker (high: off).
    pub breaker_threshold: u32,
    /// Every AWS request goes through a [`meter::Meter`], which counts what AWS bills.
    pub metered: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            sender: SENDER.into(),
            breaker_threshold: 1000,
            metered: false,
        }
    }
}

pub const ADMIN_KEY: &str = "nak_integration_test_admin_key";

/// A queue whose sends never finish: the accept path dies between its two writes when the
/// request is abandoned (as Lambda does at its timeout).
pub struct HangingQueue;

#[async_trait::async_trait]
impl NotificationQueue for HangingQueue {
    async fn enqueue(&self, _message: &QueueMessage, _delay: Duration) -> Result<(), QueueError> {
        std::future::pending().await
    }
}

/// One test's private stack (table, nine queues with DLQs, SES identity, FCM key secret), an
/// FCM stand-in of its own, and the real functions wired to them.
pub struct TestStack {
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub stack: Stack,
    pub api: App,
    pub store: Arc<DynamoStore>,
    pub store_settings: StoreSettings,
    pub fcm: FcmStandIn,
    /// A webhook receiver of this stack's, on loopback, verifying with this stack's secrets.
    pub receiver: WebhookReceiver,
    /// `http://127.0.0.1:<port>`.
    pub receiver_url: String,
    /// API Gateway's WebSocket API, on loopback, in front of the realtime function.
    pub websocket: notify_local::websocket::WebSocketStandIn,
    /// `ws://127.0.0.1:<port>`.
    pub websocket_url: String,
    /// Slack's and Teams' stand-in, on loopback.
    pub chat: notify_local::chat::ChatStandIn,
    /// `http://127.0.0.1:<port>`.
    pub chat_url: String,
    pub dns: TestDns,
    /// With [`StackOptions::metered`]: what the stack's AWS requests cost.
    pub meter: Option<meter::Meter>,
    mappings: Vec<(Channel, EventSourceMapping)>,
    /// Between the events queue (SES's events, through SNS) and the events function.
    events: EventSourceMapping,
    events_function: Arc<notify_events::Receipts>,
    /// SNS's SMS delivery status log groups, as their subscription filters read them.
    sms_statuses: notify_local::logs::LogsSubscription,
    /// The table's stream, as the changes function's event source mapping reads it.
    stream: tokio::sync::Mutex<notify_local::stream::StreamReader>,
    changes: notify_changes::Changes,
    /// Between the callbacks queue and the callbacks function.
    callbacks: EventSourceMapping,
}

/// The callbacks function in-process, as the local event source mapping invokes it.
struct CallbacksFunction(notify_callbacks::Callbacks);

#[async_trait::async_trait]
impl notify_local::esm::Invoke for CallbacksFunction {
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
    ) -> Result<aws_lambda_events::event::sqs::SqsBatchResponse, String> {
        Ok(self.0.handle(event).await)
    }
}

/// The realtime function in-process, as the WebSocket stand-in invokes it.
struct RealtimeFunction(notify_realtime::Realtime);

#[async_trait::async_trait]
impl notify_local::websocket::InvokeJson for RealtimeFunction {
    async fn invoke_json(&self, event: &Value) -> Result<Value, String> {
        Ok(self.0.handle(event).await)
    }
}

/// The events function in-process, as the local event source mapping invokes it.
struct EventsFunction(Arc<notify_events::Receipts>);

#[async_trait::async_trait]
impl notify_local::esm::Invoke for EventsFunction {
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
    ) -> Result<aws_lambda_events::event::sqs::SqsBatchResponse, String> {
        Ok(self.0.handle(event).await)
    }
}

/// Fast retries, so a test sees a transient failure retried within a second or two.
fn delivery_settings(options: &StackOptions) -> DeliverySettings {
    DeliverySettings {
        max_receives: MAX_RECEIVES,
        concurrency: 10,
        lease: Duration::from_secs(60),
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(2),
        breaker_threshold: options.breaker_threshold,
        breaker_cooldown: Duration::from_secs(2),
        send_rate: None,
    }
}

impl TestStack {
    pub async fn new() -> Self {
        Self::with(StackOptions::default()).await
    }

    pub async fn with(options: StackOptions) -> Self {
        let emulator = emulator().await;
        let meter = match options.metered {
            true => Some(meter::Meter::start(&emulator).await),
            false => None,
        };
        let endpoint = meter.as_ref().map_or(emulator, |m| m.url.clone());
        let sdk = notify_local::sdk_config(&endpoint).await;

        // The FCM stand-in first: the key it verifies is the one stored for the push worker.
        let fcm_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let fcm_addr = fcm_listener.local_addr().expect("address");
        drop(fcm_listener);
        let fcm_url = format!("http://{fcm_addr}");
        let credentials =
            DevCredentials::generate("notify-test", &format!("{fcm_url}/token")).expect("test key");
        let fcm = FcmStandIn::new(&credentials);
        fcm.clone()
            .serve(fcm_addr)
            .await
            .expect("start the FCM stand-in");

        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let spec = StackSpec {
            prefix,
            channels: Channel::ALL.to_vec(),
            max_receives: MAX_RECEIVES,
            visibility_timeout_secs: VISIBILITY_TIMEOUT.as_secs() as u32,
            email_from: SENDER.into(),
            fcm: Some(FcmSpec {
                account_json: credentials.account_json.clone(),
                base_url: fcm_url.clone(),
            }),
        };
        let stack = resources::create(&sdk, spec)
            .await
            .expect("create the test stack");
        let store_settings = StoreSettings {
            table: stack.table.clone(),
            retention: Duration::from_secs(86_400),
            lifetime: Duration::from_secs(3600),
        };
        let store = Arc::new(DynamoStore::from_sdk(&sdk, &stack.table));

        let email = notify_email_worker::worker(
            &sdk,
            EmailWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                email: EmailSettings {
                    from: EmailAddress::parse(&options.sender).expect("sender address"),
                    // Publishes SES's events for the mailbox simulator's addresses.
                    configuration_set: stack.events.as_ref().map(|e| e.configuration_set.clone()),
                },
            },
        );
        let sms = notify_sms_worker::worker(
            &sdk,
            SmsWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                sms: SmsSettings {
                    sender_id: Some("NOTIFY".into()),
                    normal_type: SmsType::Transactional,
                    opt_out_cache: Duration::from_secs(300),
                },
            },
        );
        let push = notify_push_worker::worker(
            &sdk,
            PushWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                fcm: FcmConfig {
                    credentials: CredentialsSource::Secret(
                        stack.fcm_secret.clone().expect("FCM secret"),
                    ),
                    project_id: None,
                    base_url: fcm_url,
                    token_url: None,
                },
            },
        )
        .await
        .expect("the push worker starts with the key from Secrets Manager");

        let receiver = WebhookReceiver::new(Arc::new(TableSecrets::new(&sdk, &stack.table)));
        let (receiver_addr, _) = receiver
            .clone()
            .serve("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("start the webhook receiver");
        let dns = TestDns::default();
        let webhook = notify_webhook_worker::worker_with_lookup(
            &sdk,
            WebhookWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                webhook: WebhookSettings {
                    timeout: WEBHOOK_TIMEOUT,
                    policy: UrlPolicy::AllowLoopback,
                },
            },
            Arc::new(dns.clone()),
        )
        .expect("the webhook worker starts");

        // The WebSocket API's stand-in in front of the realtime function, and the in-app
        // worker posting to its connections through the management API.
        let realtime = Arc::new(RealtimeFunction(notify_realtime::Realtime::on_aws(
            &sdk,
            notify_realtime::RealtimeConfig {
                store: store_settings.clone(),
            },
        )));
        let websocket = notify_local::websocket::WebSocketStandIn::new(realtime);
        let (websocket_addr, _) = websocket
            .clone()
            .serve("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("start the WebSocket stand-in");
        let in_app = notify_in_app_worker::worker(
            &sdk,
            notify_in_app_worker::InAppWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                websocket_endpoint: format!("http://{websocket_addr}"),
            },
        )
        .expect("the in-app worker starts");

        // Slack's and Teams' stand-in, and the chat worker posting to it (its Web API too).
        let chat_standin = notify_local::chat::ChatStandIn::new();
        let (chat_addr, _) = chat_standin
            .clone()
            .serve("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("start the Slack and Teams stand-in");
        let chat = notify_chat_worker::worker_with_lookup(
            &sdk,
            notify_chat_worker::ChatWorkerConfig {
                store: store_settings.clone(),
                delivery: delivery_settings(&options),
                chat: notify_shared::provider::ChatSettings {
                    webhook: WebhookSettings {
                        timeout: WEBHOOK_TIMEOUT,
                        policy: UrlPolicy::AllowLoopback,
                    },
                    slack_api_url: format!("http://{chat_addr}/slack/api"),
                },
            },
            Arc::new(dns.clone()),
        )
        .expect("the chat worker starts");

        let workers: Vec<(Channel, DeliveryWorker)> = vec![
            (Channel::Email, email),
            (Channel::Sms, sms),
            (Channel::Push, push),
            (Channel::Webhook, webhook),
            (Channel::InApp, in_app),
            (Channel::Chat, chat),
        ];
        // A channel without its worker here would fail its tests with a missing mapping.
        assert!(
            Channel::ALL
                .iter()
                .all(|c| workers.iter().any(|(w, _)| w == c)),
            "every channel's worker runs in the test stack"
        );
        let mappings = workers
            .into_iter()
            .map(|(channel, worker)| {
                let sources = stack.sources(channel);
                (
                    channel,
                    EventSourceMapping::new(
                        aws_sdk_sqs::Client::new(&sdk),
                        sources,
                        Arc::new(worker),
                    ),
                )
            })
            .collect();
        let pipeline = stack.events.as_ref().expect("the SES events pipeline");
        let events_function = Arc::new(notify_events::Receipts::on_aws(
            &sdk,
            notify_events::EventsConfig {
                store: store_settings.clone(),
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(2),
                events_queue_arn: Some(pipeline.arn.clone()),
            },
        ));
        let stream = notify_local::stream::StreamReader::new(&sdk, &endpoint, &stack.table)
            .await
            .expect("the table's stream");
        let changes = notify_changes::Changes::on_aws(
            &sdk,
            notify_changes::ChangesConfig {
                store: store_settings.clone(),
                callbacks_queue_url: Some(stack.callbacks.url.clone()),
            },
        );
        let callbacks_function = notify_callbacks::Callbacks::on_aws_with_lookup(
            &sdk,
            notify_callbacks::CallbacksConfig {
                store: store_settings.clone(),
                webhook: WebhookSettings {
                    timeout: WEBHOOK_TIMEOUT,
                    policy: UrlPolicy::AllowLoopback,
                },
                retry_window: Duration::from_secs(3600),
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(2),
                dead_letter_url: stack.callbacks.dlq_url.clone(),
            },
            Arc::new(dns.clone()),
        )
        .expect("the callbacks function starts");
        let callbacks = EventSourceMapping::new(
            aws_sdk_sqs::Client::new(&sdk),
            vec![notify_local::esm::Source {
                priority: Priority::Normal,
                url: stack.callbacks.url.clone(),
                arn: stack.callbacks.arn.clone(),
            }],
            Arc::new(CallbacksFunction(callbacks_function)),
        );
        let sms_statuses = notify_local::logs::LogsSubscription::new(
            &sdk,
            notify_local::logs::sms_status_log_groups().to_vec(),
        );
        let events = EventSourceMapping::new(
            aws_sdk_sqs::Client::new(&sdk),
            vec![notify_local::esm::Source {
                priority: Priority::Normal,
                url: pipeline.url.clone(),
                arn: pipeline.arn.clone(),
            }],
            Arc::new(EventsFunction(events_function.clone())),
        );
        let api = App::new(
            ports(&sdk, &store, &stack, Arc::new(SystemClock), None),
            api_config(stack.queue_urls(), stack.dlq_urls(), &store_settings),
        );
        Self {
            api,
            endpoint,
            sdk,
            stack,
            store,
            store_settings,
            fcm,
            receiver,
            receiver_url: format!("http://{receiver_addr}"),
            websocket,
            websocket_url: format!("ws://{websocket_addr}"),
            chat: chat_standin,
            chat_url: format!("http://{chat_addr}"),
            dns,
            meter,
            mappings,
            events,
            events_function,
            sms_statuses,
            stream: tokio::sync::Mutex::new(stream),
            changes,
            callbacks,
        }
    }

    /// The API on this stack, with its own clock, and optionally another queue.
    pub fn api_with(
        &self,
        clock: Arc<dyn Clock>,
        queue: Option<Arc<dyn NotificationQueue>>,
    ) -> App {
        App::new(
            ports(&self.sdk, &self.store, &self.stack, clock, queue),
            api_config(
                self.stack.queue_urls(),
                self.stack.dlq_urls(),
                &self.store_settings,
            ),
        )
    }

    /// The API on this stack with some of its ports replaced (a faulty store or queue).
    pub fn api_custom(&self, replace: impl FnOnce(Ports) -> Ports) -> App {
        App::new(
            replace(ports(
                &self.sdk,
                &self.store,
                &self.stack,
                Arc::new(SystemClock),
                None,
            )),
            api_config(
                self.stack.queue_urls(),
                self.stack.dlq_urls(),
                &self.store_settings,
            ),
        )
    }

    /// A queue of this stack, as the API uses it.
    pub fn sqs_queue(&self) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(&self.sdk), self.stack.queue_urls())
    }

    /// The cleanup function on this stack, with its own clock.
    pub fn cleanup(&self, clock: Arc<dyn Clock>) -> Cleanup {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        Cleanup::new(
            self.store.clone(),
            self.store.clone(),
            self.store.clone(),
            Arc::new(SqsQueue::new(sqs.clone(), self.stack.queue_urls())),
            Arc::new(SqsDeadLetters::new(
                sqs,
                self.stack.queue_urls(),
                self.stack.dlq_urls(),
            )),
            clock,
            self.store_settings.lifetime,
        )
    }

    pub fn mapping(&self, channel: Channel) -> &EventSourceMapping {
        &self
            .mappings
            .iter()
            .find(|(c, _)| *c == channel)
            .expect("a mapping per channel")
            .1
    }

    /// Calls the API handler as API Gateway would, with the test key.
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
        Self::call_app(
            &self.api,
            method,
            path,
            body,
            key,
            &[("content-type", content_type)],
        )
        .await
    }

    /// Calls `app` (this stack's API, or another built with [`api_with`](Self::api_with)) with
    /// `key` and extra headers.
    pub async fn call_app(
        app: &App,
        method: &str,
        path: &str,
        body: Option<&str>,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = http::Request::builder().method(method).uri(path);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(
                body.map(|b| Body::Text(b.to_owned()))
                    .unwrap_or(Body::Empty),
            )
            .expect("request");
        let response = app.handle(req).await;
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

    /// `PUT /v1/users/{user}/devices/{token}`.
    pub async fn register_device(&self, user: &str, token: &str, platform: &str) {
        let body = serde_json::json!({ "platform": platform }).to_string();
        let (status, answer) = self
            .call(
                "PUT",
                &format!("/v1/users/{user}/devices/{token}"),
                Some(&body),
            )
            .await;
        assert!(status.is_success(), "{status}: {answer}");
    }

    /// Delivers batches of every channel until every queue reads empty (kept messages are
    /// invisible until their retry, so this returns while they wait).
    pub async fn deliver_all(&self) -> Vec<BatchReport> {
        let mut reports = Vec::new();
        for (_, mapping) in &self.mappings {
            while let Some(report) = mapping.poll_once().await.expect("poll") {
                reports.push(report);
            }
        }
        self.deliver_sms_statuses().await;
        reports.extend(self.deliver_events().await);
        reports
    }

    /// Delivers until the notification's status is `status`, waiting out retries; returns the
    /// last view either way.
    pub async fn deliver_until(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            self.deliver_all().await;
            let view = self.notification(id).await;
            if view["status"] == status || Instant::now() > deadline {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Delivers until the notification leaves `queued`/`sending`, waiting out retries.
    pub async fn deliver_until_settled(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            self.deliver_all().await;
            let view = self.notification(id).await;
            let status = view["status"].as_str().unwrap_or_default().to_owned();
            if !matches!(status.as_str(), "queued" | "sending") || Instant::now() > deadline {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Emails SES accepted for `to`.
    pub async fn emails_to(&self, to: &str) -> Vec<SentEmail> {
        outbox::sent_emails(&self.endpoint, Some(to))
            .await
            .expect("read the emulator's outbox")
    }

    /// SMS SNS accepted for `number`.
    pub async fn sms_to(&self, number: &str) -> Vec<SentSms> {
        outbox::sent_sms(&self.endpoint, Some(number))
            .await
            .expect("read the emulator's outbox")
    }

    pub fn queue_url(&self, channel: Channel, priority: Priority) -> &str {
        &self.stack.queue(channel, priority).expect("queue").url
    }

    pub fn dlq_url(&self, channel: Channel, priority: Priority) -> &str {
        &self.stack.queue(channel, priority).expect("queue").dlq_url
    }

    /// Puts a raw body on a queue, as a duplicate delivery or a foreign producer would.
    pub async fn put_raw(&self, channel: Channel, priority: Priority, body: &str) {
        aws_sdk_sqs::Client::new(&self.sdk)
            .send_message()
            .queue_url(self.queue_url(channel, priority))
            .message_body(body)
            .send()
            .await
            .expect("send raw message");
    }

    /// Puts an SES event on the events queue, in SNS's envelope, as the topic would.
    pub async fn put_ses_event(&self, event: &Value) {
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "TopicArn": self.stack.events.as_ref().expect("events").topic_arn,
            "Message": event.to_string(),
        });
        aws_sdk_sqs::Client::new(&self.sdk)
            .send_message()
            .queue_url(&self.stack.events.as_ref().expect("events").url)
            .message_body(envelope.to_string())
            .send()
            .await
            .expect("send the event");
    }

    /// Hands the SMS delivery statuses SNS logged since the last call, for this stack's
    /// notifications, to the events function, as CloudWatch Logs' subscription would (the log
    /// groups are the emulator's account's, shared by every test stack). Returns how many.
    pub async fn deliver_sms_statuses(&self) -> usize {
        let mut handed = 0;
        for (group, events) in self
            .sms_statuses
            .poll_events()
            .await
            .expect("read the logs")
        {
            let mut ours = Vec::new();
            for event in events {
                let message: Value =
                    serde_json::from_str(event["message"].as_str().unwrap_or_default())
                        .unwrap_or_default();
                let message_id = message["notification"]["messageId"]
                    .as_str()
                    .unwrap_or_default();
                if notify_shared::store::NotificationStore::find_by_provider_message(
                    self.store.as_ref(),
                    "sns",
                    message_id,
                )
                .await
                .expect("the provider index")
                .is_some()
                {
                    ours.push(event);
                }
            }
            if !ours.is_empty() {
                handed += ours.len();
                self.invoke_with_logs(notify_local::logs::payload(&group, ours).expect("payload"))
                    .await;
            }
        }
        handed
    }

    /// Hands the table's stream, from where it was left, to the changes function (the stats
    /// counters); returns how many records it took.
    pub async fn deliver_changes(&self) -> usize {
        let mut stream = self.stream.lock().await;
        let mut records = 0;
        while let Some((shard, event)) = stream.next_batch().await.expect("read the stream") {
            let parsed: aws_lambda_events::event::dynamodb::Event =
                serde_json::from_str(&event.to_string()).expect("a DynamoDB stream event");
            self.changes
                .handle(&parsed)
                .await
                .expect("the changes function");
            records += parsed.records.len();
            stream.handed(&shard, &event);
        }
        records
    }

    /// Runs the callbacks function on what its queue holds now (and nothing else).
    pub async fn deliver_callbacks(&self) -> Vec<BatchReport> {
        let mut reports = Vec::new();
        while let Some(report) = self.callbacks.poll_once().await.expect("poll") {
            reports.push(report);
        }
        reports
    }

    /// Invokes the events function with a CloudWatch Logs payload, as Lambda would hand it.
    pub async fn invoke_with_logs(&self, payload: Value) {
        let logs = notify_events::logs_event(&payload).expect("a CloudWatch Logs event");
        self.events_function
            .handle_logs(logs)
            .await
            .expect("the events function handles the logs");
    }

    /// Runs the events function on what its queue holds now (and nothing else).
    pub async fn deliver_events(&self) -> Vec<BatchReport> {
        let mut reports = Vec::new();
        while let Some(report) = self.events.poll_once().await.expect("poll") {
            reports.push(report);
        }
        reports
    }

    /// The events queue and its dead-letter queue.
    pub fn events_queues(&self) -> (&str, &str) {
        let events = self.stack.events.as_ref().expect("events");
        (&events.url, &events.dlq_url)
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

fn ports(
    sdk: &aws_config::SdkConfig,
    store: &Arc<DynamoStore>,
    stack: &Stack,
    clock: Arc<dyn Clock>,
    queue: Option<Arc<dyn NotificationQueue>>,
) -> Ports {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    Ports {
        store: store.clone(),
        devices: store.clone(),
        users: store.clone(),
        routes: store.clone(),
        inbox: store.clone(),
        tenants: store.clone(),
        counters: store.clone(),
        audit: store.clone(),
        idempotency: store.clone(),
        templates: store.clone(),
        batches: store.clone(),
        webhooks: store.clone(),
        chat_targets: store.clone(),
        suppressions: store.clone(),
        callbacks: store.clone(),
        callback_deliveries: store.clone(),
        search: store.clone(),
        stats: store.clone(),
        table_health: store.clone(),
        queue: queue.unwrap_or_else(|| Arc::new(SqsQueue::new(sqs.clone(), stack.queue_urls()))),
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            stack.queue_urls(),
            stack.dlq_urls(),
        )),
        queue_health: Arc::new(SqsQueueHealth::new(
            sqs,
            stack.queue_urls(),
            stack.dlq_urls(),
        )),
        clock,
    }
}

fn api_config(
    queues: notify_shared::config::QueueUrls,
    dlqs: notify_shared::config::QueueUrls,
    store: &StoreSettings,
) -> ApiConfig {
    ApiConfig {
        store: store.clone(),
        queues,
        dlqs,
        keys: ApiKeys::parse(&format!("test:{API_KEY},other:{OTHER_API_KEY}")).expect("test keys"),
        admin_keys: AdminKeys::parse(ADMIN_KEY).expect("admin key"),
        device_idle: Duration::from_secs(30 * 86_400),
        max_body_bytes: 1024 * 1024,
        max_batch_body_bytes: 6 * 1000 * 1000,
        // The tests share their tenants and one emulator: limits far above what they send (the
        // limits themselves are tested with tenants of their own).
        default_limits: notify_shared::domain::tenant::TenantLimits {
            requests_per_minute: 1_000_000,
            daily_quota_per_channel: 100_000_000,
        },
        audit_retention: Duration::from_secs(365 * 86_400),
        user_requests_per_minute: 120,
        channel: notify_api::ChannelLimits {
            sms_max_chars: 1600,
            // The test receivers listen on loopback.
            url_policy: UrlPolicy::AllowLoopback,
        },
    }
}

/// A unique recipient, so a test finds its own emails in the shared emulator.
/// The statuses of a notification's history, oldest first.
pub fn statuses(view: &Value) -> Vec<String> {
    view["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|e| e["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An address of SES's mailbox simulator (`success`, `bounce`, `complaint`,
/// `suppressionlist`, `ooto`), with a label of its own so tests sharing the emulator do not
/// read each other's mail.
pub fn simulator(kind: &str) -> String {
    let label = &uuid::Uuid::new_v4().simple().to_string()[..12];
    format!("{kind}+{label}@simulator.amazonses.com")
}

pub fn unique_recipient() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A unique, valid French mobile number (`+3361…`). The emulator treats numbers ending in 99 as opted
/// out, so this never ends in 99.
pub fn unique_mobile() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 10_000_000;
    let digits = format!("{n:07}");
    let digits = if digits.ends_with("99") {
        format!("{}98", &digits[..5])
    } else {
        digits
    };
    // 061… numbers are all allocated to mobile operators in France's numbering plan.
    format!("+3361{digits}")
}

/// The API over in-memory ports (what the benches measure the service's own work with), and
/// the store and queue it writes to.
pub fn memory_app() -> (
    App,
    Arc<notify_shared::store::MemoryStore>,
    Arc<notify_shared::queue::MemoryQueue>,
) {
    let store = Arc::new(notify_shared::store::MemoryStore::new());
    let queue = Arc::new(notify_shared::queue::MemoryQueue::new());
    let callbacks = Arc::new(notify_shared::store::MemoryCallbacks::new());
    let store_settings = StoreSettings {
        table: "bench".into(),
        retention: Duration::from_secs(86_400),
        lifetime: Duration::from_secs(3600),
    };
    let config = api_config(Default::default(), Default::default(), &store_settings);
    let app = App::new(
        Ports {
            store: store.clone(),
            devices: Arc::new(notify_shared::store::MemoryDevices::new()),
            users: Arc::new(notify_shared::store::MemoryUsers::new()),
            routes: store.clone(),
            inbox: Arc::new(notify_shared::store::MemoryInbox::new()),
            tenants: Arc::new(notify_shared::store::MemoryTenants::new()),
            counters: Arc::new(notify_shared::store::MemoryCounters::new()),
            audit: Arc::new(notify_shared::store::MemoryAudit::new()),
            idempotency: store.clone(),
            templates: Arc::new(notify_shared::store::MemoryTemplates::new()),
            batches: store.clone(),
            webhooks: Arc::new(notify_shared::store::MemoryWebhooks::new()),
            chat_targets: Arc::new(notify_shared::store::MemoryChatTargets::new()),
            suppressions: Arc::new(notify_shared::store::MemorySuppressions::new()),
            callbacks: callbacks.clone(),
            callback_deliveries: callbacks,
            search: store.clone(),
            stats: Arc::new(notify_shared::store::MemoryStats::new()),
            queue: queue.clone(),
            dead_letters: Arc::new(notify_shared::queue::MemoryDeadLetters::new()),
            table_health: store.clone(),
            queue_health: queue.clone(),
            clock: Arc::new(SystemClock),
        },
        config,
    );
    (app, store, queue)
}
