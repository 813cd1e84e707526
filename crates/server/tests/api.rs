//! The server API (`/api/`): every route, every refusal, and a bot posting into a room a
//! WebSocket client has open.

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};
use support::{TestServer, WAIT, http_get};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

const KEY: &str = "an-api-key-of-some-length";

async fn api_server() -> TestServer {
    TestServer::start(&format!(
        "[auth]\napi_key = \"{KEY}\"\n[ws]\nmax_text_bytes = 100\n"
    ))
    .await
}

/// One HTTP request; returns the status and the body as JSON (Null when it is not JSON).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let auth = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn post(addr: SocketAddr, room: &str, body: Value) -> (u16, Value) {
    call(
        addr,
        "POST",
        &format!("/api/rooms/{room}/messages"),
        Some(KEY),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn without_a_key_configured_every_api_path_is_404() {
    let server = TestServer::start("").await;
    for path in [
        "/api/rooms",
        "/api/rooms/general/messages",
        "/api/",
        "/api/nothing",
    ] {
        let (status, _) = call(server.addr, "GET", path, Some(KEY), "").await;
        assert_eq!(status, 404, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_right_key_it_is_401() {
    let server = api_server().await;
    for key in [None, Some("wrong"), Some("an-api-key-of-some-lengtH")] {
        let (status, body) = call(server.addr, "GET", "/api/rooms", key, "").await;
        assert_eq!(status, 401, "{key:?}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_bot_posts_into_a_room_a_client_has_open() {
    let server = api_server().await;
    let mut alice = server.joined("alice", "general").await;
    let bot =
        json!({"text": "deploy finished", "from": {"id": "bot", "name": "Deploy Bot"}, "id": "x1"});
    let (status, message) = post(server.addr, "general", bot.clone()).await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["type"], "message");
    assert_eq!(message["from"], json!({"id": "bot", "name": "Deploy Bot"}));
    assert_eq!(message["client_id"], "x1");
    let got = alice.recv_type("message").await;
    assert_eq!(got, message, "the client gets what the API answered");

    // A resend is answered with the stored message and delivers nothing.
    let (status, again) = post(server.addr, "general", bot).await;
    assert_eq!((status, &again["seq"]), (201, &message["seq"]));
    alice.assert_quiet("general").await;

    // Seq continues with members' messages.
    let echo = alice.say("general", "thanks").await;
    assert_eq!(echo["seq"], message["seq"].as_u64().expect("seq") + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_post_is_refused_like_a_bad_send() {
    let server = api_server().await;
    let cases = [
        (
            "bad%20room",
            json!({"text": "x", "from": {"id": "bot"}}).to_string(),
            "bad_room",
        ),
        ("general", "{not json".to_owned(), "bad_json"),
        ("general", json!({"text": "x"}).to_string(), "bad_request"),
        (
            "general",
            json!({"text": "", "from": {"id": "bot"}}).to_string(),
            "bad_request",
        ),
        (
            "general",
            json!({"text": "a".repeat(101), "from": {"id": "bot"}}).to_string(),
            "too_large",
        ),
        (
            "general",
            json!({"text": "x", "from": {"id": "bot", "name": "\u{202e}"}}).to_string(),
            "bad_request",
        ),
    ];
    for (room, body, code) in cases {
        let (status, answer) = call(
            server.addr,
            "POST",
            &format!("/api/rooms/{room}/messages"),
            Some(KEY),
            &body,
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let (status, _) = call(
        server.addr,
        "DELETE",
        "/api/rooms/general/messages",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(status, 405);
    let (status, answer) = call(server.addr, "GET", "/api/nothing/here", Some(KEY), "").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn messages_members_and_rooms_read_the_hub() {
    let server = api_server().await;
    let mut alice = server.joined("alice", "general").await;
    let _bob = server.joined("bob", "general").await;
    for n in 1..=3 {
        alice.say("general", &format!("m{n}")).await;
    }
    // A room nobody is in takes posts too, and its history is there.
    let (status, _) = post(
        server.addr,
        "empty",
        json!({"text": "hello?", "from": {"id": "bot"}}),
    )
    .await;
    assert_eq!(status, 201);

    let (status, page) = call(
        server.addr,
        "GET",
        "/api/rooms/general/messages?limit=2",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let texts: Vec<_> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("m2"), json!("m3")]);
    assert_eq!(page["has_more"], true);
    let (_, page) = call(
        server.addr,
        "GET",
        "/api/rooms/general/messages?before=2",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(page["messages"][0]["text"], "m1");
    let (_, page) = call(
        server.addr,
        "GET",
        "/api/rooms/empty/messages",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(page["messages"][0]["text"], "hello?");
    let (status, bad) = call(
        server.addr,
        "GET",
        "/api/rooms/general/messages?limit=500",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    let (status, members) = call(
        server.addr,
        "GET",
        "/api/rooms/general/members",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let mut names: Vec<_> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    names.sort_by_key(|n| n.to_string());
    assert_eq!(names, [json!("alice"), json!("bob")]);
    let (_, members) = call(
        server.addr,
        "GET",
        "/api/rooms/nobody/members",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(members, json!({"members": []}));

    let (status, rooms) = call(server.addr, "GET", "/api/rooms", Some(KEY), "").await;
    assert_eq!(status, 200);
    assert_eq!(
        rooms,
        json!({"rooms": [{"room": "general", "seq": 3, "members": 2}]})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn disconnect_closes_every_connection_of_the_user_with_4003() {
    let server = TestServer::start(&format!(
        "[auth]\napi_key = \"{KEY}\"\nmode = \"jwt\"\njwt_secret = \"secret for the test\"\n"
    ))
    .await;
    let claims = chat_http::Claims {
        sub: "alice".into(),
        exp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("now")
            .as_secs()
            + 60,
        name: None,
        rooms: None,
    };
    let token = chat_http::mint("secret for the test", &claims).expect("mint");
    let mut first = support::Client::connect(server.addr, &format!("/ws?token={token}")).await;
    let mut second = support::Client::connect(server.addr, &format!("/ws?token={token}")).await;
    first.recv_type("welcome").await;
    second.recv_type("welcome").await;
    let (status, answer) = call(
        server.addr,
        "POST",
        "/api/users/alice/disconnect",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!((status, answer), (200, json!({"closed": 2})));
    assert_eq!(first.recv_close().await, 4003);
    assert_eq!(second.recv_close().await, 4003);
    let (_, answer) = call(
        server.addr,
        "POST",
        "/api/users/nobody/disconnect",
        Some(KEY),
        "",
    )
    .await;
    assert_eq!(answer, json!({"closed": 0}));

    let (_, _, metrics) = http_get(server.addr, "/metrics", "").await;
    let metrics = String::from_utf8_lossy(&metrics);
    let line = r#"chat_api_requests_total{route="disconnect",status="200"} 2"#;
    assert!(metrics.contains(line), "{metrics}");
    assert!(!metrics.contains(KEY));
    server.shutdown().await;
}

#[tokio::test]
async fn a_post_is_answered_once_durable_with_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    let server = TestServer::start(&format!(
        "[auth]\napi_key = \"{KEY}\"\n[history]\nbackend = \"sqlite\"\npath = {:?}\n",
        db.display().to_string()
    ))
    .await;
    let mut alice = server.joined("alice", "general").await;
    for (n, id) in [(1, Some("a")), (2, None), (3, Some("a"))] {
        let mut body = json!({"text": format!("t{n}"), "from": {"id": "bot"}});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        let (status, message) = post(server.addr, "general", body).await;
        assert_eq!(status, 201, "{message}");
        let expected_seq = if n == 3 { 1 } else { n };
        assert_eq!(message["seq"], expected_seq, "{message}");
    }
    assert_eq!(alice.recv_type("message").await["text"], "t1");
    assert_eq!(alice.recv_type("message").await["text"], "t2");
    alice.assert_quiet("general").await;
    server.shutdown().await;
}
