//! Several nodes sharing their rooms through Redis (`broker.kind = "redis"`): real servers on
//! port 0 in this process, real WebSocket clients, a real Redis (the shared one under a
//! prefix of each test's own, or a private `redis-server` a test may kill).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{
    Client, TestServer, member_names,
    process::ServerProcess,
    ready_becomes,
    redis::{self as r, PrivateCluster, PrivateRedis, SHARED, members_in_redis},
};

/// Two nodes over the same Redis and prefix.
async fn two_nodes(url: &str, prefix: &str, extra: &str) -> (TestServer, TestServer) {
    let toml = r::node_toml(url, prefix, extra);
    let a = TestServer::start(&toml).await;
    let b = TestServer::start(&toml).await;
    (a, b)
}

/// Closes the clients (a shutdown would otherwise wait for their close handshakes), stops
/// the nodes and removes the test's keys.
async fn stop<const N: usize>(
    nodes: [TestServer; N],
    clients: Vec<Client>,
    url: &str,
    prefix: &str,
) {
    drop(clients);
    for node in nodes {
        node.shutdown().await;
    }
    r::clean(url, prefix).await;
}

/// Reads `count` messages of `room`, checking that their seqs follow each other.
async fn messages(client: &mut Client, room: &str, count: usize) -> Vec<Value> {
    let mut got: Vec<Value> = Vec::with_capacity(count);
    while got.len() < count {
        let frame = client.recv_type("message").await;
        assert_eq!(frame["room"], room);
        if let Some(last) = got.last() {
            assert_eq!(
                frame["seq"].as_u64(),
                last["seq"].as_u64().map(|s| s + 1),
                "seqs follow each other: {frame} after {last}"
            );
        }
        got.push(frame);
    }
    got
}

/// Asserts that no message arrives before a round trip through the node ends (presence may).
async fn quiet(client: &mut Client, room: &str) {
    client
        .send(json!({"type": "history", "room": room, "limit": 1}))
        .await;
    client.recv_type("history").await;
}

fn seq_to_text(frames: &[Value]) -> BTreeMap<u64, String> {
    frames
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_two_nodes_get_one_order_and_one_seq() {
    let prefix = r::prefix("order");
    let (a, b) = two_nodes(SHARED, &prefix, "").await;
    let mut alice = a.joined("alice", "general").await;
    let mut bob = b.joined("bob", "general").await;

    // Both send at once, from different nodes.
    for i in 0..30 {
        alice
            .send(json!({"type": "send", "room": "general", "text": format!("a{i}")}))
            .await;
        bob.send(json!({"type": "send", "room": "general", "text": format!("b{i}")}))
            .await;
    }
    let seen_by_alice = messages(&mut alice, "general", 60).await;
    let seen_by_bob = messages(&mut bob, "general", 60).await;
    assert_eq!(seen_by_alice[0]["seq"], 1, "one seq per room, from 1");
    assert_eq!(
        seq_to_text(&seen_by_alice),
        seq_to_text(&seen_by_bob),
        "every member sees one order"
    );
    let texts: Vec<_> = seen_by_alice.iter().map(|f| f["text"].clone()).collect();
    for i in 0..30 {
        assert!(texts.contains(&json!(format!("a{i}"))));
        assert!(texts.contains(&json!(format!("b{i}"))));
    }

    // A third member joining on either node sees the same history.
    let mut carol = a.client("carol").await;
    carol
        .send(json!({"type": "join", "room": "general", "since": 0}))
        .await;
    let on_a = carol.recv_type("joined").await;
    let mut dave = b.client("dave").await;
    dave.send(json!({"type": "join", "room": "general", "since": 0}))
        .await;
    let on_b = dave.recv_type("joined").await;
    assert_eq!(on_a["seq"], 60);
    assert_eq!(on_a["history"], on_b["history"]);
    assert_eq!(on_a["complete"], true);
    assert_eq!(on_a["history"].as_array().unwrap().len(), 60);
    for client in [&mut carol, &mut dave] {
        client
            .send(json!({"type": "history", "room": "general", "before": 31, "limit": 10}))
            .await;
    }
    let (page_a, page_b) = (
        carol.recv_type("history").await,
        dave.recv_type("history").await,
    );
    assert_eq!(page_a, page_b);
    assert_eq!(page_a["messages"][0]["seq"], 21);
    assert_eq!(page_a["has_more"], true);
    stop([a, b], vec![alice, bob, carol, dave], SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_on_another_node_gets_the_stored_message_back() {
    let prefix = r::prefix("resend");
    let (a, b) = two_nodes(SHARED, &prefix, "").await;
    let mut alice = a.joined("alice", "r").await;
    let mut bob = b.joined("bob", "r").await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "once", "id": "c-1"}))
        .await;
    let first = alice.recv_type("message").await;
    assert_eq!(bob.recv_type("message").await, first);

    // The same client, reconnected to the other node, resends.
    let mut again = b.joined("alice", "r").await;
    again
        .send(json!({"type": "send", "room": "r", "text": "once", "id": "c-1"}))
        .await;
    let echo = again.recv_type("message").await;
    assert_eq!(
        echo["seq"], first["seq"],
        "the stored message, not a new one"
    );
    assert_eq!(echo["client_id"], "c-1");
    quiet(&mut alice, "r").await;
    quiet(&mut bob, "r").await;
    stop([a, b], vec![alice, bob, again], SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_answers_internal_and_the_nodes_recover_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = PrivateRedis::start(dir.path(), &[]).await;
    let (a, b) = two_nodes(&redis.url(), "down", "").await;
    ready_becomes(&a, 200).await;
    let mut alice = a.joined("alice", "r").await;
    let mut bob = b.joined("bob", "r").await;
    let mut carol = a.joined("carol", "r").await;
    let first = alice.say("r", "before").await;
    assert_eq!(first["seq"], 1);
    assert_eq!(bob.recv_type("message").await, first);
    assert_eq!(carol.recv_type("message").await, first);
    members_in_redis(&redis.url(), "down", "r", 3).await;

    redis.kill().await;
    ready_becomes(&a, 503).await;
    ready_becomes(&b, 503).await;
    alice
        .send(json!({"type": "send", "room": "r", "text": "during", "id": "x2"}))
        .await;
    let error = alice.recv_type("error").await;
    assert_eq!(error["code"], "internal");
    assert_eq!(error["ref"], "x2");
    // A leave Redis cannot hear of now.
    carol.send(json!({"type": "leave", "room": "r"})).await;
    carol.recv_type("left").await;

    redis.restart().await;
    ready_becomes(&a, 200).await;
    ready_becomes(&b, 200).await;
    // The same connections, still open; the resend is stored now, after what Redis kept.
    alice
        .send(json!({"type": "send", "room": "r", "text": "during", "id": "x2"}))
        .await;
    let second = alice.recv_type("message").await;
    assert_eq!(second["seq"], 2, "seq continues from what Redis kept");
    assert_eq!(bob.recv_type("message").await, second);
    let from_b = bob.say("r", "after").await;
    assert_eq!(from_b["seq"], 3);
    assert_eq!(alice.recv_type("message").await, from_b);
    // The node told Redis its members again: carol's leave was not lost.
    members_in_redis(&redis.url(), "down", "r", 2).await;
    let mut dave = b.client("dave").await;
    assert_eq!(
        member_names(&dave.join("r").await),
        ["alice", "bob", "dave"]
    );
    stop([a, b], vec![alice, bob, carol, dave], &redis.url(), "down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_connections_killed_during_a_burst_leave_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let redis = PrivateRedis::start(dir.path(), &[]).await;
    let (a, b) = two_nodes(&redis.url(), "kill", "").await;
    ready_becomes(&a, 200).await;
    let mut alice = a.joined("alice", "burst").await;
    let mut bob = b.joined("bob", "burst").await;

    const BURST: usize = 400;
    let mut sender = a.joined("sender", "burst").await;
    let sending = tokio::spawn(async move {
        // One at a time, each after the last one's echo: a steady stream across the kill.
        for i in 0..BURST {
            sender.say("burst", &format!("m{i}")).await;
        }
        sender
    });
    // Kill every pub/sub connection once the burst is under way.
    let mut seen_by_bob = messages(&mut bob, "burst", 50).await;
    let mut admin = r::connect(&redis.url()).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(
        killed >= 2,
        "both nodes' pub/sub connections killed ({killed})"
    );
    seen_by_bob.extend(messages(&mut bob, "burst", BURST - 50).await);
    let seen_by_alice = messages(&mut alice, "burst", BURST).await;
    assert_eq!(seq_to_text(&seen_by_alice), seq_to_text(&seen_by_bob));
    for pair in seen_by_bob.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|s| s + 1)
        );
    }
    let sender = sending.await.unwrap();
    stop([a, b], vec![alice, bob, sender], &redis.url(), "kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_spreads_rooms_over_its_shards_with_one_seq_per_room() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = PrivateCluster::start(dir.path()).await;
    let (a, b) = two_nodes(&cluster.url(), "cluster", "redis_cluster = true").await;
    ready_becomes(&a, 200).await;
    ready_becomes(&b, 200).await;

    const ROOMS: usize = 24;
    let mut clients = Vec::new();
    for i in 0..ROOMS {
        let room = format!("room-{i}");
        let mut on_a = a.joined("alice", &room).await;
        let mut on_b = b.joined("bob", &room).await;
        for n in 0..3 {
            on_a.send(json!({"type": "send", "room": room, "text": format!("a{n}")}))
                .await;
            on_b.send(json!({"type": "send", "room": room, "text": format!("b{n}")}))
                .await;
        }
        let seen_on_a = messages(&mut on_a, &room, 6).await;
        let seen_on_b = messages(&mut on_b, &room, 6).await;
        assert_eq!(seen_on_a[0]["seq"], 1, "{room} has its own seq");
        assert_eq!(seq_to_text(&seen_on_a), seq_to_text(&seen_on_b));
        clients.extend([on_a, on_b]);
    }
    // Every shard holds some of the rooms.
    for &port in &cluster.ports {
        let mut conn = r::connect(&format!("redis://127.0.0.1:{port}")).await;
        let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        assert!(keys > 0, "shard on port {port} holds no room");
    }
    drop(clients);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_presence_and_typing_reach_every_node() {
    let prefix = r::prefix("presence");
    let (a, b) = two_nodes(SHARED, &prefix, "").await;
    let mut alice = a.joined("alice", "p").await;
    members_in_redis(SHARED, &prefix, "p", 1).await;
    let mut bob = b.client("bob").await;
    let joined = bob.join("p").await;
    assert_eq!(member_names(&joined), ["alice", "bob"], "{joined}");
    let arrived = alice.recv_type("presence").await;
    assert_eq!(
        (&arrived["event"], &arrived["user"]["name"]),
        (&json!("join"), &json!("bob"))
    );

    bob.send(json!({"type": "typing", "room": "p", "active": true}))
        .await;
    let typing = alice.recv().await;
    assert_eq!(typing["type"], "typing", "{typing}");
    assert_eq!(typing["user"]["name"], "bob");
    assert_eq!(typing["active"], true);

    members_in_redis(SHARED, &prefix, "p", 2).await;
    let mut carol = a.client("carol").await;
    let joined = carol.join("p").await;
    assert_eq!(member_names(&joined), ["alice", "bob", "carol"], "{joined}");

    bob.send(json!({"type": "leave", "room": "p"})).await;
    bob.recv_type("left").await;
    let mut left = alice.recv_type("presence").await;
    while left["user"]["name"] != "bob" {
        left = alice.recv_type("presence").await;
    }
    assert_eq!(left["event"], "leave");
    members_in_redis(SHARED, &prefix, "p", 2).await;
    let mut dave = b.client("dave").await;
    let joined = dave.join("p").await;
    assert_eq!(
        member_names(&joined),
        ["alice", "carol", "dave"],
        "{joined}"
    );
    stop([a, b], vec![alice, bob, carol, dave], SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_members_leave_and_its_clients_resume_elsewhere() {
    let prefix = r::prefix("death");
    let a = TestServer::start(&r::node_toml(SHARED, &prefix, "node_ttl = \"2s\"")).await;
    let mut b = ServerProcess::start(
        &[],
        &[
            ("CHAT__BROKER__KIND", "redis"),
            ("CHAT__BROKER__REDIS_URL", SHARED),
            ("CHAT__BROKER__REDIS_PREFIX", &prefix),
            ("CHAT__BROKER__NODE_TTL", "2s"),
        ],
    )
    .await;
    let mut bob = Client::connect(b.addr, "/ws?name=bob").await;
    bob.recv_type("welcome").await;
    bob.join("k").await;
    members_in_redis(SHARED, &prefix, "k", 1).await;
    let mut alice = a.client("alice").await;
    assert_eq!(member_names(&alice.join("k").await), ["alice", "bob"]);
    let said = bob.say("k", "from b").await;
    assert_eq!(alice.recv_type("message").await, said);

    b.child.kill().await.unwrap();
    let while_away = alice.say("k", "while bob's node is dead").await;
    // The contract's bound: within 30 s of the death.
    let left = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let frame = alice.recv_type("presence").await;
            if frame["user"]["name"] == "bob" {
                return frame;
            }
        }
    })
    .await
    .expect("bob leaves within 30 s");
    assert_eq!(left["event"], "leave");

    // Bob's client comes back on the other node and resumes from what it had.
    let mut again = a.client("bob").await;
    again
        .send(json!({"type": "join", "room": "k", "since": said["seq"]}))
        .await;
    let resumed = again.recv_type("joined").await;
    assert_eq!(resumed["history"], json!([while_away]));
    assert_eq!(resumed["complete"], true);
    assert_eq!(member_names(&resumed), ["alice", "bob"], "{resumed}");
    stop([a], vec![alice, bob, again], SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_in_flight_when_the_last_member_leaves_still_gets_live_messages() {
    let prefix = r::prefix("handover");
    let (a, b) = two_nodes(SHARED, &prefix, "").await;
    let mut sender = b.joined("sender", "h").await;
    for round in 0..20 {
        let mut last = a.joined("last", "h").await;
        let mut next = a.client("next").await;
        // The join goes first, the leave right behind it: the room empties on this node
        // while the join waits for Redis.
        next.send(json!({"type": "join", "room": "h"})).await;
        last.send(json!({"type": "leave", "room": "h"})).await;
        next.recv_type("joined").await;
        last.recv_type("left").await;
        let said = sender.say("h", &format!("round {round}")).await;
        assert_eq!(next.recv_type("message").await, said, "round {round}");
        next.send(json!({"type": "leave", "room": "h"})).await;
        next.recv_type("left").await;
    }
    stop([a, b], vec![sender], SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_several_rooms_keeps_each_room_s_order_and_its_resends() {
    let prefix = r::prefix("burst");
    let (a, b) = two_nodes(SHARED, &prefix, "").await;
    let rooms = ["r0", "r1", "r2", "r3"];
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    for room in rooms {
        alice.join(room).await;
        bob.join(room).await;
    }
    // Sent without waiting, so that one hub batch (one script call) holds several rooms; the
    // resend of the first message may fall in the same call as the message itself.
    for i in 0..10 {
        for room in rooms {
            let id = format!("{room}-{i}");
            alice
                .send(json!({"type": "send", "room": room, "text": id, "id": id}))
                .await;
        }
        if i == 0 {
            alice
                .send(json!({"type": "send", "room": "r0", "text": "r0-0", "id": "r0-0"}))
                .await;
        }
    }
    let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for _ in 0..rooms.len() * 10 {
        let frame = bob.recv_type("message").await;
        seen.entry(frame["room"].as_str().unwrap().to_owned())
            .or_default()
            .push(frame);
    }
    for room in rooms {
        let texts: Vec<_> = seq_to_text(&seen[room]).into_iter().collect();
        let expected: Vec<_> = (0..10).map(|i| (i + 1, format!("{room}-{i}"))).collect();
        assert_eq!(texts, expected, "{room}: every message once, in order");
        let seqs: Vec<_> = seen[room].iter().map(|f| f["seq"].as_u64()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{room}: in seq order");
    }
    let mut echoes = Vec::new();
    for _ in 0..rooms.len() * 10 + 1 {
        let frame = alice.recv_type("message").await;
        if frame["client_id"] == "r0-0" {
            echoes.push(frame["seq"].clone());
        }
    }
    assert_eq!(
        echoes,
        [json!(1), json!(1)],
        "the resend gets the stored message"
    );
    quiet(&mut alice, "r0").await;
    quiet(&mut bob, "r0").await;
    stop([a, b], vec![alice, bob], SHARED, &prefix).await;
}
