//! `notify-local`: the local stack's command line, used by `make dev` and `make outbox`.
//!
//! ```text
//! notify-local setup  [--endpoint URL] [--prefix P] [--api-url URL] [--fcm-url URL] [--dir .dev]
//! notify-local api    [--listen 127.0.0.1:9000] [--dir .dev] [--bin-dir target/debug]
//! notify-local fcm    [--fcm-url URL] [--dir .dev]
//! notify-local poll   [--endpoint URL] [--prefix P] [--fcm-url URL] [--dir .dev] [--bin-dir target/debug] [--watch DIR]
//! notify-local receiver [--receiver-url URL] [--endpoint URL] [--prefix P]
//! notify-local websocket [--websocket-url ws://127.0.0.1:9001] [--dir .dev] [--bin-dir target/debug]
//! notify-local chat   [--chat-url http://127.0.0.1:4595]
//! notify-local outbox [--endpoint URL] [--fcm-url URL] [--receiver-url URL] [--chat-url URL] [--json]
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use notify_local::{
    esm::EventSourceMapping,
    fcm::{DevCredentials, FcmStandIn},
    lambda::{FunctionSpec, LocalFunction},
    outbox,
    receiver::{TableSecrets, WebhookReceiver},
    resources,
};
use notify_shared::domain::Channel;
use rand::Rng;

const USAGE: &str = "usage: notify-local <setup|api|fcm|poll|receiver|websocket|chat|outbox> [--endpoint URL] [--prefix P] \
                     [--api-url URL] [--fcm-url URL] [--receiver-url URL] [--dir DIR] [--bin-dir DIR] [--watch DIR] [--listen ADDR] [--json]";
const DEFAULT_EMULATOR: &str = "http://127.0.0.1:4566";
const DEFAULT_FCM: &str = "http://127.0.0.1:4580";
const DEFAULT_RECEIVER: &str = "http://127.0.0.1:4590";
const DEFAULT_WEBSOCKET: &str = "ws://127.0.0.1:9001";
const DEFAULT_CHAT: &str = "http://127.0.0.1:4595";
/// Batches a channel's mapping delivers at once: the worker's process runs as many
/// invocations at a time.
const POLLERS_PER_CHANNEL: usize = 4;
/// The workers' timeout, as template.yaml sets it.
const WORKER_TIMEOUT: Duration = Duration::from_secs(30);
/// The API's timeout, as template.yaml sets it (API Gateway's 29 s).
const API_TIMEOUT: Duration = Duration::from_secs(29);
/// Requests one API process answers at once (AWS_LAMBDA_MAX_CONCURRENCY).
const API_CONCURRENCY: usize = 8;
/// Where the API answers under the local function URL.
const API_PREFIX: &str = "/lambda-url/api";
/// The cleanup's timeout, as template.yaml sets it.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(300);
/// The Firebase project the local key and stand-in use.
const DEV_PROJECT: &str = "notify-local";

struct Args {
    command: String,
    flags: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut it = std::env::args().skip(1);
        let command = it.next().ok_or(USAGE)?;
        let mut flags = HashMap::new();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected `{flag}`\n{USAGE}"))?;
            if name == "json" {
                flags.insert(name.to_owned(), "true".to_owned());
                continue;
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            flags.insert(name.to_owned(), value);
        }
        Ok(Self { command, flags })
    }

    fn get(&self, name: &str, default: &str) -> String {
        self.flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn dir(&self) -> PathBuf {
        PathBuf::from(self.get("dir", ".dev"))
    }
}

/// The dev FCM key: made once, kept in `<dir>/fcm-service-account.json` (never committed).
fn dev_fcm_key(dir: &Path, fcm_url: &str) -> Result<DevCredentials, String> {
    let path = dir.join("fcm-service-account.json");
    let token_uri = format!("{fcm_url}/token");
    if let Ok(json) = std::fs::read_to_string(&path) {
        let same_endpoint = serde_json::from_str::<serde_json::Value>(&json)
            .is_ok_and(|v| v["token_uri"].as_str() == Some(token_uri.as_str()));
        if same_endpoint {
            return DevCredentials::from_json(&json);
        }
    }
    let credentials = DevCredentials::generate(DEV_PROJECT, &token_uri)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    write(&path, &credentials.account_json)?;
    Ok(credentials)
}

fn spec(args: &Args) -> Result<resources::StackSpec, String> {
    let fcm_url = args.get("fcm-url", DEFAULT_FCM);
    let key = dev_fcm_key(&args.dir(), &fcm_url)?;
    Ok(resources::StackSpec {
        prefix: args.get("prefix", "notify-dev"),
        channels: Channel::ALL.to_vec(),
        max_receives: resources::MAX_RECEIVES,
        visibility_timeout_secs: 30,
        email_from: "noreply@example.com".into(),
        fcm: Some(resources::FcmSpec {
            account_json: key.account_json,
            base_url: fcm_url,
        }),
    })
}

/// The dev API key: made once, kept in `<dir>/api-key` so it survives restarts.
fn dev_api_key(dir: &Path) -> Result<String, String> {
    dev_key(dir, "api-key", "ndk")
}

/// The dev admin key (for `/v1/admin/...`, `make redrive`), kept in `<dir>/admin-key`.
fn dev_admin_key(dir: &Path) -> Result<String, String> {
    dev_key(dir, "admin-key", "nak")
}

/// A random key, made once and kept in `<dir>/<file>` so it survives restarts.
fn dev_key(dir: &Path, file: &str, prefix: &str) -> Result<String, String> {
    let path = dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim().to_owned();
        if key.len() >= 20 {
            return Ok(key);
        }
    }
    let mut rng = rand::rng();
    let key: String = (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect();
    let key = format!("{prefix}_{key}");
    write(&path, &key)?;
    Ok(key)
}

/// The dev tenant's test key (`nk_test_…`, every scope): its notifications meet the
/// simulator. Kept in `<dir>/test-key`, and put in the table each time (the emulator may be new).
async fn dev_test_key(
    sdk: &aws_config::SdkConfig,
    table: &str,
    dir: &Path,
) -> Result<String, String> {
    use notify_shared::{
        domain::{
            TenantId,
            tenant::{ApiKeySecret, KeyKind, Scope, StoredKey, key_hash, visible_prefix},
        },
        store::{DynamoStore, TenantStore},
    };
    let path = dir.join("test-key");
    let key = match std::fs::read_to_string(&path) {
        Ok(k) if KeyKind::of(k.trim()) == Some(KeyKind::Test) => k.trim().to_owned(),
        _ => {
            let fresh = ApiKeySecret::generate(KeyKind::Test)?;
            write(&path, fresh.expose())?;
            fresh.expose().to_owned()
        }
    };
    let stored = StoredKey {
        tenant: TenantId::new("dev"),
        prefix: visible_prefix(&key),
        kind: KeyKind::Test,
        scopes: Scope::ALL.into_iter().collect(),
        description: Some("make dev".into()),
        created_at: notify_shared::clock::Clock::now(&notify_shared::clock::SystemClock),
        last_used_at: None,
        revoked_at: None,
    };
    DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table)
        .add_key(&key_hash(&key), &stored)
        .await
        .map_err(|e| format!("the test key could not be stored: {e}"))?;
    Ok(key)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

async fn setup(args: &Args) -> Result<(), String> {
    let endpoint = args.get("endpoint", DEFAULT_EMULATOR);
    let dir = args.dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sdk = notify_local::sdk_config(&endpoint).await;
    let stack = resources::create(&sdk, spec(args)?)
        .await
        .map_err(|e| e.to_string())?;
    let key = dev_api_key(&dir)?;
    let admin_key = dev_admin_key(&dir)?;
    let test_key = dev_test_key(&sdk, &stack.table, &dir).await?;

    let mut env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), endpoint.clone()),
        ("AWS_REGION".to_owned(), notify_local::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        ("NOTIFY_API_KEYS".to_owned(), format!("dev:{key}")),
        ("NOTIFY_ADMIN_KEYS".to_owned(), admin_key.clone()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
        // Local retries come back within seconds rather than minutes.
        ("NOTIFY_RETRY_BASE_SECONDS".to_owned(), "2".to_owned()),
        ("NOTIFY_RETRY_MAX_SECONDS".to_owned(), "30".to_owned()),
        // A claim held by a worker that died is taken over sooner than in AWS (120 s); still
        // longer than the workers' 30 s timeout, so a live invocation is never taken over.
        ("NOTIFY_CLAIM_LEASE_SECONDS".to_owned(), "40".to_owned()),
        // The dev tenant's limits are far above what a laptop sends, so the contract fuzzer and
        // the load runs are not throttled; a tenant made with its own limits shows them.
        (
            "NOTIFY_REQUESTS_PER_MINUTE".to_owned(),
            "1000000".to_owned(),
        ),
        (
            "NOTIFY_DAILY_QUOTA_PER_CHANNEL".to_owned(),
            "100000000".to_owned(),
        ),
        // Webhooks go to the local receiver over loopback http, and nowhere but loopback.
        (
            "NOTIFY_WEBHOOK_ALLOW_LOOPBACK".to_owned(),
            "only".to_owned(),
        ),
    ];
    // The in-app worker posts to live connections through the WebSocket stand-in's
    // management API, as it would through API Gateway's.
    let websocket_url = args.get("websocket-url", DEFAULT_WEBSOCKET);
    env.push((
        "NOTIFY_WEBSOCKET_ENDPOINT".to_owned(),
        websocket_url.replacen("ws://", "http://", 1),
    ));
    // The chat worker's bot messages go to the Slack stand-in's Web API.
    let chat_url = args.get("chat-url", DEFAULT_CHAT);
    env.push((
        "NOTIFY_SLACK_API_URL".to_owned(),
        format!("{}/slack/api", chat_url.trim_end_matches('/')),
    ));
    env.extend(stack.function_env());
    let functions_env: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    write(&dir.join("functions.env"), &functions_env)?;

    let api_url = args.get("api-url", "http://127.0.0.1:9000/lambda-url/api");
    let fcm_url = args.get("fcm-url", DEFAULT_FCM);
    let receiver_url = args.get("receiver-url", DEFAULT_RECEIVER);
    write(
        &dir.join("env"),
        &format!(
            "NOTIFY_API_URL={api_url}\nNOTIFY_API_KEY={key}\nNOTIFY_ADMIN_KEY={admin_key}\n\
             NOTIFY_TEST_KEY={test_key}\n\
             NOTIFY_EMULATOR_URL={endpoint}\nNOTIFY_FCM_URL={fcm_url}\nNOTIFY_RECEIVER_URL={receiver_url}\n\
             NOTIFY_WEBSOCKET_URL={websocket_url}\nNOTIFY_CHAT_URL={chat_url}\n"
        ),
    )?;
    println!(
        "table {} and {} queues (each with a DLQ) ready on {endpoint}",
        stack.table,
        stack.queues.len()
    );
    Ok(())
}

async fn fcm(args: &Args) -> Result<(), String> {
    let fcm_url = args.get("fcm-url", DEFAULT_FCM);
    let key = dev_fcm_key(&args.dir(), &fcm_url)?;
    let addr: SocketAddr = fcm_url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("--fcm-url must be http://<ip>:<port>: {e}"))?;
    let (bound, task) = FcmStandIn::new(&key)
        .serve(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!("FCM stand-in on http://{bound} (project {DEV_PROJECT})");
    task.await.map_err(|e| e.to_string())
}

/// The webhook receiver, verifying every delivery with the secrets in the local table.
async fn receiver(args: &Args) -> Result<(), String> {
    let endpoint = args.get("endpoint", DEFAULT_EMULATOR);
    let receiver_url = args.get("receiver-url", DEFAULT_RECEIVER);
    let addr: SocketAddr = receiver_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("--receiver-url must be http://<ip>:<port>: {e}"))?;
    let sdk = notify_local::sdk_config(&endpoint).await;
    let table = resources::table_name(&args.get("prefix", "notify-dev"));
    let secrets = Arc::new(TableSecrets::new(&sdk, &table));
    let (bound, task) = WebhookReceiver::new(secrets)
        .serve(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!("webhook receiver on http://{bound} (verifies with the secrets in {table})");
    task.await.map_err(|e| e.to_string())
}

/// The API: the api function run by the local Lambda, behind a function URL.
async fn api(args: &Args) -> Result<(), String> {
    let listen: SocketAddr = args
        .get("listen", "127.0.0.1:9000")
        .parse()
        .map_err(|e| format!("--listen must be <ip>:<port>: {e}"))?;
    let env = notify_local::lambda::read_env_file(&args.dir().join("functions.env"))?;
    let function = LocalFunction::start(FunctionSpec {
        name: "api".into(),
        binary: PathBuf::from(args.get("bin-dir", "target/debug")).join("api"),
        env,
        timeout: API_TIMEOUT,
        concurrency: API_CONCURRENCY,
        memory_mb: 512,
    });
    let (bound, task) = notify_local::function_url::serve(listen, API_PREFIX, function)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    println!("the API on http://{bound}{API_PREFIX} (a function URL in front of the api function)");
    task.await.map_err(|e| e.to_string())
}

/// Slack's and Teams' stand-in.
async fn chat(args: &Args) -> Result<(), String> {
    let url = args.get("chat-url", DEFAULT_CHAT);
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("--chat-url must be http://<ip>:<port>: {e}"))?;
    let (bound, task) = notify_local::chat::ChatStandIn::new()
        .serve(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!(
        "Slack and Teams stand-in on http://{bound} (/slack/webhook/…, /slack/api/chat.postMessage, /teams/workflow/…)"
    );
    task.await.map_err(|e| e.to_string())
}

/// API Gateway's WebSocket API: the realtime function run by the local Lambda, behind the
/// stand-in ([`notify_local::websocket`]).
async fn websocket(args: &Args) -> Result<(), String> {
    let url = args.get("websocket-url", DEFAULT_WEBSOCKET);
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("--websocket-url must be ws://<ip>:<port>: {e}"))?;
    let env = notify_local::lambda::read_env_file(&args.dir().join("functions.env"))?;
    let function = LocalFunction::start(FunctionSpec {
        name: "realtime".into(),
        binary: PathBuf::from(args.get("bin-dir", "target/debug")).join("realtime"),
        env,
        timeout: WORKER_TIMEOUT,
        concurrency: API_CONCURRENCY,
        memory_mb: 256,
    });
    let (bound, task) = notify_local::websocket::WebSocketStandIn::new(Arc::new(function))
        .serve(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!(
        "the WebSocket API on ws://{bound} (a stand-in for API Gateway's, in front of the realtime function)"
    );
    task.await.map_err(|e| e.to_string())
}

/// The event source mappings and the schedules, with the functions they invoke run by the
/// local Lambda ([`notify_local::lambda`]).
async fn poll(args: &Args) -> Result<(), String> {
    let endpoint = args.get("endpoint", DEFAULT_EMULATOR);
    let bin_dir = PathBuf::from(args.get("bin-dir", "target/debug"));
    let env = notify_local::lambda::read_env_file(&args.dir().join("functions.env"))?;
    let function = |name: &str, timeout: Duration, concurrency: usize| {
        LocalFunction::start(FunctionSpec {
            name: name.to_owned(),
            binary: bin_dir.join(name),
            env: env.clone(),
            timeout,
            concurrency,
            memory_mb: 256,
        })
    };
    let sdk = notify_local::sdk_config(&endpoint).await;
    let stack = resources::create(&sdk, spec(args)?)
        .await
        .map_err(|e| e.to_string())?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut loops = Vec::new();
    for channel in stack.spec.channels.clone() {
        let sources = stack.sources(channel);
        let worker = Arc::new(function(
            channel.worker(),
            WORKER_TIMEOUT,
            POLLERS_PER_CHANNEL,
        ));
        let mapping = Arc::new(EventSourceMapping::new(sqs.clone(), sources, worker));
        // Several batches in flight per channel, as Lambda's pollers deliver them.
        for _ in 0..POLLERS_PER_CHANNEL {
            let mapping = mapping.clone();
            loops.push(tokio::spawn(async move {
                mapping.run(Duration::from_millis(250)).await
            }));
        }
        println!(
            "delivering {channel} queues to {} ({POLLERS_PER_CHANNEL} batches at a time)",
            channel.worker()
        );
    }
    // SES's events (the emulator publishes the mailbox simulator's) to the events function.
    if let Some(events) = &stack.events {
        let source = notify_local::esm::Source {
            priority: notify_shared::domain::Priority::Normal,
            url: events.url.clone(),
            arn: events.arn.clone(),
        };
        let function = Arc::new(function("events", WORKER_TIMEOUT, 2));
        let mapping = EventSourceMapping::new(sqs.clone(), vec![source], function.clone());
        loops.push(tokio::spawn(async move {
            mapping.run(Duration::from_millis(250)).await
        }));
        // CloudWatch Logs' part: the subscription filters on SNS's SMS delivery status logs.
        let statuses = notify_local::logs::LogsSubscription::new(
            &sdk,
            notify_local::logs::sms_status_log_groups().to_vec(),
        );
        loops.push(tokio::spawn(async move {
            loop {
                match statuses.poll_once().await {
                    Ok(payloads) => {
                        for payload in payloads {
                            if let Err(e) = function.invoke_json(&payload).await {
                                tracing::warn!(error = %e, "the events function failed on SMS statuses");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the SMS delivery status logs failed"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
        println!("delivering SES's events and SNS's SMS delivery statuses to events");
    }
    // The status callbacks the changes function queues, to the callbacks function.
    {
        let source = notify_local::esm::Source {
            priority: notify_shared::domain::Priority::Normal,
            url: stack.callbacks.url.clone(),
            arn: stack.callbacks.arn.clone(),
        };
        let function = Arc::new(function("callbacks", WORKER_TIMEOUT, 2));
        let mapping = EventSourceMapping::new(sqs.clone(), vec![source], function);
        loops.push(tokio::spawn(async move {
            mapping.run(Duration::from_millis(250)).await
        }));
        println!("delivering status callbacks to callbacks");
    }
    // DynamoDB Streams' part: the table's stream to the changes function, a batch at a time,
    // handed again until the function takes it.
    {
        let mut reader = notify_local::stream::StreamReader::new(&sdk, &endpoint, &stack.table)
            .await
            .map_err(|e| e.to_string())?;
        let changes = function("changes", WORKER_TIMEOUT, 1);
        loops.push(tokio::spawn(async move {
            loop {
                match reader.next_batch().await {
                    Ok(Some((shard, event))) => match changes.invoke_json(&event).await {
                        Ok(_) => reader.handed(&shard, &event),
                        Err(e) => {
                            tracing::warn!(error = %e, "the changes function failed a stream batch");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    },
                    Ok(None) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the table's stream failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }));
        println!("delivering the table's stream to changes");
    }
    // EventBridge's part: the cleanup function's two schedules.
    let cleanup = function("cleanup", CLEANUP_TIMEOUT, 2);
    for (task, every) in [
        ("sweep", Duration::from_secs(60)),
        ("purge", Duration::from_secs(3600)),
    ] {
        let cleanup = cleanup.clone();
        loops.push(tokio::spawn(async move {
            let mut timer = tokio::time::interval(every);
            loop {
                timer.tick().await;
                match cleanup
                    .invoke_json(&serde_json::json!({ "task": task }))
                    .await
                {
                    Ok(report) => tracing::info!(task, %report, "cleanup ran"),
                    Err(e) => tracing::warn!(task, error = %e, "cleanup failed"),
                }
            }
        }));
    }
    println!("running the cleanup: sweep every minute, purge every hour");
    if let Some(root) = args.flags.get("watch") {
        let mut bins: Vec<String> = Channel::ALL.iter().map(|c| c.worker().to_owned()).collect();
        bins.extend([
            "events".into(),
            "changes".into(),
            "callbacks".into(),
            "cleanup".into(),
            "api".into(),
            "realtime".into(),
        ]);
        println!(
            "rebuilding {} when a source under {root} changes",
            bins.join(", ")
        );
        loops.push(tokio::spawn(notify_local::lambda::rebuild_on_change(
            PathBuf::from(root),
            bins,
        )));
    }
    for l in loops {
        l.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn show_outbox(args: &Args) -> Result<(), String> {
    let endpoint = args.get("endpoint", DEFAULT_EMULATOR);
    let fcm_url = args.get("fcm-url", DEFAULT_FCM);
    let emails = outbox::sent_emails(&endpoint, None).await?;
    let sms = outbox::sent_sms(&endpoint, None).await?;
    let receiver_url = args.get("receiver-url", DEFAULT_RECEIVER);
    // The stand-ins may not be running (make dev stopped): then there is nothing to show.
    let pushes = outbox::sent_pushes(&fcm_url).await.unwrap_or_default();
    let webhooks = outbox::received_webhooks(&receiver_url)
        .await
        .unwrap_or_default();
    let chat_url = args.get("chat-url", DEFAULT_CHAT);
    let chats = outbox::chat_messages(&chat_url).await.unwrap_or_default();
    if args.flags.contains_key("json") {
        let all = serde_json::json!({ "emails": emails, "sms": sms, "pushes": pushes, "webhooks": webhooks, "chat": chats });
        println!(
            "{}",
            serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!("{} email(s) sent through SES on {endpoint}", emails.len());
    for e in emails {
        println!(
            "- {}  to {}  from {}  subject {:?}",
            e.id,
            e.to.join(", "),
            e.source,
            e.subject
        );
    }
    println!("{} SMS sent through SNS on {endpoint}", sms.len());
    for m in sms {
        println!("- {}  to {}  {:?}", m.message_id, m.phone_number, m.message);
    }
    println!(
        "{} push(es) accepted by the FCM stand-in on {fcm_url}",
        pushes.len()
    );
    for p in pushes {
        let title = p.message["notification"]["title"].as_str().unwrap_or("");
        println!("- {}  to {}  title {:?}", p.name, p.token, title);
    }
    println!(
        "{} webhook(s) received by the local receiver on {receiver_url}",
        webhooks.len()
    );
    for w in webhooks {
        let signature = match (&w.verified_by, &w.verify_error) {
            (Some(by), _) => format!("signature verified ({by})"),
            (None, Some(e)) => format!("signature NOT verified: {e}"),
            (None, None) => "signature NOT verified".to_owned(),
        };
        println!(
            "- {}  {}  answered {}  {signature}  {}",
            w.header("webhook-id").unwrap_or("-"),
            w.path,
            w.answered,
            w.body.chars().take(80).collect::<String>()
        );
    }
    println!(
        "{} chat message(s) received by the Slack and Teams stand-in on {chat_url}",
        chats.len()
    );
    for c in chats {
        let text = c.body["text"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| c.body.to_string());
        println!(
            "- {}  {}{}  answered {}  {}",
            c.service,
            c.path,
            c.channel
                .map(|ch| format!(" channel {ch}"))
                .unwrap_or_default(),
            c.answered,
            text.chars().take(80).collect::<String>()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter("info")
        .init();
    let result = match Args::parse() {
        Ok(args) => match args.command.as_str() {
            "setup" => setup(&args).await,
            "api" => api(&args).await,
            "fcm" => fcm(&args).await,
            "poll" => poll(&args).await,
            "receiver" => receiver(&args).await,
            "websocket" => websocket(&args).await,
            "chat" => chat(&args).await,
            "outbox" => show_outbox(&args).await,
            other => Err(format!("unknown command `{other}`\n{USAGE}")),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notify-local: {e}");
            ExitCode::FAILURE
        }
    }
}
