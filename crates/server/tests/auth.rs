//! Sign-in with a JWT: refusals before the upgrade, the token's name and id, one member per
//! user, the `rooms` claim, closing at `exp`, and `chat-server token`.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chat_http::{Claims, mint};
use serde_json::json;
use support::{Client, TestServer, WAIT, http_get, process};
use tokio::time::timeout;
use tokio_tungstenite::connect_async;

const SECRET: &str = "a test secret that is long enough";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn token(sub: &str, name: Option<&str>, rooms: Option<&[&str]>, ttl_secs: i64) -> String {
    let claims = Claims {
        sub: sub.into(),
        exp: now().saturating_add_signed(ttl_secs),
        name: name.map(str::to_owned),
        rooms: rooms.map(|rooms| rooms.iter().map(|r| (*r).to_owned()).collect()),
    };
    mint(SECRET, &claims).expect("mint")
}

async fn jwt_server() -> TestServer {
    TestServer::start(&format!(
        "[auth]\nmode = \"jwt\"\njwt_secret = \"{SECRET}\"\n"
    ))
    .await
}

/// The status of an upgrade to `path` (101 when it succeeds).
async fn status(server: &TestServer, path: &str) -> u16 {
    let url = format!("ws://{}{path}", server.addr);
    match timeout(WAIT, connect_async(url)).await.expect("in time") {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

/// A signed-in client with its `welcome` read.
async fn signed_in(server: &TestServer, token: &str) -> (Client, serde_json::Value) {
    let mut client = Client::connect(server.addr, &format!("/ws?token={token}&name=query")).await;
    let welcome = client.recv_type("welcome").await;
    client.id = welcome["user"]["id"].as_str().expect("id").to_owned();
    (client, welcome)
}

#[tokio::test]
async fn missing_bad_expired_and_unsigned_tokens_get_401() {
    let server = jwt_server().await;
    assert_eq!(status(&server, "/ws?name=alice").await, 401);
    assert_eq!(status(&server, "/ws?token=nonsense").await, 401);
    let forged = mint(
        "another secret!",
        &Claims {
            sub: "alice".into(),
            exp: now() + 60,
            name: None,
            rooms: None,
        },
    )
    .expect("mint");
    assert_eq!(status(&server, &format!("/ws?token={forged}")).await, 401);
    let expired = token("alice", None, None, -60);
    assert_eq!(status(&server, &format!("/ws?token={expired}")).await, 401);
    let body = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{}}}"#, now() + 60));
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        status(&server, &format!("/ws?token={header}.{body}.")).await,
        401
    );
    let good = token("alice", None, None, 60);
    assert_eq!(status(&server, &format!("/ws?token={good}")).await, 101);

    let (_, _, metrics) = http_get(server.addr, "/metrics", "").await;
    let metrics = String::from_utf8_lossy(&metrics);
    for line in [
        r#"chat_auth_failures_total{reason="missing"} 1"#,
        r#"chat_auth_failures_total{reason="expired"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(!metrics.contains(SECRET));
    server.shutdown().await;
}

#[tokio::test]
async fn a_bearer_header_signs_in_and_the_name_claim_wins() {
    let server = jwt_server().await;
    let good = token("alice-id", Some("Alice"), None, 60);
    let header = format!("Bearer {good}");
    assert_eq!(
        support::upgrade_status(server.addr, &[("authorization", &header)]).await,
        101
    );
    let (_, welcome) = signed_in(&server, &good).await;
    assert_eq!(welcome["user"], json!({"id": "alice-id", "name": "Alice"}));
    let unnamed = token("bob-id", None, None, 60);
    let (_, welcome) = signed_in(&server, &unnamed).await;
    assert_eq!(
        welcome["user"]["name"], "query",
        "without a name claim, the query's"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn one_user_on_two_connections_is_one_member() {
    let server = jwt_server().await;
    let mut watcher = {
        let (mut c, _) = signed_in(&server, &token("carol", Some("Carol"), None, 60)).await;
        c.join("room").await;
        c
    };
    let alice = token("alice", Some("Alice"), None, 60);
    let (mut first, _) = signed_in(&server, &alice).await;
    first.join("room").await;
    let presence = watcher.recv_type("presence").await;
    assert_eq!(
        (presence["event"].as_str(), presence["user"]["id"].as_str()),
        (Some("join"), Some("alice"))
    );
    let (mut second, _) = signed_in(&server, &alice).await;
    let joined = second.join("room").await;
    let ids: Vec<_> = joined["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids.iter().filter(|id| *id == "alice").count(),
        1,
        "{joined}"
    );
    // No second join announced, and the first leave is not a leave of the user.
    second.send(json!({"type": "leave", "room": "room"})).await;
    second.recv_type("left").await;
    watcher.assert_quiet("room").await;
    first.send(json!({"type": "leave", "room": "room"})).await;
    first.recv_type("left").await;
    let presence = watcher.recv_type("presence").await;
    assert_eq!(
        (presence["event"].as_str(), presence["user"]["id"].as_str()),
        (Some("leave"), Some("alice"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_rooms_claim_limits_joins() {
    let server = jwt_server().await;
    let limited = token("alice", None, Some(&["team-*", "lobby"]), 60);
    let (mut alice, _) = signed_in(&server, &limited).await;
    alice.join("lobby").await;
    alice.join("team-red").await;
    alice
        .send(json!({"type": "join", "room": "dm.bob.carol", "id": "j1"}))
        .await;
    let error = alice.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("forbidden"), Some("j1"))
    );
    alice
        .send(json!({"type": "send", "room": "dm.bob.carol", "text": "hi"}))
        .await;
    assert_eq!(alice.recv_error().await["code"], "not_joined");
    server.shutdown().await;
}

#[tokio::test]
async fn a_connection_is_closed_with_4001_when_its_token_expires() {
    let server = jwt_server().await;
    // `exp` is in whole seconds: 2 s from now leaves more than 1 s, time enough to join
    // first (1 s could be a few milliseconds, and the close came before `joined`).
    let short = token("alice", None, None, 2);
    let (mut alice, _) = signed_in(&server, &short).await;
    alice.join("room").await;
    assert_eq!(alice.recv_close().await, 4001);
    server.shutdown().await;
}

#[tokio::test]
async fn the_token_subcommand_signs_with_the_configured_secret() {
    let output = timeout(
        WAIT,
        process::command(
            &[
                "token",
                "--sub",
                "alice",
                "--name",
                "Alice",
                "--rooms",
                "team-*,lobby",
                "--ttl",
                "1h",
            ],
            &[("CHAT__AUTH__JWT_SECRET", SECRET)],
        )
        .output(),
    )
    .await
    .expect("in time")
    .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    let server = jwt_server().await;
    let (mut alice, welcome) = signed_in(&server, printed.trim()).await;
    assert_eq!(welcome["user"], json!({"id": "alice", "name": "Alice"}));
    alice.join("team-blue").await;
    alice
        .send(json!({"type": "join", "room": "other", "id": "x"}))
        .await;
    assert_eq!(alice.recv_error().await["code"], "forbidden");
    server.shutdown().await;

    let output = timeout(
        WAIT,
        process::command(&["token", "--sub", "alice"], &[]).output(),
    )
    .await
    .expect("in time")
    .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("auth.jwt_secret"));
}

#[tokio::test]
async fn session_says_whether_sign_in_is_on_and_who_the_token_is() {
    let open = TestServer::start("").await;
    let (status, _, body) = http_get(open.addr, "/session", "").await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, r#"{"auth":"none"}"#)
    );
    open.shutdown().await;

    let server = jwt_server().await;
    let (status, _, body) = http_get(server.addr, "/session", "").await;
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        (status, body),
        (401, json!({"auth": "jwt", "error": "missing"}))
    );
    let good = token("alice", Some("Alice"), None, 60);
    let header = format!("Authorization: Bearer {good}\r\n");
    let (status, _, body) = http_get(server.addr, "/session", &header).await;
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(status, 200);
    assert_eq!(body["user"], json!({"id": "alice", "name": "Alice"}));
    server.shutdown().await;
}
