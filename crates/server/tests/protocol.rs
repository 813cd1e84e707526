//! Every row and rule of PROTOCOL.md, through a real server and real WebSocket clients.

mod support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::TestServer;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn welcome_names_the_user_the_server_and_the_limits() {
    let server = TestServer::start("").await;
    let mut alice = support::Client::connect(server.addr, "/ws?name=alice").await;
    let welcome = alice.recv().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["user"]["name"], "alice");
    assert!(
        welcome["user"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("u_"))
    );
    assert!(
        welcome["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("chat-server/"))
    );
    assert_eq!(
        welcome["limits"],
        json!({"max_text_bytes": 4096, "messages_per_sec": 10, "burst": 20, "max_rooms": 32})
    );
    let mut guest = support::Client::connect(server.addr, "/ws").await;
    let welcome = guest.recv().await;
    assert!(
        welcome["user"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("guest-"))
    );
    assert_ne!(welcome["user"]["id"], alice.id.as_str());
}

#[tokio::test]
async fn join_answers_joined_and_tells_the_others() {
    let server = TestServer::start("").await;
    let mut alice = server.client("alice").await;
    let joined = alice.join("general").await;
    assert_eq!(joined["room"], "general");
    assert_eq!(joined["seq"], 0);
    assert_eq!(joined["history"], json!([]));
    assert_eq!(joined["complete"], true);
    assert_eq!(
        joined["members"],
        json!([{"id": alice.id, "name": "alice"}])
    );

    let mut bob = server.client("bob").await;
    assert_eq!(member_names(&bob.join("general").await), ["alice", "bob"]);
    let presence = alice.recv().await;
    assert_eq!(
        presence,
        json!({"type": "presence", "room": "general", "event": "join", "user": {"id": bob.id, "name": "bob"}})
    );
    // Joining again is not an error and announces nothing new.
    let again = bob.join("general").await;
    assert_eq!(again["room"], "general");
    alice.assert_quiet("general").await;
}

#[tokio::test]
async fn send_reaches_every_member_with_seq_ts_and_client_id() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    alice
        .send(json!({"type": "send", "room": "r", "text": "hello", "id": "c1"}))
        .await;
    for client in [&mut alice, &mut bob] {
        let message = client.recv_type("message").await;
        assert_eq!(message["room"], "r");
        assert_eq!(message["seq"], 1);
        assert_eq!(message["text"], "hello");
        assert_eq!(message["client_id"], "c1");
        assert_eq!(message["from"]["name"], "alice");
        let ts = message["ts"].as_u64().expect("ts");
        assert!(
            ts >= before && ts < before + 60_000,
            "ts {ts} is server time in ms"
        );
    }
    alice
        .send(json!({"type": "send", "room": "r", "text": "again"}))
        .await;
    let second = bob.recv_type("message").await;
    assert_eq!(second["seq"], 2);
    assert!(second.get("client_id").is_none());
}

#[tokio::test]
async fn every_member_sees_one_order() {
    let server = TestServer::start("[limits]\nmessages_per_sec = 1000\nburst = 1000\n").await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    for i in 0..50 {
        let (sender, text) = if i % 2 == 0 {
            (&mut alice, "a")
        } else {
            (&mut bob, "b")
        };
        sender
            .send(json!({"type": "send", "room": "r", "text": text}))
            .await;
    }
    let mut seen = Vec::new();
    for client in [&mut alice, &mut bob] {
        let mut order = Vec::new();
        for expected in 1..=50 {
            let message = client.recv_type("message").await;
            assert_eq!(message["seq"], expected);
            order.push(message["text"].as_str().unwrap_or_default().to_owned());
        }
        seen.push(order);
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn typing_goes_to_the_others_only() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    alice
        .send(json!({"type": "typing", "room": "r", "active": true}))
        .await;
    let typing = bob.recv().await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room": "r", "user": {"id": alice.id, "name": "alice"}, "active": true})
    );
    alice.assert_quiet("r").await;
}

#[tokio::test]
async fn leave_answers_left_and_tells_the_others() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    bob.send(json!({"type": "leave", "room": "r"})).await;
    assert_eq!(bob.recv().await, json!({"type": "left", "room": "r"}));
    let presence = alice.recv().await;
    assert_eq!(presence["event"], "leave");
    assert_eq!(presence["user"]["id"], bob.id.as_str());
    // After leaving, the room's frames stop and sending is refused.
    bob.send(json!({"type": "send", "room": "r", "text": "x", "id": "z"}))
        .await;
    let error = bob.recv_error().await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("not_joined"), Some("z"))
    );
}

/// The names listed in a `joined` frame, sorted.
fn member_names(joined: &Value) -> Vec<String> {
    let mut names: Vec<_> = joined["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn joined_lists_who_is_in_the_room_now() {
    let server = TestServer::start("").await;
    let _alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    let _carol = server.joined("carol", "r").await;
    bob.send(json!({"type": "leave", "room": "r"})).await;
    bob.recv_type("left").await;
    let mut dave = server.client("dave").await;
    assert_eq!(
        member_names(&dave.join("r").await),
        ["alice", "carol", "dave"]
    );
    assert_eq!(
        member_names(&bob.join("r").await),
        ["alice", "bob", "carol", "dave"]
    );
}

#[tokio::test]
async fn disconnect_is_a_presence_leave() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    let bob_id = bob.id.clone();
    drop(bob);
    let presence = alice.recv().await;
    assert_eq!(
        (presence["event"].as_str(), presence["user"]["id"].as_str()),
        (Some("leave"), Some(bob_id.as_str()))
    );
}

/// Joins in quick succession: presence after the first may be held back for a moment, but it
/// reaches every member, and never after a later frame of the same room.
#[tokio::test]
async fn quick_joins_reach_everyone_in_order_with_the_rooms_messages() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let _bob = server.joined("bob", "r").await;
    let _carol = server.joined("carol", "r").await;
    let mut dave = server.joined("dave", "r").await;
    dave.say("r", "hi").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let frame = alice.recv().await;
        seen.push(match frame["type"].as_str() {
            Some("presence") => frame["user"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            _ => frame["text"].as_str().unwrap_or_default().to_owned(),
        });
    }
    assert_eq!(seen, ["bob", "carol", "dave", "hi"]);
}

/// Presence held back reaches the members by itself, with nothing else happening in the room.
#[tokio::test]
async fn held_back_presence_arrives_without_other_traffic() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let bob = server.joined("bob", "r").await;
    let carol = server.joined("carol", "r").await;
    let bob_id = bob.id.clone();
    drop(bob);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let frame = alice.recv().await;
        assert_eq!(frame["type"], "presence", "unexpected {frame}");
        seen.push((
            frame["event"].as_str().unwrap_or_default().to_owned(),
            frame["user"]["id"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            ("join".to_owned(), bob_id.clone()),
            ("join".to_owned(), carol.id.clone()),
            ("leave".to_owned(), bob_id),
        ]
    );
}

#[tokio::test]
async fn join_sends_recent_history_and_since_resumes_exactly() {
    let server = TestServer::start(
        "[history]\non_join = 3\n[limits]\nmessages_per_sec = 1000\nburst = 1000\n",
    )
    .await;
    let mut alice = server.joined("alice", "r").await;
    for i in 1..=5 {
        alice.say("r", &format!("m{i}")).await;
    }
    let mut bob = server.client("bob").await;
    let joined = bob.join("r").await;
    assert_eq!(joined["seq"], 5);
    let seqs: Vec<_> = joined["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|m| m["seq"].clone())
        .collect();
    assert_eq!(seqs, [json!(3), json!(4), json!(5)]);
    assert_eq!(joined["history"][0]["type"], "message");

    let mut carol = server.client("carol").await;
    carol
        .send(json!({"type": "join", "room": "r", "since": 1}))
        .await;
    let joined = carol.recv_type("joined").await;
    let texts: Vec<_> = joined["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("m2"), json!("m3"), json!("m4"), json!("m5")]);
    assert_eq!(joined["complete"], true);
}

#[tokio::test]
async fn since_older_than_retention_is_incomplete() {
    let server = TestServer::start(
        "[history]\nmax_per_room = 3\n[limits]\nmessages_per_sec = 1000\nburst = 1000\n",
    )
    .await;
    let mut alice = server.joined("alice", "r").await;
    for i in 1..=6 {
        alice.say("r", &format!("m{i}")).await;
    }
    let mut bob = server.client("bob").await;
    bob.send(json!({"type": "join", "room": "r", "since": 1}))
        .await;
    let joined = bob.recv_type("joined").await;
    let seqs: Vec<_> = joined["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|m| m["seq"].clone())
        .collect();
    assert_eq!(seqs, [json!(4), json!(5), json!(6)]);
    assert_eq!(joined["complete"], false);
}

#[tokio::test]
async fn history_pages_backwards_with_exact_has_more() {
    let server = TestServer::start("[limits]\nmessages_per_sec = 1000\nburst = 1000\n").await;
    let mut alice = server.joined("alice", "r").await;
    for i in 1..=7 {
        alice.say("r", &format!("m{i}")).await;
    }
    alice
        .send(json!({"type": "history", "room": "r", "limit": 3}))
        .await;
    let page = alice.recv_type("history").await;
    let seqs = |page: &serde_json::Value| -> Vec<u64> {
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .collect()
    };
    assert_eq!(
        (seqs(&page), page["has_more"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    alice
        .send(json!({"type": "history", "room": "r", "before": 5, "limit": 3}))
        .await;
    let page = alice.recv_type("history").await;
    assert_eq!(
        (seqs(&page), page["has_more"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    alice
        .send(json!({"type": "history", "room": "r", "before": 2, "limit": 3}))
        .await;
    let page = alice.recv_type("history").await;
    assert_eq!(
        (seqs(&page), page["has_more"].as_bool()),
        (vec![1], Some(false))
    );
    assert_eq!(page["room"], "r");
}

#[tokio::test]
async fn a_repeated_send_id_answers_the_stored_message_to_the_sender_only() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "r").await;
    let mut bob = server.joined("bob", "r").await;
    alice.recv_type("presence").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "once", "id": "dup"}))
        .await;
    let first = alice.recv_type("message").await;
    bob.recv_type("message").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "once", "id": "dup"}))
        .await;
    let again = alice.recv_type("message").await;
    assert_eq!(again, first);
    bob.assert_quiet("r").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "next", "id": "new"}))
        .await;
    assert_eq!(bob.recv_type("message").await["seq"], 2);
}

#[tokio::test]
async fn rooms_are_separate() {
    let server = TestServer::start("").await;
    let mut alice = server.joined("alice", "a").await;
    let mut bob = server.joined("bob", "b").await;
    alice
        .send(json!({"type": "send", "room": "a", "text": "in a"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);
    bob.send(json!({"type": "send", "room": "b", "text": "in b"}))
        .await;
    let message = bob.recv_type("message").await;
    assert_eq!(
        (message["room"].as_str(), message["seq"].as_u64()),
        (Some("b"), Some(1))
    );
}

#[tokio::test]
async fn a_close_from_the_client_is_answered_with_a_close() {
    let server = TestServer::start("").await;
    let mut c = server.joined("alice", "r").await;
    c.ws.close(None).await.expect("close sent");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), c.ws.next())
        .await
        .expect("an answer in time");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "the server answers a close with its own (RFC 6455 §5.5.1): {answer:?}"
    );
}
