//! The local Lambda with a function written against the Runtime API in bash and curl: what
//! it answers, and what the runtime does when it crashes, hangs or is rebuilt.

use super::*;

/// Echoes each event with its process id; `crash` kills the process mid-invocation, `hang`
/// never answers.
const FUNCTION: &str = r#"#!/usr/bin/env bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
headers="$(mktemp)"
while true; do
  event="$(curl -sS -D "$headers" "$api/invocation/next")" || exit 1
  id="$(tr -d '\r' <"$headers" | awk -F': ' 'tolower($1)=="lambda-runtime-aws-request-id"{print $2}')"
  case "$event" in
    *crash*) kill -9 $$ ;;
    *hang*) exec sleep 600 ;;
    *fail*) curl -sS -X POST --data-binary '{"errorType":"Boom","errorMessage":"no"}' "$api/invocation/$id/error" >/dev/null; continue ;;
  esac
  curl -sS -X POST --data-binary "{\"echo\":$event,\"pid\":$$,\"concurrency\":$AWS_LAMBDA_MAX_CONCURRENCY}" "$api/invocation/$id/response" >/dev/null
done
"#;

fn function(timeout: Duration) -> (LocalFunction, PathBuf) {
    let dir = std::env::temp_dir().join(format!("notify-lambda-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("echo-function");
    write_function(&binary);
    let spec = FunctionSpec {
        name: "echo".into(),
        binary: binary.clone(),
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        timeout,
        concurrency: 1,
        memory_mb: 128,
    };
    (LocalFunction::start(spec), binary)
}

fn write_function(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Written beside, then renamed: a running script is never rewritten under it.
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, FUNCTION).unwrap();
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&fresh, path).unwrap();
}

async fn pid(f: &LocalFunction, event: Value) -> u64 {
    let answer = f.invoke_json(&event).await.expect("an answer");
    assert_eq!(answer["echo"], event, "{answer}");
    answer["pid"].as_u64().expect("a pid")
}

#[tokio::test]
async fn an_invocation_is_answered_through_the_runtime_api() {
    let (f, _) = function(Duration::from_secs(20));
    let answer = f.invoke_json(&serde_json::json!({"n": 1})).await.unwrap();
    assert_eq!(answer["echo"], serde_json::json!({"n": 1}));
    assert_eq!(
        answer["concurrency"], 1,
        "AWS_LAMBDA_MAX_CONCURRENCY is set"
    );
    let error = f.invoke_json(&serde_json::json!("fail")).await.unwrap_err();
    assert!(error.contains("Boom"), "{error}");
    // The same process goes on after a function error.
    let first = pid(&f, serde_json::json!({"n": 2})).await;
    assert_eq!(pid(&f, serde_json::json!({"n": 3})).await, first);
}

#[tokio::test]
async fn a_process_that_dies_fails_its_invocation_and_is_started_again() {
    let (f, _) = function(Duration::from_secs(20));
    let before = pid(&f, serde_json::json!({"n": 1})).await;
    let error = f
        .invoke_json(&serde_json::json!("crash"))
        .await
        .unwrap_err();
    assert!(error.contains("Runtime.ExitError"), "{error}");
    let after = pid(&f, serde_json::json!({"n": 2})).await;
    assert_ne!(before, after, "a new process serves the next invocation");
}

#[tokio::test]
async fn an_invocation_past_the_timeout_ends_its_process() {
    let (f, _) = function(Duration::from_secs(2));
    let before = pid(&f, serde_json::json!({"n": 1})).await;
    let error = f.invoke_json(&serde_json::json!("hang")).await.unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    let after = pid(&f, serde_json::json!({"n": 2})).await;
    assert_ne!(before, after);
}

#[tokio::test]
async fn a_rebuilt_binary_replaces_the_process() {
    let (f, binary) = function(Duration::from_secs(20));
    let before = pid(&f, serde_json::json!({"n": 1})).await;
    // A different modification time, as a build leaves.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write_function(&binary);
    let mut after = before;
    for n in 0..40 {
        after = pid(&f, serde_json::json!({ "n": n })).await;
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_ne!(before, after, "the new build serves later invocations");
}

#[test]
fn an_env_file_is_read_as_cargo_lambda_reads_it() {
    let path = std::env::temp_dir().join(format!("notify-env-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, "# a comment\nA=1\n\nB=x=y\n").unwrap();
    let env = read_env_file(&path).unwrap();
    assert_eq!(
        env,
        vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
    );
    assert!(read_env_file(&path.with_extension("missing")).is_err());
}
