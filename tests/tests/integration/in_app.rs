//! The in-app channel through the whole pipeline against the emulator, with a real WebSocket
//! client on the stand-in for API Gateway's WebSocket API: connect with a user token (query
//! or subprotocol) and not without one, receive an item pushed while connected (and its
//! counts), `delivered` at once; ack, read and ping over the socket; reconnect and resync
//! with `since`; a stale connection answered `410 Gone` removed; a repeated message stores
//! nothing twice; erasing the user takes the inbox with it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::StatusCode;
use notify_shared::{
    domain::{TenantId, UserId, time::Timestamp},
    store::{Connection, Connections, InboxStore},
    user_token::{UserToken, UserTokenSecret},
};
use notify_tests::TestStack;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn now() -> Timestamp {
    notify_shared::clock::Clock::now(&notify_shared::clock::SystemClock)
}

fn user() -> String {
    format!("u-{}", uuid::Uuid::new_v4().simple())
}

async fn secret(t: &TestStack) -> UserTokenSecret {
    let (status, created) = t.call("POST", "/v1/user-token-secret", None).await;
    assert!(status.is_success(), "{created}");
    serde_json::from_value(created["secret"].clone()).unwrap()
}

fn token(secret: &UserTokenSecret, user: &str, ttl_s: i64) -> String {
    UserToken {
        tenant: TenantId::new("test"),
        user: UserId::parse(user).unwrap(),
        expires: now().as_seconds() + ttl_s,
    }
    .sign(secret)
}

async fn connect(t: &TestStack, token: &str) -> Socket {
    let url = format!("{}/?token={token}", t.websocket_url);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    socket
}

/// The next text message, within a few seconds.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

async fn say(socket: &mut Socket, message: Value) -> Value {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
    next(socket).await
}

async fn in_app(t: &TestStack, user: &str, body: &str) -> String {
    t.send(&json!({"channel": "in_app", "userId": user, "title": "Order", "body": body}))
        .await
}

#[tokio::test]
async fn an_item_arrives_live_then_a_reconnected_app_resyncs_with_since() {
    let t = TestStack::new().await;
    let u = user();
    let secret = secret(&t).await;
    let good = token(&secret, &u, 600);

    // No token, an expired one, another tenant's secret: refused before the upgrade.
    for bad in [
        format!("{}/", t.websocket_url),
        format!("{}/?token={}", t.websocket_url, token(&secret, &u, -10)),
        format!(
            "{}/?token={}",
            t.websocket_url,
            token(&UserTokenSecret::generate().unwrap(), &u, 600)
        ),
    ] {
        assert!(tokio_tungstenite::connect_async(bad).await.is_err());
    }

    let mut socket = connect(&t, &good).await;
    let first = in_app(&t, &u, "shipped").await;
    let view = t
        .deliver_until(&first, "delivered", Duration::from_secs(20))
        .await;
    assert_eq!(
        view["status"], "delivered",
        "pushed to a live connection: {view}"
    );
    let pushed = next(&mut socket).await;
    assert_eq!(pushed["type"], "item");
    assert_eq!(pushed["item"]["id"], first.as_str());
    assert_eq!(pushed["item"]["body"], "shipped");
    assert_eq!(pushed["unreadCount"], 1);

    assert_eq!(
        say(&mut socket, json!({"action": "ping"})).await["type"],
        "pong"
    );
    let ack = say(&mut socket, json!({"action": "ack", "id": first})).await;
    assert_eq!(ack, json!({"type": "ack", "id": first}));
    let read = say(&mut socket, json!({"action": "read", "id": first})).await;
    assert_eq!(read["type"], "marked");
    assert_eq!(read["unreadCount"], 0);
    assert!(t.notification(&first).await["readAt"].is_string());
    let unknown = say(
        &mut socket,
        json!({"action": "read", "id": uuid::Uuid::now_v7().to_string()}),
    )
    .await;
    assert_eq!(unknown["code"], "not_found");
    let wrong = say(&mut socket, json!({"action": "delete"})).await;
    assert_eq!(wrong["code"], "bad_request");

    // The app goes away; what happens meanwhile is in the delta after the reconnect.
    let (status, feed) = t.call("GET", &format!("/v1/users/{u}/inbox"), None).await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let since = feed["since"].as_str().unwrap().to_owned();
    socket.close(None).await.unwrap();
    // The stand-in tells the function, which forgets the connection.
    let mut gone = false;
    for _ in 0..50 {
        let live = t
            .store
            .of_user(&TenantId::new("test"), &UserId::parse(&u).unwrap(), now())
            .await
            .unwrap();
        if live.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the closed connection is forgotten");
    let second = in_app(&t, &u, "delivered to your door").await;
    let view = t
        .deliver_until(&second, "sent", Duration::from_secs(20))
        .await;
    assert_eq!(
        view["status"], "sent",
        "nobody connected: stored, not delivered: {view}"
    );

    let mut socket = connect(&t, &good).await;
    let path = format!("/v1/users/{u}/inbox?since={since}");
    let (status, answer, _) = call_as(&t, &good, "GET", &path).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let ids: Vec<&str> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&second.as_str()), "{answer}");
    assert_eq!(answer["unreadCount"], 1);
    // Fetched by the app: delivered now.
    assert_eq!(t.notification(&second).await["status"], "delivered");
    // And the next one arrives live again, with the subprotocol form of the token.
    socket.close(None).await.unwrap();
    let mut request = t.websocket_url.clone().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("notify.v1, {good}")).unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "notify.v1");
    let third = in_app(&t, &u, "third").await;
    t.deliver_until(&third, "delivered", Duration::from_secs(20))
        .await;
    let pushed = next(&mut socket).await;
    assert_eq!(pushed["item"]["id"], third.as_str());
    assert_eq!(pushed["unreadCount"], 2);
}

async fn call_as(t: &TestStack, token: &str, method: &str, path: &str) -> (StatusCode, Value, ()) {
    let (status, answer) = TestStack::call_app(&t.api, method, path, None, Some(token), &[]).await;
    (status, answer, ())
}

#[tokio::test]
async fn a_stale_connection_answered_gone_is_removed_and_the_item_is_stored_once() {
    let t = TestStack::new().await;
    let u = user();
    let (tenant, user_id) = (TenantId::new("test"), UserId::parse(&u).unwrap());
    // A connection whose `$disconnect` never came: API Gateway answers 410 for it.
    let stale = Connection {
        id: "c3RhbGUtY29ubmVjdGlvbg".into(),
        tenant: tenant.clone(),
        user: user_id.clone(),
        connected_at: now(),
    };
    t.store.connect(&stale).await.unwrap();
    let id = in_app(&t, &u, "hello").await;
    let view = t.deliver_until(&id, "sent", Duration::from_secs(20)).await;
    assert_eq!(view["status"], "sent", "{view}");
    let live = t.store.of_user(&tenant, &user_id, now()).await.unwrap();
    assert!(
        live.is_empty(),
        "the gone connection was forgotten: {live:?}"
    );

    // The same message delivered again (SQS at least once) stores nothing twice.
    let item_id = notify_shared::domain::NotificationId::parse(&id).unwrap();
    let item = t
        .store
        .item(&tenant, &user_id, &item_id, now())
        .await
        .unwrap()
        .unwrap();
    let added = t
        .store
        .add(
            &tenant,
            &user_id,
            &item,
            now().plus(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert!(!added, "already there");
    assert_eq!(t.store.counts(&tenant, &user_id).await.unwrap().unread, 1);

    // Erasing the user takes the inbox along.
    let (status, _) = t.call("DELETE", &format!("/v1/users/{u}"), None).await;
    assert!(status.is_success());
    let (_, feed) = t.call("GET", &format!("/v1/users/{u}/inbox"), None).await;
    assert_eq!(feed["items"], json!([]));
    assert_eq!(feed["unreadCount"], 0);
}

#[tokio::test]
async fn marks_and_mark_all_against_the_table_count_once_under_concurrency() {
    let t = TestStack::new().await;
    let u = user();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(in_app(&t, &u, &format!("n{i}")).await);
    }
    for id in &ids {
        t.deliver_until(id, "sent", Duration::from_secs(20)).await;
    }
    // Ten reads of one item at once: it counts once.
    let path = format!("/v1/users/{u}/inbox/{}/read", ids[0]);
    let reads = (0..10).map(|_| t.call("POST", &path, None));
    for (status, answer) in futures::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, feed) = t.call("GET", &format!("/v1/users/{u}/inbox"), None).await;
    assert_eq!(feed["unreadCount"], 5, "{feed}");
    assert_eq!(feed["unseenCount"], 5);
    let (status, all) = t
        .call(
            "POST",
            &format!("/v1/users/{u}/inbox/mark-all"),
            Some(&json!({"action": "seen"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["marked"], 5);
    assert_eq!(
        (all["unreadCount"].as_i64(), all["unseenCount"].as_i64()),
        (Some(5), Some(0))
    );
    let (_, page) = t
        .call(
            "GET",
            &format!("/v1/users/{u}/inbox?limit=4&status=unread"),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let next = page["next"].as_str().unwrap();
    let (_, rest) = t.call("GET", next, None).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next"], Value::Null);
}
