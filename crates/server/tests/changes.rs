//! Changes to a message (edit, delete, react) through the real server: delivered to every
//! member, refused with the frame's `id` as `ref`, and the state they leave in `joined`,
//! `history` and the server API; the same story over memory, SQLite (across a restart, with
//! the deleted text gone from the file) and two nodes over Redis.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Client, TestServer, http_get, redis as r};

/// High rate limits: the story sends bursts.
const LIMITS: &str = "[limits]\nmessages_per_sec = 100000\nburst = 100000\nrequests_per_sec = 100000\nrequests_burst = 100000\n";

const API_KEY: &str = "an-api-key-of-some-length";

fn sqlite_toml(db: &Path) -> String {
    format!(
        "{LIMITS}[history]\nbackend = \"sqlite\"\npath = {:?}\n[auth]\napi_key = \"{API_KEY}\"\n",
        db.display().to_string()
    )
}

/// Sends `frame` from `sender` and reads the `message` every member in `members` (the sender
/// among them) gets for it: the same frame for each.
async fn delivered(sender: usize, members: &mut [&mut Client], frame: Value) -> Value {
    members[sender].send(frame).await;
    let first = members[0].recv_type("message").await;
    for other in members[1..].iter_mut() {
        assert_eq!(other.recv_type("message").await, first);
    }
    first
}

/// Sends `frame` and reads the error it gets: its code, and its `ref`.
async fn refused(client: &mut Client, frame: Value) -> (String, Value) {
    client.send(frame).await;
    let error = client.recv_error().await;
    (
        error["code"].as_str().unwrap().to_owned(),
        error["ref"].clone(),
    )
}

async fn history(client: &mut Client, room: &str) -> Vec<Value> {
    client
        .send(json!({"type": "history", "room": room, "limit": 200}))
        .await;
    let page = client.recv_type("history").await;
    page["messages"].as_array().unwrap().clone()
}

/// The story: alice (on `a`) and bob (on `b`) in room `r`. Returns the room's history as it
/// stands at the end: seq 1 "hello" edited, with 👍 from bob and 🎉 from alice; seq 2
/// deleted after an edit; the changes between them.
async fn story(a: &TestServer, b: &TestServer) -> Vec<Value> {
    let mut alice = a.joined("alice", "r").await;
    let mut bob = b.joined("bob", "r").await;
    let (alice_id, bob_id) = (alice.id.clone(), bob.id.clone());
    let mut both = [&mut alice, &mut bob];
    let send = |text: &str| json!({"type": "send", "room": "r", "text": text});
    assert_eq!(delivered(0, &mut both, send("helo")).await["seq"], 1);
    assert_eq!(
        delivered(0, &mut both, send("secret words")).await["seq"],
        2
    );

    let edit = json!({"type": "edit", "room": "r", "target": 1, "text": "hello", "id": "e1"});
    let edited = delivered(0, &mut both, edit.clone()).await;
    assert_eq!(
        (
            &edited["seq"],
            &edited["kind"],
            &edited["target"],
            &edited["text"]
        ),
        (&json!(3), &json!("edit"), &json!(1), &json!("hello"))
    );
    assert_eq!(
        (&edited["client_id"], &edited["from"]["id"]),
        (&json!("e1"), &json!(alice_id))
    );
    let thumbs = json!({"type": "react", "room": "r", "target": 1, "emoji": "👍", "active": true, "id": "r1"});
    let reacted = delivered(1, &mut both, thumbs.clone()).await;
    assert_eq!(
        (
            &reacted["seq"],
            &reacted["kind"],
            &reacted["emoji"],
            &reacted["active"]
        ),
        (&json!(4), &json!("react"), &json!("👍"), &json!(true))
    );
    assert!(reacted.get("text").is_none(), "{reacted}");
    let party = json!({"type": "react", "room": "r", "target": 1, "emoji": "🎉", "active": true});
    delivered(0, &mut both, party).await;

    // A reaction bob has already: nothing stored, bob alone gets the message as it stands.
    let mut again = thumbs.clone();
    again["id"] = json!("r2");
    both[1].send(again).await;
    let state = both[1].recv_type("message").await;
    assert_eq!((&state["seq"], state.get("kind")), (&json!(1), None));
    assert_eq!(state["text"], "hello");
    let reactions =
        json!([{"emoji": "👍", "users": [bob_id]}, {"emoji": "🎉", "users": [alice_id]}]);
    assert_eq!(state["reactions"], reactions);
    both[0].assert_quiet("r").await;

    // Refusals, each with its frame's id as `ref`.
    let bob_edits = json!({"type": "edit", "room": "r", "target": 1, "text": "mine", "id": "x1"});
    assert_eq!(
        refused(both[1], bob_edits).await,
        ("forbidden".into(), json!("x1"))
    );
    let bob_deletes = json!({"type": "delete", "room": "r", "target": 2, "id": "x2"});
    assert_eq!(
        refused(both[1], bob_deletes).await,
        ("forbidden".into(), json!("x2"))
    );
    let nowhere = json!({"type": "edit", "room": "r", "target": 99, "text": "?", "id": "x3"});
    assert_eq!(
        refused(both[0], nowhere).await,
        ("not_found".into(), json!("x3"))
    );
    let at_a_change = json!({"type": "react", "room": "r", "target": 3, "emoji": "👍", "active": true, "id": "x4"});
    assert_eq!(
        refused(both[0], at_a_change).await,
        ("not_found".into(), json!("x4"))
    );
    let elsewhere = json!({"type": "delete", "room": "s", "target": 1, "id": "x5"});
    assert_eq!(
        refused(both[0], elsewhere).await,
        ("not_joined".into(), json!("x5"))
    );

    let edit_2 = json!({"type": "edit", "room": "r", "target": 2, "text": "more secret words"});
    delivered(0, &mut both, edit_2).await;
    let delete = json!({"type": "delete", "room": "r", "target": 2, "id": "d1"});
    let deleted = delivered(0, &mut both, delete.clone()).await;
    assert_eq!(
        (&deleted["seq"], &deleted["kind"], &deleted["target"]),
        (&json!(7), &json!("delete"), &json!(2))
    );
    assert!(deleted.get("text").is_none(), "{deleted}");
    let mut twice = delete.clone();
    twice["id"] = json!("d2");
    assert_eq!(
        refused(both[0], twice).await,
        ("not_found".into(), json!("d2"))
    );

    // A resent change is stored once: the sender alone gets the stored one again.
    both[0].send(edit).await;
    assert_eq!(both[0].recv_type("message").await, edited);
    both[1].assert_quiet("r").await;

    let messages = history(both[1], "r").await;
    let seqs: Vec<_> = messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=7).collect::<Vec<_>>(),
        "the changes among the messages"
    );
    assert_eq!(messages[0]["text"], "hello");
    assert_eq!(messages[0]["edited"], edited["ts"]);
    assert_eq!(messages[0]["reactions"], reactions);
    assert_eq!(messages[1]["deleted"], true);
    assert!(messages[1].get("text").is_none(), "{}", messages[1]);
    assert_eq!(
        messages[2], edited,
        "the edit of a message still there keeps its text"
    );
    assert_eq!(
        (&messages[5]["kind"], messages[5].get("text")),
        (&json!("edit"), None),
        "erased"
    );
    assert_eq!(messages[6], deleted);

    // A joiner gets the same state; with `since`, only what came after.
    let mut carol = b.client("carol").await;
    let joined = carol.join("r").await;
    assert_eq!(joined["history"], json!(messages));
    carol
        .send(json!({"type": "join", "room": "r", "since": 2}))
        .await;
    let since = carol.recv_type("joined").await;
    assert_eq!(since["history"], json!(messages[2..]));
    messages
}

#[tokio::test]
async fn in_memory_changes_reach_every_member_and_answers_carry_the_state() {
    let server = TestServer::start(LIMITS).await;
    story(&server, &server).await;
}

#[tokio::test]
async fn with_sqlite_the_state_survives_a_restart_and_a_deleted_text_leaves_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    let server = TestServer::start(&sqlite_toml(&db)).await;
    let messages = story(&server, &server).await;
    // A text too long for its row's page lives in overflow pages, which a delete frees.
    let mut frank = server.joined("frank", "s").await;
    frank.say("s", &"long secret ".repeat(300)).await;
    frank
        .send(json!({"type": "delete", "room": "s", "target": 1}))
        .await;
    frank.recv_type("message").await;
    drop(frank);
    // The server API's page is the same answer.
    let (status, _, body) = http_get(
        server.addr,
        "/api/rooms/r/messages?limit=200",
        &format!("Authorization: Bearer {API_KEY}\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["messages"], json!(messages));
    server.shutdown().await;

    let server = TestServer::start(&sqlite_toml(&db)).await;
    let mut dave = server.client("dave").await;
    assert_eq!(dave.join("r").await["history"], json!(messages));
    drop(dave);
    server.shutdown().await;
    // Closed, the file holds everything (no WAL beside it): neither the deleted text nor its
    // edit's is in its bytes, free pages included.
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("chat.db-wal")) {
        bytes.extend(wal);
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("hello"), "the file is readable as it is");
    assert!(!contains("secret words"), "the deleted text is erased");
    assert!(
        !contains("long secret"),
        "and so are the pages it overflowed to"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_over_redis_give_the_same_answers() {
    let prefix = r::prefix("changes");
    let toml = r::node_toml(r::SHARED, &prefix, "");
    let a = TestServer::start(&toml).await;
    let b = TestServer::start(&toml).await;
    let messages = story(&a, &b).await;
    let mut erin = a.joined("erin", "r").await;
    assert_eq!(history(&mut erin, "r").await, messages);
    drop(erin);
    a.shutdown().await;
    b.shutdown().await;
    r::clean(r::SHARED, &prefix).await;
}

#[tokio::test]
async fn a_message_holds_at_most_20_emoji_and_changes_share_the_send_rate() {
    let server = TestServer::start(LIMITS).await;
    let mut alice = server.joined("alice", "r").await;
    alice.say("r", "hi").await;
    for n in 0..20 {
        let react = json!({"type": "react", "room": "r", "target": 1, "emoji": format!("e{n}"), "active": true});
        alice.send(react).await;
        alice.recv_type("message").await;
    }
    let one_more = json!({"type": "react", "room": "r", "target": 1, "emoji": "new", "active": true, "id": "x"});
    assert_eq!(
        refused(&mut alice, one_more).await,
        ("bad_request".into(), json!("x"))
    );
    let bad = json!({"type": "react", "room": "r", "target": 1, "emoji": "a b", "active": true, "id": "y"});
    assert_eq!(
        refused(&mut alice, bad).await,
        ("bad_request".into(), json!("y"))
    );

    let server = TestServer::start("[limits]\nmessages_per_sec = 1\nburst = 3\n").await;
    let mut bob = server.joined("bob", "r").await;
    bob.say("r", "hi").await;
    bob.send(json!({"type": "edit", "room": "r", "target": 1, "text": "hi!"}))
        .await;
    bob.recv_type("message").await;
    bob.send(json!({"type": "react", "room": "r", "target": 1, "emoji": "👍", "active": true}))
        .await;
    bob.recv_type("message").await;
    let over = json!({"type": "delete", "room": "r", "target": 1, "id": "z"});
    assert_eq!(
        refused(&mut bob, over).await,
        ("rate_limited".into(), json!("z"))
    );
}
