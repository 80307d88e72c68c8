//! Webhooks through the API, the webhook worker and a receiver on loopback: signed deliveries
//! (checked with the Standard Webhooks reference library), the answers a receiver can give,
//! secret rotation, and the network guard at send time. Nothing leaves loopback: the worker's
//! DNS is the test's (`TestDns`), and a name resolving to a private address is refused before
//! any connection.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use http::StatusCode;
use notify_local::receiver::{Answer, ReceivedWebhook};
use notify_tests::TestStack;
use serde_json::{Value, json};

/// Registers endpoint `name` → the stack's receiver at `/<name>`; returns its secret.
async fn register(t: &TestStack, name: &str) -> String {
    let body =
        json!({"url": format!("{}/{name}", t.receiver_url), "headers": {"X-Tenant": "test"}});
    let (status, created) = t
        .call(
            "PUT",
            &format!("/v1/webhooks/endpoints/{name}"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["secret"].as_str().expect("a secret").to_owned()
}

fn event(endpoint: &str, n: u32) -> Value {
    json!({"channel": "webhook", "endpoint": endpoint, "payload": {"type": "order.shipped", "data": {"order": n, "note": "Café \"crème\""}}})
}

/// Verifies each delivery with the reference library (`standardwebhooks` from PyPI, installed
/// by scripts/tools.sh) and the given secret; `Err` names the first that it refused.
pub(crate) fn reference_verify(secret: &str, deliveries: &[ReceivedWebhook]) -> Result<(), String> {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.dev/venv/bin/python");
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
job = json.load(sys.stdin)
wh = Webhook(job["secret"])
for i, d in enumerate(job["deliveries"]):
    try:
        wh.verify(d["body"], d["headers"])
    except Exception as e:
        print(f"delivery {i}: {type(e).__name__}: {e}")
        sys.exit(1)
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{python}: {e} (run scripts/tools.sh)"))?;
    let job = json!({"secret": secret, "deliveries": deliveries});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn history_reasons(view: &Value) -> Vec<String> {
    view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["reason"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_delivery_is_signed_and_the_reference_verifier_accepts_it() {
    let t = TestStack::new().await;
    let secret = register(&t, "orders").await;
    let id = t.send(&event("orders", 1)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(view["provider"], "webhook");
    assert_eq!(view["deliveries"][0]["response"]["status"], 200);
    assert_eq!(
        view["deliveries"][0]["response"]["excerpt"],
        r#"{"received":true}"#
    );

    let got = t.receiver.received_at("/orders");
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(
        d.header("webhook-id"),
        Some(id.as_str()),
        "the notification's id"
    );
    assert_eq!(d.header("content-type"), Some("application/json"));
    assert_eq!(
        d.header("x-tenant"),
        Some("test"),
        "the endpoint's own header"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&d.body).unwrap(),
        json!({"type": "order.shipped", "data": {"order": 1, "note": "Café \"crème\""}})
    );
    assert_eq!(
        d.verified_by.as_deref(),
        Some("endpoint orders"),
        "{:?}",
        d.verify_error
    );
    reference_verify(&secret, &got).expect("the reference library accepts the signature");
    assert!(
        reference_verify(&register(&t, "other").await, &got).is_err(),
        "and refuses it with another secret"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_notification_is_sent_once() {
    let t = TestStack::new().await;
    let secret = register(&t, "flaky").await;
    t.receiver.script("/flaky", vec![Answer::status(503)]);
    let id = t.send(&event("flaky", 2)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(15)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(view["attempts"], 2);
    let got = t.receiver.received_at("/flaky");
    assert_eq!(
        got.iter().map(|d| d.answered).collect::<Vec<_>>(),
        [503, 200]
    );
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "stable across retries"
    );
    assert!(
        history_reasons(&view)
            .iter()
            .any(|r| r.starts_with("http_503")),
        "{view}"
    );
    reference_verify(&secret, &got).expect("both attempts are signed");
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after() {
    let t = TestStack::new().await;
    register(&t, "busy").await;
    let mut busy = Answer::status(429);
    busy.retry_after = Some(2);
    t.receiver.script("/busy", vec![busy]);
    let id = t.send(&event("busy", 3)).await;

    let started = std::time::Instant::now();
    t.deliver_all().await;
    assert_eq!(t.receiver.received_at("/busy").len(), 1);
    // Within the Retry-After, the message stays invisible: nothing is sent again.
    t.deliver_all().await;
    if started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            t.receiver.received_at("/busy").len(),
            1,
            "not before Retry-After"
        );
    }
    let view = t.deliver_until_settled(&id, Duration::from_secs(15)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(t.receiver.received_at("/busy").len(), 2);
}

#[tokio::test]
async fn a_404_fails_at_once_without_a_retry() {
    let t = TestStack::new().await;
    register(&t, "gone-path").await;
    t.receiver
        .script("/gone-path", vec![Answer::status(404), Answer::status(200)]);
    let id = t.send(&event("gone-path", 4)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "http_404");
    t.deliver_all().await;
    assert_eq!(
        t.receiver.received_at("/gone-path").len(),
        1,
        "never retried"
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint_until_it_is_enabled_again() {
    let t = TestStack::new().await;
    register(&t, "retired").await;
    t.receiver.script("/retired", vec![Answer::status(410)]);
    let first = t.send(&event("retired", 5)).await;
    let view = t
        .deliver_until_settled(&first, Duration::from_secs(10))
        .await;
    assert_eq!(
        (view["status"].as_str(), view["error"]["code"].as_str()),
        (Some("failed"), Some("endpoint_gone")),
        "{view}"
    );

    let (_, endpoint) = t.call("GET", "/v1/webhooks/endpoints/retired", None).await;
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
    let second = t.send(&event("retired", 6)).await;
    let view = t
        .deliver_until_settled(&second, Duration::from_secs(10))
        .await;
    assert_eq!(view["error"]["code"], "endpoint_disabled", "{view}");
    assert_eq!(
        t.receiver.received_at("/retired").len(),
        1,
        "nothing sent to a disabled endpoint"
    );

    let enable = json!({"url": format!("{}/retired", t.receiver_url), "enabled": true});
    let (status, endpoint) = t
        .call(
            "PUT",
            "/v1/webhooks/endpoints/retired",
            Some(&enable.to_string()),
        )
        .await;
    assert_eq!(
        (status, endpoint["status"].as_str()),
        (StatusCode::OK, Some("enabled"))
    );
    let third = t.send(&event("retired", 7)).await;
    assert_eq!(
        t.deliver_until_settled(&third, Duration::from_secs(10))
            .await["status"],
        "sent"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let t = TestStack::new().await;
    register(&t, "moved").await;
    let mut moved = Answer::status(302);
    moved.location = Some(format!("{}/elsewhere", t.receiver_url));
    t.receiver.script("/moved", vec![moved]);
    let id = t.send(&event("moved", 8)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"]["code"], "redirect_not_followed");
    assert!(t.receiver.received_at("/elsewhere").is_empty());
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_the_retry_is_sent() {
    let t = TestStack::new().await;
    register(&t, "slow").await;
    let mut slow = Answer::status(200);
    slow.delay_ms = Some(notify_tests::WEBHOOK_TIMEOUT.as_millis() as u64 + 1500);
    t.receiver.script("/slow", vec![slow]);
    let id = t.send(&event("slow", 9)).await;

    let view = t.deliver_until_settled(&id, Duration::from_secs(20)).await;
    assert_eq!(view["status"], "sent", "{view}");
    assert!(
        history_reasons(&view)
            .iter()
            .any(|r| r.starts_with("timeout")),
        "{view}"
    );
    assert_eq!(view["attempts"], 2);
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_at_send_time() {
    let t = TestStack::new().await;
    // A listener that counts connections: the delivery must never reach it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for (host, private) in [
        ("rebind.test", "10.0.0.5"),
        ("metadata.test", "169.254.169.254"),
    ] {
        // Loopback first: if the guard let the name through, the connection would go there
        // (and be counted), never to the private address.
        t.dns.answer(host, &["127.0.0.1", private]);
        let body = json!({"url": format!("https://{host}:{port}/hook")});
        let name = host.replace('.', "-");
        let (status, answer) = t
            .call(
                "PUT",
                &format!("/v1/webhooks/endpoints/{name}"),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "the API cannot know what DNS will say: {answer}"
        );
        let id = t.send(&event(&name, 10)).await;
        let view = t.deliver_until_settled(&id, Duration::from_secs(10)).await;
        assert_eq!(view["status"], "failed", "{view}");
        assert_eq!(view["error"]["code"], "refused_address", "{view}");
        assert!(
            view["error"]["message"].as_str().unwrap().contains(private),
            "{view}"
        );
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was attempted"
    );
}

#[tokio::test]
async fn after_a_rotation_both_secrets_verify_until_the_grace_period_ends() {
    let t = TestStack::new().await;
    let old = register(&t, "rotating").await;
    let (status, rotated) = t
        .call(
            "POST",
            "/v1/webhooks/endpoints/rotating/rotate-secret",
            Some(r#"{"graceSeconds": 3600}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    let id = t.send(&event("rotating", 11)).await;
    assert_eq!(
        t.deliver_until_settled(&id, Duration::from_secs(10)).await["status"],
        "sent"
    );

    let got = t.receiver.received_at("/rotating");
    assert_eq!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    reference_verify(&old, &got).expect("the old secret still verifies");
    reference_verify(&new, &got).expect("the new secret verifies");

    let (_, rotated) = t
        .call(
            "POST",
            "/v1/webhooks/endpoints/rotating/rotate-secret",
            Some(r#"{"graceSeconds": 0}"#),
        )
        .await;
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    let id = t.send(&event("rotating", 12)).await;
    assert_eq!(
        t.deliver_until_settled(&id, Duration::from_secs(10)).await["status"],
        "sent"
    );
    let last = &t.receiver.received_at("/rotating")[1..];
    assert_eq!(
        last[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    reference_verify(&newest, last).expect("the newest secret verifies");
    assert!(
        reference_verify(&new, last).is_err(),
        "without a grace period, the previous one stops at once"
    );
}

#[tokio::test]
async fn an_inline_url_is_delivered_signed_with_the_tenant_s_signing_secret() {
    let t = TestStack::new().await;
    let (status, created) = t.call("POST", "/v1/webhooks/signing-secret", None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = t
        .send(&json!({"channel": "webhook", "url": format!("{}/inline", t.receiver_url), "payload": {"a": 1}}))
        .await;
    assert_eq!(
        t.deliver_until_settled(&id, Duration::from_secs(10)).await["status"],
        "sent"
    );
    let got = t.receiver.received_at("/inline");
    assert_eq!(
        got[0].verified_by.as_deref(),
        Some("the tenant's signing secret")
    );
    reference_verify(&secret, &got).expect("the reference library accepts it");
}

#[tokio::test]
async fn endpoints_are_kept_per_tenant_with_conditional_writes_in_dynamodb() {
    use notify_shared::{
        domain::{EndpointName, TenantId},
        store::{StoreError, WebhookEndpoints},
    };
    let t = TestStack::new().await;
    register(&t, "kept").await;
    let tenant = TenantId::new("test");
    let name = EndpointName::parse("kept").unwrap();
    let stored = t
        .store
        .endpoint(&tenant, &name)
        .await
        .unwrap()
        .expect("stored");
    assert!(
        t.store
            .endpoint(&TenantId::new("other"), &name)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        t.store.create_endpoint(&stored).await,
        Err(StoreError::Conflict(_))
    ));
    let mut changed = stored.clone();
    changed.description = Some("changed".into());
    changed.updated_at = stored.updated_at.plus(Duration::from_millis(1));
    t.store
        .replace_endpoint(&changed, stored.updated_at)
        .await
        .unwrap();
    assert!(
        matches!(
            t.store.replace_endpoint(&changed, stored.updated_at).await,
            Err(StoreError::Conflict(_))
        ),
        "a write based on a stale read is refused"
    );
    assert_eq!(t.store.endpoints(&tenant).await.unwrap().len(), 1);
    assert!(t.store.delete_endpoint(&tenant, &name).await.unwrap());
    assert!(!t.store.delete_endpoint(&tenant, &name).await.unwrap());
}
