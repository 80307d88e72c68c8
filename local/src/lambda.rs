//! A local Lambda for the functions `make dev` runs: the API (behind the local function
//! URL), the workers and the cleanup.
//!
//! It runs a function's binary as Lambda does: a fresh environment with the function's
//! variables, the Lambda Runtime API on loopback (`AWS_LAMBDA_RUNTIME_API`) from which the
//! process takes invocations and to which it answers them, and up to `concurrency`
//! invocations at a time (`AWS_LAMBDA_MAX_CONCURRENCY`, as Lambda Managed Instances set it).
//! Like Lambda it starts the process again when it dies (a crash, a kill, an out-of-memory),
//! failing the invocations it held with `Runtime.ExitError`; when an invocation outlives the
//! function's timeout it ends the process; and when the binary is rebuilt it lets the running
//! invocations finish, then starts the new build. Each of these is said in the log.
//!
//! Why not `cargo lambda watch`: under load it lost an invocation now and then (a request
//! never answered), and when a function's process died mid-invocation it neither answered that
//! invocation nor reliably started another process, so the function's later invocations
//! waited out the invoke timeout.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::esm::Invoke;

/// What Lambda needs to run a function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    /// The function's environment variables (nothing else of this process's is passed on).
    pub env: Vec<(String, String)>,
    /// When an invocation that has not answered is ended, with its process.
    pub timeout: Duration,
    /// Invocations one process runs at once.
    pub concurrency: usize,
    pub memory_mb: u32,
}

/// A function being served; clones share it.
#[derive(Clone)]
pub struct LocalFunction {
    shared: Arc<Shared>,
}

struct Shared {
    spec: FunctionSpec,
    sender: mpsc::UnboundedSender<Queued>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    state: Mutex<Calls>,
    /// Wakes the supervisor when an invocation timed out in the process `Calls::kill` names.
    kill: Notify,
}

struct Queued {
    id: String,
    event: Value,
    deadline_ms: i64,
}

/// The invocations waiting for an answer, by request id.
#[derive(Default)]
struct Calls {
    waiting: HashMap<String, Call>,
    /// The process (by generation) to end because an invocation it held timed out.
    kill: Option<u64>,
}

struct Call {
    reply: oneshot::Sender<Result<Value, String>>,
    /// The process that took it, once one has.
    generation: Option<u64>,
}

/// Why a process stopped.
enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Rebuilt,
}

impl LocalFunction {
    /// Starts serving `spec` (the process starts at once, as a provisioned function would).
    pub fn start(spec: FunctionSpec) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            spec,
            sender,
            queue: tokio::sync::Mutex::new(receiver),
            state: Mutex::new(Calls::default()),
            kill: Notify::new(),
        });
        tokio::spawn(supervise(shared.clone()));
        Self { shared }
    }

    /// Invokes the function with a JSON event and waits for its answer, at most its timeout.
    pub async fn invoke_json(&self, event: &Value) -> Result<Value, String> {
        let spec = &self.shared.spec;
        let id = uuid::Uuid::new_v4().to_string();
        let deadline_ms = now_ms() + i64::try_from(spec.timeout.as_millis()).unwrap_or(i64::MAX);
        let (reply, answer) = oneshot::channel();
        lock(&self.shared.state).waiting.insert(
            id.clone(),
            Call {
                reply,
                generation: None,
            },
        );
        let queued = Queued {
            id: id.clone(),
            event: event.clone(),
            deadline_ms,
        };
        if self.shared.sender.send(queued).is_err() {
            lock(&self.shared.state).waiting.remove(&id);
            return Err(format!("{}: the function is not running", spec.name));
        }
        match tokio::time::timeout(spec.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!("{}: the invocation was dropped", spec.name)),
            Err(_) => {
                let mut calls = lock(&self.shared.state);
                if let Some(Call {
                    generation: Some(g),
                    ..
                }) = calls.waiting.remove(&id)
                {
                    calls.kill = Some(g);
                    self.shared.kill.notify_one();
                }
                Err(format!(
                    "{}: Task timed out after {} seconds",
                    spec.name,
                    spec.timeout.as_secs()
                ))
            }
        }
    }
}

#[async_trait]
impl Invoke for LocalFunction {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        let event = serde_json::to_value(&event).map_err(|e| e.to_string())?;
        let answer = self.invoke_json(&event).await?;
        serde_json::from_value(answer).map_err(|e| format!("unusable batch response: {e}"))
    }
}

fn lock(state: &Mutex<Calls>) -> std::sync::MutexGuard<'_, Calls> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs the function's process, one generation after another, for as long as this runs.
async fn supervise(shared: Arc<Shared>) {
    let name = shared.spec.name.clone();
    let mut generation = 0u64;
    let mut backoff = Duration::from_millis(250);
    loop {
        generation += 1;
        let started = Instant::now();
        let built = modified(&shared.spec.binary);
        let (retired, retired_rx) = watch::channel(false);
        let (mut child, api) = match spawn(&shared, generation, retired_rx).await {
            Ok(running) => running,
            Err(e) => {
                warn!(function = %name, error = %e, "could not start the function; trying again in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        info!(function = %name, generation, pid = child.id(), "function started");
        let ended = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => Ended::Exited(status),
                Err(e) => {
                    // Ended below, as a timed-out process is.
                    warn!(function = %name, error = %e, "lost track of the function's process");
                    Ended::TimedOut
                }
            },
            () = timed_out(&shared, generation) => Ended::TimedOut,
            () = rebuilt(&shared.spec.binary, built) => Ended::Rebuilt,
        };
        // No more work for this process; what it holds is failed below, under the same lock
        // `next` hands work out with, so nothing is handed to it after that.
        let _ = retired.send(true);
        match ended {
            Ended::Exited(status) => {
                let failed = fail_held(
                    &shared,
                    generation,
                    &format!("Runtime.ExitError: the process exited ({status})"),
                );
                warn!(function = %name, generation, %status, failed, "the function's process exited: its invocations failed (Runtime.ExitError); starting it again");
            }
            Ended::TimedOut => {
                let _ = child.kill().await;
                let failed = fail_held(
                    &shared,
                    generation,
                    "the process was ended: an invocation it held timed out",
                );
                warn!(function = %name, generation, failed, "an invocation timed out: the process was ended, as Lambda does; starting it again");
            }
            Ended::Rebuilt => {
                info!(function = %name, generation, "the binary was rebuilt: the running invocations finish, then the new build starts");
                let drain = Instant::now();
                while held(&shared, generation) > 0 && drain.elapsed() < shared.spec.timeout {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = child.kill().await;
                fail_held(
                    &shared,
                    generation,
                    "the process was replaced by a new build",
                );
            }
        }
        api.abort();
        // A process that keeps dying at start is started again less and less often.
        if started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        } else {
            backoff = Duration::from_millis(250);
        }
    }
}

async fn timed_out(shared: &Shared, generation: u64) {
    loop {
        shared.kill.notified().await;
        let mut calls = lock(&shared.state);
        if calls.kill == Some(generation) {
            calls.kill = None;
            return;
        }
    }
}

/// Returns once `binary` changed since `built` (and has stayed unchanged for a moment, so a
/// build still being written is not started).
async fn rebuilt(binary: &Path, built: Option<SystemTime>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = modified(binary);
        if now.is_some() && now != built {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if modified(binary) == now {
                return;
            }
        }
    }
}

fn held(shared: &Shared, generation: u64) -> usize {
    lock(&shared.state)
        .waiting
        .values()
        .filter(|c| c.generation == Some(generation))
        .count()
}

/// Fails every invocation the process of `generation` took and did not answer.
fn fail_held(shared: &Shared, generation: u64, why: &str) -> usize {
    let mut calls = lock(&shared.state);
    let ids: Vec<String> = calls
        .waiting
        .iter()
        .filter(|(_, c)| c.generation == Some(generation))
        .map(|(id, _)| id.clone())
        .collect();
    for id in &ids {
        if let Some(call) = calls.waiting.remove(id) {
            let _ = call.reply.send(Err(why.to_owned()));
        }
    }
    ids.len()
}

/// What one process's Runtime API serves.
#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    generation: u64,
    retired: watch::Receiver<bool>,
}

async fn spawn(
    shared: &Arc<Shared>,
    generation: u64,
    retired: watch::Receiver<bool>,
) -> Result<(tokio::process::Child, tokio::task::JoinHandle<()>), String> {
    let spec = &shared.spec;
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(Api {
            shared: shared.clone(),
            generation,
            retired,
        });
    let (addr, api) = crate::http::serve(SocketAddr::from(([127, 0, 0, 1], 0)), app, "runtime API")
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let child = tokio::process::Command::new(&spec.binary)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env("AWS_LAMBDA_MAX_CONCURRENCY", spec.concurrency.to_string())
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{generation}"))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            api.abort();
            format!(
                "{}: {e} (is it built? cargo build --bins)",
                spec.binary.display()
            )
        })?;
    Ok((child, api))
}

/// `GET /next`: the next invocation, once there is one.
async fn next(State(api): State<Api>) -> Response {
    let mut retired = api.retired.clone();
    loop {
        let queued = {
            let mut queue = tokio::select! {
                queue = api.shared.queue.lock() => queue,
                _ = retired.wait_for(|r| *r) => return retired_answer(),
            };
            tokio::select! {
                queued = queue.recv() => queued,
                _ = retired.wait_for(|r| *r) => return retired_answer(),
            }
        };
        let Some(queued) = queued else {
            return retired_answer();
        };
        {
            let mut calls = lock(&api.shared.state);
            // Gone: it timed out before any process took it.
            let Some(call) = calls.waiting.get_mut(&queued.id) else {
                continue;
            };
            // This process ended while the request waited (its connection outlives it):
            // the invocation goes back for the next process.
            if *api.retired.borrow() {
                drop(calls);
                let _ = api.shared.sender.send(queued);
                return retired_answer();
            }
            call.generation = Some(api.generation);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", queued.id.clone()),
            ("lambda-runtime-deadline-ms", queued.deadline_ms.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                format!(
                    "arn:aws:lambda:{}:000000000000:function:{}",
                    crate::REGION,
                    api.shared.spec.name
                ),
            ),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        return (StatusCode::OK, headers, queued.event.to_string()).into_response();
    }
}

/// A retired process gets no more work; its runtime gives up on the error and the process
/// is ended once its invocations are answered.
fn retired_answer() -> Response {
    crate::http::json(
        StatusCode::GONE,
        serde_json::json!({"errorType": "Runtime.Retired", "errorMessage": "a new build replaces this process"}),
        None,
    )
}

fn settle(api: &Api, id: &str, result: Result<Value, String>) -> StatusCode {
    let call = lock(&api.shared.state).waiting.remove(id);
    match call {
        Some(call) => {
            let _ = call.reply.send(result);
            StatusCode::ACCEPTED
        }
        // Answered after its timeout, or an id this runtime never gave out.
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    let result = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "unusable response {:?}: {e}",
            String::from_utf8_lossy(&body)
        )
    });
    settle(&api, &id, result)
}

async fn error(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    let result = Err(format!(
        "function error: {}",
        String::from_utf8_lossy(&body)
    ));
    settle(&api, &id, result)
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    warn!(function = %api.shared.spec.name, error = %String::from_utf8_lossy(&body), "the function failed to start");
    StatusCode::ACCEPTED
}

/// Reads an env file (`KEY=VALUE` lines, as `cargo lambda watch --env-file` takes).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect())
}

/// Rebuilds the binaries `bins` whenever a source file under `root` changes (what `cargo lambda
/// watch` does for the functions it serves), so a running function picks up a code change.
pub async fn rebuild_on_change(root: PathBuf, bins: Vec<String>) {
    let mut seen = newest_source(&root);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = newest_source(&root);
        if now == seen {
            continue;
        }
        seen = now;
        info!(?bins, "a source changed: rebuilding");
        let mut build = tokio::process::Command::new("cargo");
        build.current_dir(&root).args(["build", "--quiet"]);
        for bin in &bins {
            build.args(["--bin", bin]);
        }
        match build.status().await {
            Ok(s) if s.success() => info!("rebuilt"),
            Ok(s) => {
                warn!(status = %s, "the build failed: the functions keep running the last build")
            }
            Err(e) => warn!(error = %e, "could not run cargo build"),
        }
    }
}

/// The newest modification time of the workspace's Rust sources and manifests.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, newest);
                }
            } else if (name.ends_with(".rs") || name == "Cargo.toml" || name == "Cargo.lock")
                && let Some(m) = modified(&path)
            {
                *newest = (*newest).max(Some(m));
            }
        }
    }
    let mut newest = None;
    for part in ["functions", "shared", "Cargo.toml", "Cargo.lock"] {
        let path = root.join(part);
        if path.is_dir() {
            walk(&path, &mut newest);
        } else {
            newest = newest.max(modified(&path));
        }
    }
    newest
}

#[cfg(test)]
mod tests;
