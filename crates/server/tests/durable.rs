//! Durable history (SQLite, the default backend): restarts, `kill -9`, retention, paging, and
//! storage that cannot be used.

mod support;

use std::{collections::BTreeMap, path::Path, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Client, TestServer, WAIT, process::ServerProcess};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Settings for an in-process server keeping its history in `db`.
fn sqlite_toml(db: &Path, extra: &str) -> String {
    format!(
        "[history]\nbackend = \"sqlite\"\npath = {:?}\n{extra}\n[limits]\nmessages_per_sec = 1000\nburst = 1000\n",
        db.display().to_string()
    )
}

async fn connect(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut client = Client::connect(addr, &format!("/ws?name={name}")).await;
    client.recv_type("welcome").await;
    client
}

async fn join_since(client: &mut Client, room: &str, since: u64) -> Value {
    client
        .send(json!({"type": "join", "room": room, "since": since}))
        .await;
    client.recv_type("joined").await
}

/// `newest`, the room's latest messages, with every older one the room holds in front, paged
/// back with `history` as a client fills a gap.
async fn whole_history(
    client: &mut Client,
    room: &str,
    mut newest: Vec<(u64, String)>,
) -> Vec<(u64, String)> {
    while let Some(&(first, _)) = newest.first().filter(|(seq, _)| *seq > 1) {
        client
            .send(json!({"type": "history", "room": room, "before": first, "limit": 200}))
            .await;
        let page = client.recv_type("history").await;
        let mut older = seqs_and_texts(&page["messages"]);
        if older.is_empty() {
            break;
        }
        older.append(&mut newest);
        newest = older;
    }
    newest
}

fn seqs_and_texts(messages: &Value) -> Vec<(u64, String)> {
    messages
        .as_array()
        .expect("an array of messages")
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().expect("seq"),
                m["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_restart_continues_the_seq_and_since_returns_exactly_the_missing_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db").to_string_lossy().into_owned();
    let env = [("CHAT__HISTORY__PATH", db.as_str())];

    let mut server = ServerProcess::start(&[], &env).await;
    let mut alice = connect(server.addr, "alice").await;
    alice.join("r").await;
    for text in ["one", "two", "three"] {
        alice.say("r", text).await;
    }
    drop(alice);
    let mut bob = connect(server.addr, "bob").await;
    bob.join("r").await;
    for text in ["four", "five"] {
        bob.send(json!({"type": "send", "room": "r", "text": text}))
            .await;
        bob.recv_type("message").await;
    }
    server.signal("TERM");
    assert_eq!(bob.recv_close().await, 1001);
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );

    let mut server = ServerProcess::start(&[], &env).await;
    let mut alice = connect(server.addr, "alice").await;
    let joined = join_since(&mut alice, "r", 3).await;
    assert_eq!(joined["seq"], 5);
    assert_eq!(joined["complete"], true);
    assert_eq!(
        seqs_and_texts(&joined["history"]),
        [(4, "four".to_owned()), (5, "five".to_owned())]
    );
    alice
        .send(json!({"type": "send", "room": "r", "text": "six"}))
        .await;
    let message = alice.recv_type("message").await;
    assert_eq!(
        (message["seq"].as_u64(), message["text"].as_str()),
        (Some(6), Some("six"))
    );
    server.signal("TERM");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// Reads `message` frames into `seen` until the connection ends (the server was killed).
async fn drain_messages(
    stream: &mut (
             impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
             + Unpin
         ),
    seen: &mut BTreeMap<u64, String>,
    stop_after: Option<usize>,
) {
    let mut count = 0;
    while let Ok(Some(Ok(frame))) = timeout(WAIT, stream.next()).await {
        let Message::Text(text) = frame else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
        if frame["type"] != "message" {
            continue;
        }
        let seq = frame["seq"].as_u64().expect("seq");
        let text = frame["text"].as_str().expect("text").to_owned();
        if let Some(earlier) = seen.insert(seq, text.clone()) {
            assert_eq!(earlier, text, "seq {seq} was delivered with two texts");
        }
        count += 1;
        if stop_after == Some(count) {
            return;
        }
    }
}

#[tokio::test]
async fn kill_9_mid_burst_loses_no_message_that_anyone_received() {
    const BURST: usize = 4_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db").to_string_lossy().into_owned();
    let env = [
        ("CHAT__HISTORY__PATH", db.as_str()),
        ("CHAT__LIMITS__MESSAGES_PER_SEC", "100000"),
        ("CHAT__LIMITS__BURST", "100000"),
        ("CHAT__WS__OUTBOUND_QUEUE", "100000"),
    ];
    let mut server = ServerProcess::start(&[], &env).await;
    let mut alice = connect(server.addr, "alice").await;
    alice.join("r").await;
    let mut bob = connect(server.addr, "bob").await;
    bob.join("r").await;
    alice.recv_type("presence").await;

    let (mut sink, mut alice_stream) = alice.ws.split();
    let burst = tokio::spawn(async move {
        for i in 0..BURST {
            let frame = json!({"type": "send", "room": "r", "text": format!("m{i}")});
            if sink.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut received = BTreeMap::new();
    drain_messages(&mut bob.ws, &mut received, Some(200)).await;
    server.signal("KILL");
    let status = server.exit_within(Duration::from_secs(10)).await;
    assert_eq!(status.code(), None, "killed by a signal");
    drain_messages(&mut bob.ws, &mut received, None).await;
    drain_messages(&mut alice_stream, &mut received, None).await;
    let _ = burst.await;
    assert!(received.len() >= 200, "bob got {} messages", received.len());

    let mut server = ServerProcess::start(&[], &env).await;
    let mut carol = connect(server.addr, "carol").await;
    let joined = join_since(&mut carol, "r", 0).await;
    let last = joined["seq"].as_u64().expect("seq");
    // An answer holds at most 200 messages: the rest comes by paging back.
    assert_eq!(joined["complete"], json!(last <= 200));
    let stored = whole_history(&mut carol, "r", seqs_and_texts(&joined["history"])).await;
    eprintln!(
        "received {} of {BURST} before the kill; {last} stored",
        received.len()
    );
    // Every seq once, 1..=last, in the order alice sent them.
    let expected: Vec<(u64, String)> = (1..=last).map(|s| (s, format!("m{}", s - 1))).collect();
    assert_eq!(stored, expected, "history after the crash");
    for (seq, text) in &received {
        assert!(
            *seq <= last && stored[*seq as usize - 1].1 == *text,
            "seq {seq} ({text}) was received but not stored"
        );
    }
    carol
        .send(json!({"type": "send", "room": "r", "text": "after"}))
        .await;
    assert_eq!(
        carol.recv_type("message").await["seq"].as_u64(),
        Some(last + 1)
    );
    server.signal("TERM");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test]
async fn retention_paging_and_incomplete_since_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    let toml = sqlite_toml(&db, "max_per_room = 5\non_join = 3");
    let server = TestServer::start(&toml).await;
    let mut alice = server.joined("alice", "r").await;
    for i in 1..=8 {
        alice.say("r", &format!("m{i}")).await;
    }
    let mut bob = server.client("bob").await;
    let joined = bob.join("r").await;
    let seqs = |v: &Value| -> Vec<u64> { seqs_and_texts(v).into_iter().map(|(s, _)| s).collect() };
    assert_eq!(
        (joined["seq"].as_u64(), seqs(&joined["history"])),
        (Some(8), vec![6, 7, 8])
    );
    let joined = join_since(&mut bob, "r", 1).await;
    assert_eq!(
        (seqs(&joined["history"]), &joined["complete"]),
        (vec![4, 5, 6, 7, 8], &json!(false))
    );
    let joined = join_since(&mut bob, "r", 5).await;
    assert_eq!(
        (seqs(&joined["history"]), &joined["complete"]),
        (vec![6, 7, 8], &json!(true))
    );
    bob.send(json!({"type": "history", "room": "r", "limit": 2}))
        .await;
    let page = bob.recv_type("history").await;
    assert_eq!(
        (seqs(&page["messages"]), &page["has_more"]),
        (vec![7, 8], &json!(true))
    );
    bob.send(json!({"type": "history", "room": "r", "before": 6, "limit": 2}))
        .await;
    let page = bob.recv_type("history").await;
    assert_eq!(
        (seqs(&page["messages"]), &page["has_more"]),
        (vec![4, 5], &json!(false))
    );
    drop((alice, bob));
    server.shutdown().await;

    let server = TestServer::start(&toml).await;
    let mut carol = server.client("carol").await;
    let joined = join_since(&mut carol, "r", 0).await;
    assert_eq!(
        (
            joined["seq"].as_u64(),
            seqs(&joined["history"]),
            &joined["complete"]
        ),
        (Some(8), vec![4, 5, 6, 7, 8], &json!(false))
    );
    carol
        .send(json!({"type": "send", "room": "r", "text": "m9"}))
        .await;
    assert_eq!(carol.recv_type("message").await["seq"], 9);
    server.shutdown().await;
}

/// The next frame other than presence, waiting up to `limit` (longer than the client's usual
/// wait).
async fn recv_slow(client: &mut Client, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, client.ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a valid frame");
        if let Message::Text(text) = frame {
            let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
            if frame["type"] != "presence" {
                return frame;
            }
        }
    }
}

#[tokio::test]
async fn a_message_that_cannot_be_written_is_answered_internal_and_can_be_resent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    let server = TestServer::start(&sqlite_toml(&db, "")).await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "first", "id": "c1"}))
        .await;
    assert_eq!(bob.recv_type("message").await["seq"], 1);
    assert_eq!(alice.recv_type("message").await["seq"], 1);

    // Another process holds the database's write lock past the store's 5 s busy timeout.
    let blocker = rusqlite::Connection::open(&db).expect("open the database");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    alice
        .send(json!({"type": "send", "room": "r", "text": "second", "id": "c2"}))
        .await;
    let error = recv_slow(&mut alice, Duration::from_secs(15)).await;
    assert_eq!(
        (&error["code"], &error["ref"]),
        (&json!("internal"), &json!("c2"))
    );
    blocker.execute_batch("ROLLBACK").expect("unlock");

    // The lost message was never delivered, so resending it stores it as seq 2.
    alice
        .send(json!({"type": "send", "room": "r", "text": "second", "id": "c2"}))
        .await;
    let message = bob.recv_type("message").await;
    assert_eq!(
        (message["seq"].as_u64(), message["text"].as_str()),
        (Some(2), Some("second"))
    );
    assert_eq!(alice.recv_type("message").await["seq"], 2);
    drop((alice, bob));
    server.shutdown().await;
}

#[tokio::test]
async fn the_default_backend_is_sqlite_in_data_chat_db() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Any CHAT__HISTORY__ variable keeps the test support from choosing memory.
    let mut server =
        ServerProcess::start_in(dir.path(), &[], &[("CHAT__HISTORY__FSYNC", "full")]).await;
    let mut alice = connect(server.addr, "alice").await;
    alice.join("r").await;
    alice.say("r", "kept").await;
    server.signal("TERM");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    let db = rusqlite::Connection::open(dir.path().join("data/chat.db")).expect("the default file");
    let text: String = db
        .query_row(
            "SELECT text FROM events WHERE room = 'r' AND seq = 1",
            [],
            |row| row.get(0),
        )
        .expect("the message is in the file");
    assert_eq!(text, "kept");
}

async fn start_fails(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = timeout(
        WAIT,
        support::process::command(&["--listen", "127.0.0.1:0"], env).output(),
    )
    .await
    .expect("exits in time")
    .expect("run chat-server");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_unusable_history_path_stops_the_start_naming_history_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let under_a_file = file.join("chat.db").to_string_lossy().into_owned();
    let (code, stderr) = start_fails(&[("CHAT__HISTORY__PATH", &under_a_file)]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("history.path") && stderr.contains(&under_a_file),
        "{stderr}"
    );
    assert!(stderr.contains("cannot create its folder"), "{stderr}");

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database\n".repeat(300)).expect("write");
    let junk = junk.to_string_lossy().into_owned();
    let (code, stderr) = start_fails(&[("CHAT__HISTORY__PATH", &junk)]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("history.path") && stderr.contains(&junk),
        "{stderr}"
    );
    assert!(stderr.contains("not a database"), "{stderr}");
}

#[tokio::test]
async fn a_database_file_deleted_while_running_refuses_messages_and_is_not_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    let server = TestServer::start(&sqlite_toml(&db, "")).await;
    let mut alice = server.joined("alice", "r").await;
    assert_eq!(alice.say("r", "kept").await["seq"], 1);
    std::fs::remove_file(&db).expect("delete the database file");
    alice
        .send(json!({"type": "send", "room": "r", "text": "lost", "id": "c2"}))
        .await;
    let error = alice.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("internal"), Some("c2")),
        "nothing is delivered that a restart would lose"
    );
    let (status, _, _) = support::http_get(server.addr, "/readyz", "").await;
    assert_eq!(status, 503);
    alice.assert_quiet("r").await;
}
