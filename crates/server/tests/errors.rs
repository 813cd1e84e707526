//! Each error code: a bad frame gets an `error` and the connection keeps working.

mod support;

use futures_util::SinkExt;
use serde_json::{Value, json};
use support::{Client, TestServer};
use tokio_tungstenite::tungstenite::Message;

async fn expect_error(client: &mut Client, frame: &str, code: &str, reference: Option<&str>) {
    client.send_text(frame).await;
    let error = client.recv_error().await;
    assert_eq!(error["code"], code, "for {frame}: {error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(error["ref"].as_str(), reference, "ref for {frame}");
}

/// The connection still works after the error.
async fn still_works(client: &mut Client) {
    let joined = client.join("still-here").await;
    assert_eq!(joined["room"], "still-here");
}

#[tokio::test]
async fn malformed_frames_get_their_codes() {
    let server = TestServer::start("").await;
    let mut c = server.joined("alice", "r").await;
    expect_error(&mut c, "{not json", "bad_json", None).await;
    expect_error(&mut c, r#"{"room":"r"}"#, "bad_request", None).await;
    expect_error(&mut c, "[1,2,3]", "bad_request", None).await;
    expect_error(
        &mut c,
        r#"{"type":"dance","id":"d1"}"#,
        "unknown_type",
        Some("d1"),
    )
    .await;
    expect_error(&mut c, r#"{"type":"join"}"#, "bad_request", None).await;
    expect_error(
        &mut c,
        r#"{"type":"send","room":"r","text":"","id":"e1"}"#,
        "bad_request",
        Some("e1"),
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"typing","room":"r","active":"yes"}"#,
        "bad_request",
        None,
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"history","room":"r","limit":500}"#,
        "bad_request",
        None,
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"join","room":"no spaces"}"#,
        "bad_room",
        None,
    )
    .await;
    expect_error(
        &mut c,
        &format!(r#"{{"type":"join","room":"{}"}}"#, "x".repeat(65)),
        "bad_room",
        None,
    )
    .await;
    still_works(&mut c).await;
}

#[tokio::test]
async fn binary_frames_are_unsupported() {
    let server = TestServer::start("").await;
    let mut c = server.client("alice").await;
    c.ws.send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("send binary");
    let error = c.recv_error().await;
    assert_eq!(error["code"], "unsupported");
    still_works(&mut c).await;
}

#[tokio::test]
async fn membership_is_required() {
    let server = TestServer::start("").await;
    let mut c = server.client("alice").await;
    expect_error(
        &mut c,
        r#"{"type":"send","room":"r","text":"x","id":"s1"}"#,
        "not_joined",
        Some("s1"),
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"typing","room":"r","active":true}"#,
        "not_joined",
        None,
    )
    .await;
    expect_error(
        &mut c,
        r#"{"type":"history","room":"r"}"#,
        "not_joined",
        None,
    )
    .await;
    still_works(&mut c).await;
}

#[tokio::test]
async fn text_over_the_limit_is_too_large() {
    let server = TestServer::start("[ws]\nmax_text_bytes = 16\n").await;
    let mut c = server.joined("alice", "r").await;
    let frame =
        json!({"type": "send", "room": "r", "text": "é".repeat(9), "id": "big"}).to_string();
    expect_error(&mut c, &frame, "too_large", Some("big")).await;
    c.send(json!({"type": "send", "room": "r", "text": "é".repeat(8)}))
        .await;
    assert_eq!(c.recv_type("message").await["seq"], 1);
}

#[tokio::test]
async fn rooms_per_connection_are_limited() {
    let server = TestServer::start("[ws]\nmax_rooms = 2\n").await;
    let mut c = server.client("alice").await;
    c.join("a").await;
    c.join("b").await;
    expect_error(
        &mut c,
        r#"{"type":"join","room":"c"}"#,
        "too_many_rooms",
        None,
    )
    .await;
    // Re-joining a room one is in does not count twice.
    assert_eq!(c.join("a").await["room"], "a");
    c.send(json!({"type": "leave", "room": "a"})).await;
    c.recv_type("left").await;
    assert_eq!(c.join("c").await["room"], "c");
}

#[tokio::test]
async fn sends_over_the_rate_are_dropped_with_rate_limited() {
    let server = TestServer::start("[limits]\nmessages_per_sec = 1\nburst = 3\n").await;
    let mut c = server.joined("alice", "r").await;
    for i in 0..5 {
        c.send(json!({"type": "send", "room": "r", "text": "x", "id": format!("m{i}")}))
            .await;
    }
    let mut messages = 0;
    let mut limited: Vec<Value> = Vec::new();
    while messages + limited.len() < 5 {
        let frame = c.recv().await;
        match frame["type"].as_str() {
            Some("message") => messages += 1,
            Some("error") => limited.push(frame["ref"].clone()),
            _ => panic!("unexpected {frame}"),
        }
    }
    assert_eq!(messages, 3, "the burst passes");
    assert_eq!(limited, [json!("m3"), json!("m4")]);
    still_works(&mut c).await;
}
