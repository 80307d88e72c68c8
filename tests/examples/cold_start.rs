//! Cold starts of every function's release binary, beside a `lambda_runtime` hello-world built
//! with the same profile, so the ratios mean something on a noisy machine.
//!
//! Each run starts a fresh process under a Runtime API stand-in ([`notify_local::coldstart`])
//! and hands it two events of the same kind: the first pays what a cold request pays (first
//! connections, TLS handshakes, lazy setup), the second is the warm figure beside it. The AWS
//! endpoints (the emulator) and FCM are behind a TLS terminator on loopback with a CA of this
//! run's, appended to the system's CAs in `SSL_CERT_FILE`: a function connects as it does to
//! AWS, handshake and certificate check included. Workers get one real message each (sent
//! through the API, received from its queue); the API `GET /health` and a `POST
//! /v1/notifications`; the cleanup a scheduled sweep; the callbacks function one callback to a
//! receiver on loopback.
//!
//! An example rather than a bench: benches are built with unwinding, which would compile every
//! dependency a second time beside the release binaries' (`panic = "abort"`). `make bench`
//! builds the binaries and runs it: `cargo build --release --bins --example hello_world
//! --example cold_start`, then `target/release/examples/cold_start`.
//!
//! `COLD_START_RUNS` (21) processes per row, figures are medians; `COLD_START_BIN_DIR`
//! measures the binaries of another directory laid out as `target/release` (a copy of an
//! earlier build, to compare two in one run).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use http::HeaderMap;
use notify_local::{coldstart, esm, function_url};
use notify_shared::domain::Channel;
use notify_tests::{ADMIN_KEY, API_KEY, TestStack, unique_mobile, unique_recipient};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Copy)]
enum Kind {
    Hello,
    Health,
    Send,
    Worker(Channel),
    Cleanup,
    /// SES's delivery event for a sent email, from the events queue.
    Receipt,
    /// One new record from the table's stream.
    StreamRecord,
    /// One status callback from the callbacks queue, to a receiver on loopback.
    Callback,
    /// A user's app connecting to the WebSocket API with its user token (`$connect`).
    Connect,
}

struct Row {
    label: &'static str,
    binary: &'static str,
    kind: Kind,
    runs: Vec<coldstart::ColdStart>,
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("COLD_START_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    let bin_dir = std::env::var_os("COLD_START_BIN_DIR").map_or_else(release_dir, PathBuf::from);
    // Each worker with one message of its channel; the rest with the event named.
    let worker = |label, binary, channel| row(label, binary, Kind::Worker(channel));
    let rows = [
        row(
            "lambda_runtime hello-world",
            "examples/hello_world",
            Kind::Hello,
        ),
        row("api, `GET /health`", "api", Kind::Health),
        row("api, `POST /v1/notifications` (email)", "api", Kind::Send),
        worker("email-worker, 1 message", "email-worker", Channel::Email),
        worker("sms-worker, 1 message", "sms-worker", Channel::Sms),
        worker("push-worker, 1 message", "push-worker", Channel::Push),
        worker(
            "webhook-worker, 1 message",
            "webhook-worker",
            Channel::Webhook,
        ),
        row("cleanup, scheduled sweep", "cleanup", Kind::Cleanup),
        row("events, 1 SES delivery event", "events", Kind::Receipt),
        row("changes, 1 stream record", "changes", Kind::StreamRecord),
        row("callbacks, 1 callback", "callbacks", Kind::Callback),
        worker("in-app-worker, 1 message", "in-app-worker", Channel::InApp),
        worker(
            "chat-worker, 1 message (Slack)",
            "chat-worker",
            Channel::Chat,
        ),
        row(
            "realtime, `$connect` with a user token",
            "realtime",
            Kind::Connect,
        ),
    ];
    let mut rows = Vec::from(rows);
    for r in &rows {
        let path = bin_dir.join(r.binary);
        assert!(
            path.exists(),
            "{} is missing: cargo build --release --bins --example hello_world (make bench does)",
            path.display()
        );
    }

    let bench = Bench::new().await;
    let logs = release_dir().join("cold-start-logs");
    std::fs::create_dir_all(&logs).expect("create the log directory");
    // Round-robin, so a slow moment of the machine falls on every row alike.
    for round in 0..runs {
        for r in &mut rows {
            let events = vec![bench.event(r.kind).await, bench.event(r.kind).await];
            let log = logs.join(format!("{}.log", r.binary.replace('/', "-")));
            let run = coldstart::run(
                &bin_dir.join(r.binary),
                &bench.env,
                events,
                &log,
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", r.label));
            for (_, answer) in &run.invokes {
                check(r.kind, answer).unwrap_or_else(|e| panic!("{}: {e}", r.label));
            }
            r.runs.push(run);
        }
        eprint!("\rcold starts: round {}/{runs}", round + 1);
    }
    eprintln!();
    print_table(&rows, &bin_dir, runs);
}

fn row(label: &'static str, binary: &'static str, kind: Kind) -> Row {
    Row {
        label,
        binary,
        kind,
        runs: Vec::new(),
    }
}

/// `target/release`: this runs from `target/release/examples`.
fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release")
        .to_path_buf()
}

/// The stack the functions run against, the environment they run with, and their events.
struct Bench {
    stack: TestStack,
    env: Vec<(String, String)>,
    sqs: aws_sdk_sqs::Client,
    /// A user token for the realtime function's `$connect`.
    user_token: String,
    /// Chat messages so far: they alternate between two Slack targets (two channels), so
    /// the second of a run does not wait for the first one's second.
    chats: std::sync::atomic::AtomicUsize,
}

impl Bench {
    async fn new() -> Self {
        let stack = TestStack::new().await;
        let dir = release_dir().join("cold-start-tls");
        let tls = Tls::new(&dir);
        let bundle = dir.join("bundle.pem");
        // The system's CAs as well as this run's: loading them is part of a real init.
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .or_else(|_| std::fs::read_to_string("/etc/pki/tls/certs/ca-bundle.crt"))
            .unwrap_or_default();
        std::fs::write(&bundle, format!("{system}\n{}", tls.ca_pem)).expect("write the CA bundle");

        let emulator: SocketAddr = stack
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("the emulator's address");
        let aws = tls.front(emulator).await;
        let mut env: Vec<(String, String)> = vec![
            ("AWS_ENDPOINT_URL".into(), aws),
            ("AWS_REGION".into(), notify_local::REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("SSL_CERT_FILE".into(), bundle.display().to_string()),
            ("NOTIFY_API_KEYS".into(), format!("bench:{API_KEY}")),
            ("NOTIFY_ADMIN_KEYS".into(), ADMIN_KEY.into()),
            ("NOTIFY_WEBHOOK_ALLOW_LOOPBACK".into(), "only".into()),
            // The in-app worker's pushes, to the stack's WebSocket stand-in.
            (
                "NOTIFY_WEBSOCKET_ENDPOINT".into(),
                stack.websocket_url.replacen("ws://", "http://", 1),
            ),
            ("RUST_LOG".into(), "info".into()),
        ];
        for (name, value) in stack.stack.function_env() {
            // FCM's sends over TLS too (its token endpoint stays the key's own, plain, URL:
            // the stand-in checks the grant's audience against it).
            let value = if name == "NOTIFY_FCM_BASE_URL" {
                let fcm: SocketAddr = value
                    .trim_start_matches("http://")
                    .parse()
                    .expect("the FCM stand-in's address");
                tls.front(fcm).await
            } else {
                value
            };
            env.push((name, value));
        }
        let (status, body) = stack
            .call("POST", "/v1/webhooks/signing-secret", None)
            .await;
        assert!(status.is_success(), "signing secret: {body}");
        for name in CHAT_TARGETS {
            let target = json!({"type": "slack_webhook",
                "url": format!("{}/slack/webhook/T0/B0/{name}", stack.chat_url)});
            let (status, body) = stack
                .call(
                    "PUT",
                    &format!("/v1/chat/targets/{name}"),
                    Some(&target.to_string()),
                )
                .await;
            assert!(status.is_success(), "chat target: {body}");
        }
        let (status, body) = stack.call("POST", "/v1/user-token-secret", None).await;
        assert!(status.is_success(), "user-token secret: {body}");
        let secret: notify_shared::user_token::UserTokenSecret =
            serde_json::from_value(body["secret"].clone()).expect("the secret");
        let user_token = notify_shared::user_token::UserToken {
            tenant: notify_shared::domain::TenantId::new("test"),
            // Not the in-app rows' user: the connections these `$connect`s leave are held by
            // no client, and the in-app worker would post to each (410) and forget it.
            user: notify_shared::domain::UserId::parse("cold-start-socket").expect("a user id"),
            expires: epoch_seconds() + 86_400,
        }
        .sign(&secret);
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        Self {
            stack,
            env,
            sqs,
            user_token,
            chats: Default::default(),
        }
    }

    async fn event(&self, kind: Kind) -> Value {
        match kind {
            Kind::Hello => json!({"hello": "world"}),
            Kind::Health => function_url_event("GET", "/health", ""),
            Kind::Send => function_url_event(
                "POST",
                "/v1/notifications",
                &email(&unique_recipient()).to_string(),
            ),
            Kind::Worker(channel) => self.message(channel).await,
            Kind::Receipt => self.receipt().await,
            Kind::StreamRecord => stream_record(),
            Kind::Callback => self.callback(),
            Kind::Connect => self.connect(),
            Kind::Cleanup => json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "000000000000", "time": "2026-12-01T00:00:00Z",
                "region": notify_local::REGION, "resources": [], "detail": {}
            }),
        }
    }

    /// A one-message SQS batch, as the event source mapping hands it over: a notification
    /// accepted by the API, received from its queue (and deleted there, as the mapping would
    /// once the worker answered).
    async fn message(&self, channel: Channel) -> Value {
        let body = match channel {
            Channel::Email => email(&unique_recipient()),
            Channel::Sms => {
                json!({"channel": "sms", "to": unique_mobile(), "message": "Your code is 123456"})
            }
            Channel::Push => {
                json!({"channel": "push", "token": "cold-start-token", "title": "Hi", "body": "Hello"})
            }
            Channel::Webhook => {
                json!({"channel": "webhook", "url": format!("{}/cold-start", self.stack.receiver_url), "payload": {"a": 1}})
            }
            Channel::InApp => {
                json!({"channel": "in_app", "userId": "cold-start-user", "title": "Hi", "body": "Hello"})
            }
            Channel::Chat => {
                let n = self
                    .chats
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                json!({"channel": "chat", "target": CHAT_TARGETS[n % 2], "text": "Hello"})
            }
        };
        self.stack.send(&body).await;
        for source in self.stack.stack.sources(channel) {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&source.url)
                .max_number_of_messages(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            let Some(handle) = received.first().and_then(|m| m.receipt_handle.clone()) else {
                continue;
            };
            self.sqs
                .delete_message()
                .queue_url(&source.url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
            return serde_json::to_value(esm::to_event(&received, &source.arn)).expect("event");
        }
        panic!("no {channel} message on the queues");
    }
}

impl Bench {
    /// An SQS batch of one SES delivery event (in SNS's envelope) for an email the worker
    /// has sent.
    async fn receipt(&self) -> Value {
        let to = unique_recipient();
        let id = self.stack.send(&email(&to)).await;
        self.stack
            .deliver_until(&id, "sent", Duration::from_secs(30))
            .await;
        let event = json!({
            "eventType": "Delivery",
            "mail": {"timestamp": "2026-12-01T10:00:00.000Z", "messageId": "cold-start",
                "destination": [to], "tags": {"notification_id": [id], "tenant": ["test"]}},
            "delivery": {"timestamp": "2026-12-01T10:00:01.000Z", "recipients": [to]}
        });
        let body = json!({"Type": "Notification", "Message": event.to_string()}).to_string();
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some(uuid::Uuid::new_v4().to_string());
        message.receipt_handle = Some("cold-start".into());
        message.body = Some(body);
        message.event_source_arn = self.stack.stack.events.as_ref().map(|e| e.arn.clone());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
        batch.records = vec![message];
        serde_json::to_value(batch).expect("event")
    }
}

impl Bench {
    /// An SQS batch of one status callback, as the changes function queues it, to the stack's
    /// receiver (signed with the tenant's secret, made in `new`).
    fn callback(&self) -> Value {
        use notify_shared::{
            domain::{NotificationId, TenantId, WebhookUrl, callback::CallbackEvent},
            queue::{CallbackMessage, MessageBody},
        };
        let id = NotificationId::generate();
        let callback = CallbackMessage {
            v: CallbackMessage::VERSION,
            tenant: TenantId::new("test"),
            notification_id: id.clone(),
            event: CallbackEvent::Sent,
            url: WebhookUrl::parse(&format!("{}/cold-start-callbacks", self.stack.receiver_url))
                .expect("the receiver's URL"),
            webhook_id: format!("{id}.sent.1"),
            body: json!({"type": "notification.sent", "data": {"id": id}}).to_string(),
            recorded: false,
        };
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some(uuid::Uuid::new_v4().to_string());
        message.receipt_handle = Some("cold-start".into());
        message.body = Some(callback.to_body());
        message.event_source_arn = Some(self.stack.stack.callbacks.arn.clone());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
        batch.records = vec![message];
        serde_json::to_value(batch).expect("event")
    }
}

/// The Slack targets the chat worker's messages alternate between.
const CHAT_TARGETS: [&str; 2] = ["cold-start-a", "cold-start-b"];

fn epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Bench {
    /// API Gateway's `$connect` event for a new connection with the user's token in the
    /// query string, as the WebSocket API hands it over.
    fn connect(&self) -> Value {
        json!({
            "requestContext": {
                "routeKey": "$connect", "eventType": "CONNECT",
                "connectionId": uuid::Uuid::new_v4().simple().to_string(),
                "stage": "live", "apiId": "bench", "domainName": "bench.execute-api.us-east-1.amazonaws.com",
                "requestTimeEpoch": epoch_seconds() * 1000, "connectedAt": epoch_seconds() * 1000,
                "messageDirection": "IN"
            },
            "queryStringParameters": {"token": self.user_token},
            "headers": {"Host": "bench.execute-api.us-east-1.amazonaws.com"},
            "isBase64Encoded": false
        })
    }
}

/// A DynamoDB stream batch of one new notification record.
fn stream_record() -> Value {
    let id = uuid::Uuid::now_v7().to_string();
    json!({"Records": [{
        "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": notify_local::REGION,
        "dynamodb": {
            "Keys": {"PK": {"S": format!("NOTIFICATION#{id}")}, "SK": {"S": "NOTIFICATION"}},
            "NewImage": {"PK": {"S": format!("NOTIFICATION#{id}")}, "SK": {"S": "NOTIFICATION"},
                "id": {"S": id}, "tenant": {"S": "bench"}, "channel": {"S": "email"},
                "status": {"S": "queued"}, "updatedAt": {"S": "2026-12-01T10:00:00.000Z"}},
            "SequenceNumber": uuid::Uuid::new_v4().as_u128().to_string(), "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1_796_220_900.0
        }
    }]})
}

fn email(to: &str) -> Value {
    json!({"channel": "email", "to": to, "subject": "Your order", "text": "Order 42 has shipped."})
}

fn function_url_event(method: &str, path: &str, body: &str) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(
        "host",
        "bench.lambda-url.us-east-1.on.aws".parse().expect("host"),
    );
    headers.insert("content-type", "application/json".parse().expect("type"));
    headers.insert(
        "authorization",
        format!("Bearer {API_KEY}").parse().expect("key"),
    );
    function_url::event(
        method,
        path,
        "",
        &headers,
        &bytes::Bytes::copy_from_slice(body.as_bytes()),
    )
}

/// The answer is the one a working function gives: a figure from a failing path means nothing.
fn check(kind: Kind, answer: &Result<Value, String>) -> Result<(), String> {
    let answer = answer.as_ref().map_err(Clone::clone)?;
    let ok = match kind {
        Kind::Hello => answer["hello"] == "world",
        Kind::Health => answer["statusCode"] == 200,
        Kind::Send => answer["statusCode"] == 202,
        Kind::Connect => answer["statusCode"] == 200,
        Kind::Worker(_) | Kind::Receipt | Kind::Callback => answer["batchItemFailures"]
            .as_array()
            .is_some_and(Vec::is_empty),
        Kind::StreamRecord => answer.is_null(),
        Kind::Cleanup => answer.is_object(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected answer: {answer}"))
    }
}

/// A TLS terminator on loopback in front of a plain HTTP server, with a CA of this run's
/// (made by the `openssl` command, so the bench needs no certificate crate).
struct Tls {
    acceptor: TlsAcceptor,
    ca_pem: String,
}

impl Tls {
    fn new(dir: &Path) -> Self {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        std::fs::create_dir_all(dir).expect("create the TLS directory");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            dir,
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-days",
                    "2",
                    "-subj",
                    "/CN=notify cold-start bench CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        let cert =
            CertificateDer::from_pem_file(dir.join("server.pem")).expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("TLS config");
        Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: std::fs::read_to_string(dir.join("ca.pem")).expect("CA certificate"),
        }
    }

    /// `https://127.0.0.1:<port>`, forwarding to `backend`.
    async fn front(&self, backend: SocketAddr) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("address");
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let (Ok(mut tls), Ok(mut plain)) = (
                        acceptor.accept(tcp).await,
                        TcpStream::connect(backend).await,
                    ) else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        format!("https://{addr}")
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (the bench makes its TLS certificates with it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Compressed as `zip -9` would (deflate, best): what a deployment package weighs.
fn zipped_mb(path: &Path) -> f64 {
    use std::io::Write;
    let bytes = std::fs::read(path).expect("read the binary");
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&bytes).expect("compress");
    z.finish().expect("compress").len() as f64 / 1e6
}

fn print_table(rows: &[Row], bin_dir: &Path, runs: usize) {
    let init = |r: &Row| median(r.runs.iter().map(|c| ms(c.init)).collect());
    let invoke = |r: &Row, i: usize| median(r.runs.iter().map(|c| ms(c.invokes[i].0)).collect());
    let hello = init(&rows[0]);
    println!("\nCold starts, median of {runs} processes each (release builds, TLS to loopback):\n");
    println!(
        "| binary, first event | init | × hello-world | first invoke | warm invoke | first × warm | peak RSS | size | zip -9 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let path = bin_dir.join(r.binary);
        let size = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6;
        let rss = median(
            r.runs
                .iter()
                .filter_map(|c| c.peak_rss_kib)
                .map(|k| k as f64 / 1024.0)
                .collect(),
        );
        let (first, warm) = (invoke(r, 0), invoke(r, 1));
        println!(
            "| {} | {:.1} ms | {:.1} | {:.1} ms | {:.1} ms | {:.1} | {:.1} MB | {:.1} MB | {:.1} MB |",
            r.label,
            init(r),
            init(r) / hello,
            first,
            warm,
            first / warm,
            rss,
            size,
            zipped_mb(&path),
        );
    }
}
