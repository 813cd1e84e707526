//! What a client that breaks the rules gets: errors with its `ref`, rate limits on requests,
//! answers capped in size, and a close frame that says why when it breaks the framing.

mod support;

use serde_json::json;
use support::{Client, TestServer, raw_close_code};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::MaybeTlsStream;

#[tokio::test]
async fn every_error_about_a_frame_with_an_id_carries_it_as_ref() {
    let server = TestServer::start("").await;
    let mut c = server.client("alice").await;
    c.send(json!({"type": "typing", "room": "nowhere", "active": true, "id": "t1"}))
        .await;
    let error = c.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("not_joined"), Some("t1"))
    );
    c.send(json!({"type": "history", "room": "nowhere", "id": "h1"}))
        .await;
    let error = c.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("not_joined"), Some("h1"))
    );
}

#[tokio::test]
async fn join_leave_and_history_have_their_own_rate_limit() {
    let server = TestServer::start("[limits]\nrequests_per_sec = 1\nrequests_burst = 2\n").await;
    let mut c = server.joined("alice", "r").await;
    c.send(json!({"type": "history", "room": "r", "id": "h1"}))
        .await;
    c.send(json!({"type": "history", "room": "r", "id": "h2"}))
        .await;
    // The join took the first token, h1 the second.
    assert_eq!(c.recv_type("history").await["room"], "r");
    let error = c.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("rate_limited"), Some("h2"))
    );
    // Messages keep their own bucket.
    assert_eq!(c.say("r", "still here").await["text"], "still here");
}

/// A room holding `count` messages of `text`, sent by a client that then leaves.
async fn room_with(server: &TestServer, count: usize, text: &str) {
    let mut writer = server.joined("writer", "big").await;
    for n in 0..count {
        writer
            .send(json!({"type": "send", "room": "big", "text": text, "id": format!("w{n}")}))
            .await;
    }
    for _ in 0..count {
        writer.recv_type("message").await;
    }
}

#[tokio::test]
async fn a_join_far_behind_gets_the_latest_200_messages_and_says_it_is_not_complete() {
    let server = TestServer::start("[limits]\nmessages_per_sec = 100000\nburst = 100000\n").await;
    room_with(&server, 250, "hello").await;
    let mut c = server.client("late").await;
    c.send(json!({"type": "join", "room": "big", "since": 0}))
        .await;
    let joined = c.recv_type("joined").await;
    let history = joined["history"].as_array().expect("history");
    assert_eq!(history.len(), 200);
    assert_eq!(
        (history[0]["seq"].as_u64(), history[199]["seq"].as_u64()),
        (Some(51), Some(250))
    );
    assert_eq!(joined["complete"], false);
}

#[tokio::test]
async fn an_answer_stays_under_512_kib_however_large_its_messages_are() {
    let toml = "[limits]\nmessages_per_sec = 100000\nburst = 100000\n[ws]\nmax_text_bytes = 4096\n";
    let server = TestServer::start(toml).await;
    // 4,096 control characters take 24 KiB of JSON each: 200 would be 4.8 MiB.
    room_with(&server, 60, &"\u{1}".repeat(4096)).await;
    let mut c = server.joined("reader", "big").await;
    c.send(json!({"type": "history", "room": "big", "limit": 200}))
        .await;
    let page = c.recv_type("history").await;
    let messages = page["messages"].as_array().expect("messages");
    let bytes = serde_json::to_string(messages).expect("json").len();
    assert!(bytes <= 512 * 1024, "{bytes} bytes");
    assert!(
        messages.len() < 60 && !messages.is_empty(),
        "{}",
        messages.len()
    );
    assert_eq!(
        messages.last().expect("one")["seq"],
        60,
        "the newest are kept"
    );
    assert_eq!(page["has_more"], true);
}

/// The raw socket under a test client, to write what no WebSocket library would.
async fn write_raw(client: &mut Client, bytes: &[u8]) {
    let MaybeTlsStream::Plain(tcp) = client.ws.get_mut() else {
        panic!("test clients use plain TCP");
    };
    tcp.write_all(bytes).await.expect("raw write");
}

#[tokio::test]
async fn an_unmasked_frame_is_closed_with_1002() {
    let server = TestServer::start("").await;
    let mut c = server.client("alice").await;
    // A client's frames must be masked (RFC 6455 §5.1).
    write_raw(&mut c, &[0x81, 0x02, b'h', b'i']).await;
    assert_eq!(raw_close_code(&mut c).await, Some(1002));
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    let server = TestServer::start("").await;
    let mut c = server.client("alice").await;
    // Masked with a zero key, so the payload is the bytes themselves: not UTF-8.
    write_raw(&mut c, &[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]).await;
    assert_eq!(raw_close_code(&mut c).await, Some(1007));
}

#[tokio::test]
async fn a_client_that_asks_for_history_and_never_reads_is_cut_off_by_bytes() {
    let toml = "[limits]\nmessages_per_sec = 100000\nburst = 100000\nrequests_per_sec = 100000\n\
                requests_burst = 100000\n";
    let server = TestServer::start(toml).await;
    // 24 KiB of JSON per message: every page is capped at 512 KiB, but only 1,024 frames
    // waiting would take half a GiB.
    room_with(&server, 40, &"\u{1}".repeat(4096)).await;
    let mut hoarder = server.joined("hoarder", "big").await;
    for _ in 0..60 {
        hoarder
            .send(json!({"type": "history", "room": "big", "limit": 200}))
            .await;
    }
    // Never read: past 4 MiB waiting (and what the kernel holds) it is cut off.
    assert_eq!(raw_close_code(&mut hoarder).await, Some(4008));
}

#[tokio::test]
async fn a_client_toggling_a_room_costs_its_members_next_to_nothing() {
    let server =
        TestServer::start("[limits]\nrequests_per_sec = 100000\nrequests_burst = 100000\n").await;
    let mut bob = server.joined("bob", "r").await;
    let mut toggler = server.joined("toggler", "r").await;
    for _ in 0..50 {
        toggler.send(json!({"type": "leave", "room": "r"})).await;
        toggler.send(json!({"type": "join", "room": "r"})).await;
    }
    // Its answers prove every toggle was taken.
    let mut joined = 0;
    while joined < 50 {
        if toggler.recv().await["type"] == "joined" {
            joined += 1;
        }
    }
    // A history round trip brings bob whatever presence was held for him first.
    bob.send(json!({"type": "history", "room": "r", "limit": 1}))
        .await;
    let mut presence = 0;
    loop {
        let frame = bob.recv().await;
        match frame["type"].as_str() {
            Some("history") => break,
            Some("presence") => presence += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        presence <= 2,
        "bob got {presence} presence frames for 100 toggles"
    );
}
