//! One cold start of a function's binary, timed from the Runtime API's side as Lambda times
//! it: init from the exec to the first `GET /next`, each invocation from the event handed out
//! to the answer posted back, and the process's peak memory (`VmHWM`) once it asks for more.
//!
//! [`lambda`](crate::lambda) runs functions for `make dev` (restarts, timeouts, several
//! invocations at once); this runs one process once and keeps only timestamps, so its own
//! work stays out of what it measures.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::Value;
use tokio::sync::Notify;

/// What one process did.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// From the exec to its first `GET /next`.
    pub init: Duration,
    /// Each event's time from handed out to answered, in order, with the answer.
    pub invokes: Vec<(Duration, Result<Value, String>)>,
    /// `VmHWM` in KiB, read while the process waited for more work.
    pub peak_rss_kib: Option<u64>,
}

#[derive(Default)]
struct Probe {
    events: VecDeque<Value>,
    /// When each `GET /next` arrived (the event is handed out at once).
    asked: Vec<Instant>,
    answered: Vec<(Instant, Result<Value, String>)>,
    init_error: Option<String>,
}

#[derive(Clone)]
struct Api {
    probe: Arc<Mutex<Probe>>,
    changed: Arc<Notify>,
}

impl Api {
    fn record(&self, f: impl FnOnce(&mut Probe)) {
        f(&mut self.probe.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_one();
    }
}

/// Runs `binary` with `env` (nothing else of this process's environment), hands it `events`
/// one at a time, and ends it once it has answered them all (or failed, or `within` passed).
/// Its output goes to `log`.
pub async fn run(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<Value>,
    log: &Path,
    within: Duration,
) -> Result<ColdStart, String> {
    let wanted = events.len();
    let api = Api {
        probe: Arc::new(Mutex::new(Probe {
            events: events.into(),
            ..Probe::default()
        })),
        changed: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(answer))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let (addr, server) =
        crate::http::serve(SocketAddr::from(([127, 0, 0, 1], 0)), app, "runtime API")
            .await
            .map_err(|e| format!("runtime API: {e}"))?;
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let deadline = tokio::time::Instant::now() + within;
    let outcome = loop {
        {
            let probe = api.probe.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &probe.init_error {
                break Err(format!("init failed: {e}"));
            }
            // Every event answered and the process back at `/next`: it is idle, as it would
            // be between invocations.
            if probe.answered.len() == wanted && probe.asked.len() > wanted {
                break Ok(());
            }
        }
        tokio::select! {
            () = api.changed.notified() => {}
            status = child.wait() => break Err(format!("the process exited: {status:?}")),
            () = tokio::time::sleep_until(deadline) => break Err(format!("no answer within {within:?}")),
        }
    };
    let peak_rss_kib = child.id().and_then(peak_rss_kib);
    let _ = child.kill().await;
    server.abort();
    outcome.map_err(|e| format!("{name}: {e} (its output: {})", log.display()))?;
    let probe = api.probe.lock().unwrap_or_else(|p| p.into_inner());
    Ok(ColdStart {
        init: probe.asked[0] - started,
        invokes: probe
            .answered
            .iter()
            .zip(&probe.asked)
            .map(|((at, answer), asked)| (*at - *asked, answer.clone()))
            .collect(),
        peak_rss_kib,
    })
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `GET /next`: the next event at once, or, when there is none, an answer that never comes.
async fn next(State(api): State<Api>) -> Response {
    let mut event = None;
    api.record(|p| {
        p.asked.push(Instant::now());
        event = p.events.pop_front();
    });
    let Some(event) = event else {
        std::future::pending::<()>().await;
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + 30_000);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            format!(
                "arn:aws:lambda:{}:000000000000:function:bench",
                crate::REGION
            ),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn answer(State(api): State<Api>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let answer = serde_json::from_slice(&body).map_err(|e| format!("unusable answer: {e}"));
    api.record(|p| p.answered.push((at, answer)));
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Api>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let error = Err(String::from_utf8_lossy(&body).into_owned());
    api.record(|p| p.answered.push((at, error)));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    api.record(|p| p.init_error = Some(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}
