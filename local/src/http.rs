//! What the local stand-ins (FCM, the webhook receiver) share: serving a router on loopback,
//! and JSON answers.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
};

use axum::{
    Router,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

/// Serves `app` on `addr` (port 0 picks a free one) until the task is dropped.
pub(crate) async fn serve(
    addr: SocketAddr,
    app: Router,
    what: &'static str,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "{what} stopped");
        }
    });
    Ok((bound, task))
}

/// A JSON answer, with `Retry-After` (seconds) when given.
pub(crate) fn json(status: StatusCode, body: Value, retry_after: Option<u64>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// What a stand-in received, and the answers it was told to give next, by key (a device
/// token, a path), oldest first.
pub(crate) struct Recorder<T, A> {
    inner: std::sync::Mutex<Log<T, A>>,
}

/// What arrived, and the scripted answers by key.
type Log<T, A> = (Vec<T>, HashMap<String, VecDeque<A>>);

impl<T: Clone, A> Default for Recorder<T, A> {
    fn default() -> Self {
        Self {
            inner: std::sync::Mutex::new((Vec::new(), HashMap::new())),
        }
    }
}

impl<T: Clone, A> Recorder<T, A> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log<T, A>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next requests for `key` get `answers`, in order.
    pub(crate) fn script(&self, key: &str, answers: Vec<A>) {
        self.lock()
            .1
            .entry(key.to_owned())
            .or_default()
            .extend(answers);
    }

    /// The answer scripted for the next request for `key`, if any.
    pub(crate) fn next_answer(&self, key: &str) -> Option<A> {
        self.lock().1.get_mut(key).and_then(VecDeque::pop_front)
    }

    /// Records `item`.
    pub(crate) fn record(&self, item: T) {
        self.lock().0.push(item);
    }

    /// Records the item `make` builds from how many came before it (under the lock, so two
    /// at once never get the same number), and returns it.
    pub(crate) fn record_numbered(&self, make: impl FnOnce(usize) -> T) -> T {
        let mut inner = self.lock();
        let item = make(inner.0.len());
        inner.0.push(item.clone());
        item
    }

    pub(crate) fn received(&self) -> Vec<T> {
        self.lock().0.clone()
    }

    /// A stand-in's `POST …/script` body, `{"<key_field>": …, "responses": [...]}`: scripts
    /// them and answers `204`, or `400` naming what is wrong.
    pub(crate) fn script_request(&self, key_field: &str, body: &[u8]) -> Response
    where
        A: serde::de::DeserializeOwned,
    {
        #[derive(serde::Deserialize)]
        struct Script<A> {
            responses: Vec<A>,
        }
        let parsed = serde_json::from_slice::<Value>(body)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                let key = v[key_field]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{key_field}` (a string) is required"))?;
                let script: Script<A> = serde_json::from_value(v).map_err(|e| e.to_string())?;
                Ok((key, script.responses))
            });
        match parsed {
            Ok((key, answers)) => {
                self.script(&key, answers);
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": e }),
                None,
            ),
        }
    }
}
