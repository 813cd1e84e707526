//! Presence across nodes (`broker.kind = "redis"`): a user signed in (JWT) on several nodes is
//! one member, `join` on its first connection anywhere and `leave` on its last, also when a
//! node dies. Real servers (in this process, or a child process to `kill -9`), real
//! WebSocket clients, the shared Redis under a prefix of each test's own.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    net::SocketAddr,
    time::{SystemTime, UNIX_EPOCH},
};

use chat_http::{Claims, mint};
use serde_json::{Value, json};
use support::{
    Client, TestServer,
    gate::Gate,
    member_names,
    process::ServerProcess,
    ready_becomes,
    redis::{self as r, PrivateRedis, SHARED, members_in_redis},
};

const SECRET: &str = "a secret shared by every node of the test";

/// A token for user `sub`, named like it, valid for a minute.
fn token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = Claims {
        sub: sub.into(),
        exp: now + 60,
        name: Some(sub.into()),
        rooms: None,
    };
    mint(SECRET, &claims).unwrap()
}

/// A node over the shared Redis with `prefix`, signing in with JWTs, taken for dead 2 s after
/// its last heartbeat.
async fn node(prefix: &str) -> TestServer {
    node_on(SHARED, prefix).await
}

/// A node like [`node`] over the Redis at `url`.
async fn node_on(url: &str, prefix: &str) -> TestServer {
    let auth = format!("node_ttl = \"2s\"\n[auth]\nmode = \"jwt\"\njwt_secret = \"{SECRET}\"");
    TestServer::start(&r::node_toml(url, prefix, &auth)).await
}

/// `sub` signed in on the node at `addr` and a member of `room`.
async fn signed_in(addr: SocketAddr, sub: &str, room: &str) -> Client {
    let mut client = Client::connect(addr, &format!("/ws?token={}", token(sub))).await;
    client.recv_type("welcome").await;
    client.join(room).await;
    client
}

/// Sends a message and reads until its echo, returning the presence frames that came before
/// it. Every presence the node was to tell before the message comes before it.
async fn presence_before_echo(client: &mut Client, room: &str) -> Vec<Value> {
    client
        .send(json!({"type": "send", "room": room, "text": "probe"}))
        .await;
    let mut presence = Vec::new();
    loop {
        let frame = client.recv().await;
        match frame["type"].as_str() {
            Some("message") if frame["text"] == "probe" => return presence,
            Some("presence") => presence.push(frame),
            Some("message" | "typing") => {}
            _ => panic!("unexpected {frame}"),
        }
    }
}

/// Leaves `room`, reading past what the room still brings until `left`.
async fn leave(client: &mut Client, room: &str) {
    client.send(json!({"type": "leave", "room": room})).await;
    loop {
        let frame = client.recv().await;
        if frame["type"] == "left" {
            return;
        }
    }
}

/// Reads until a presence frame about `sub`, past messages and other presence.
async fn presence_of(client: &mut Client, sub: &str) -> Value {
    loop {
        let frame = client.recv().await;
        if frame["type"] == "presence" && frame["user"]["id"] == sub {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_on_two_nodes_joins_once_and_leaves_with_its_last_connection() {
    let prefix = r::prefix("one-member");
    let (a, b) = (node(&prefix).await, node(&prefix).await);
    let mut carol = signed_in(a.addr, "carol", "p").await;

    let on_b = signed_in(b.addr, "alice", "p").await;
    let joined = presence_of(&mut carol, "alice").await;
    assert_eq!(joined["event"], "join");

    // Alice's second connection, on carol's node: no second join.
    members_in_redis(SHARED, &prefix, "p", 2).await;
    let mut on_a = signed_in(a.addr, "alice", "p").await;
    assert_eq!(
        presence_before_echo(&mut carol, "p").await,
        Vec::<Value>::new()
    );
    let mut dave = Client::connect(b.addr, &format!("/ws?token={}", token("dave"))).await;
    dave.recv_type("welcome").await;
    let listed = member_names(&dave.join("p").await);
    assert_eq!(listed, ["alice", "carol", "dave"], "alice listed once");
    let dave_joined = presence_of(&mut carol, "dave").await;
    assert_eq!(dave_joined["event"], "join");

    // The connection on carol's node leaves; alice is still in the room on the other.
    leave(&mut on_a, "p").await;
    assert_eq!(
        presence_before_echo(&mut carol, "p").await,
        Vec::<Value>::new()
    );
    members_in_redis(SHARED, &prefix, "p", 3).await;

    // The last connection leaves: now alice leaves, once, on every node.
    drop(on_b);
    let left = presence_of(&mut carol, "alice").await;
    assert_eq!(left["event"], "leave");
    let left = presence_of(&mut dave, "alice").await;
    assert_eq!(left["event"], "leave");
    members_in_redis(SHARED, &prefix, "p", 2).await;
    assert_eq!(
        presence_before_echo(&mut carol, "p").await,
        Vec::<Value>::new()
    );

    drop((carol, dave, on_a));
    a.shutdown().await;
    b.shutdown().await;
    r::clean(SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_takes_no_member_with_it_that_is_still_on_another_node() {
    let prefix = r::prefix("one-member-death");
    let a = node(&prefix).await;
    let mut b = ServerProcess::start(
        &[],
        &[
            ("CHAT__BROKER__KIND", "redis"),
            ("CHAT__BROKER__REDIS_URL", SHARED),
            ("CHAT__BROKER__REDIS_PREFIX", &prefix),
            ("CHAT__BROKER__NODE_TTL", "2s"),
            ("CHAT__AUTH__MODE", "jwt"),
            ("CHAT__AUTH__JWT_SECRET", SECRET),
        ],
    )
    .await;
    let mut carol = signed_in(a.addr, "carol", "k").await;
    let _alice_on_b = signed_in(b.addr, "alice", "k").await;
    let _bob_on_b = signed_in(b.addr, "bob", "k").await;
    members_in_redis(SHARED, &prefix, "k", 3).await;
    let mut alice_on_a = signed_in(a.addr, "alice", "k").await;
    members_in_redis(SHARED, &prefix, "k", 4).await;
    for sub in ["alice", "bob"] {
        assert_eq!(presence_of(&mut carol, sub).await["event"], "join");
    }
    assert_eq!(
        presence_before_echo(&mut carol, "k").await,
        Vec::<Value>::new()
    );

    b.child.kill().await.unwrap();
    // Bob had only the dead node: he leaves; alice is still on carol's node: she stays.
    let left = presence_of(&mut carol, "bob").await;
    assert_eq!(left["event"], "leave");
    members_in_redis(SHARED, &prefix, "k", 2).await;
    assert_eq!(
        presence_before_echo(&mut carol, "k").await,
        Vec::<Value>::new()
    );
    let mut dave = Client::connect(a.addr, &format!("/ws?token={}", token("dave"))).await;
    dave.recv_type("welcome").await;
    assert_eq!(
        member_names(&dave.join("k").await),
        ["alice", "carol", "dave"]
    );

    // Her last connection leaves.
    leave(&mut alice_on_a, "k").await;
    let left = presence_of(&mut carol, "alice").await;
    assert_eq!(left["event"], "leave");

    drop((carol, dave, alice_on_a));
    a.shutdown().await;
    r::clean(SHARED, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_missed_while_a_node_s_pubsub_was_down_reaches_its_members_after() {
    let dir = tempfile::tempdir().unwrap();
    let redis = PrivateRedis::start(dir.path(), &[]).await;
    // Node A reaches Redis through a gate: once its pub/sub connection is killed, it cannot
    // come back until the test opens the gate again (its command connection stays).
    let gate = Gate::start(([127, 0, 0, 1], redis.port).into()).await;
    let url_a = format!("redis://{}", gate.addr);
    let (a, b) = (
        node_on(&url_a, "lost").await,
        node_on(&redis.url(), "lost").await,
    );
    ready_becomes(&a, 200).await;
    let mut carol = signed_in(a.addr, "carol", "m").await;
    let mut bob = signed_in(b.addr, "bob", "m").await;
    assert_eq!(presence_of(&mut carol, "bob").await["event"], "join");

    gate.set_open(false);
    let mut admin = r::connect(&redis.url()).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"][..])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 2, "both nodes' pub/sub connections");
    ready_becomes(&a, 503).await;
    // While node A hears nothing: dave arrives, bob leaves (his message is kept in the stream).
    let dave = signed_in(b.addr, "dave", "m").await;
    let said = bob.say("m", "bye").await;
    leave(&mut bob, "m").await;
    members_in_redis(&redis.url(), "lost", "m", 2).await;

    gate.set_open(true);
    ready_becomes(&a, 200).await;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = carol.recv().await;
        match frame["type"].as_str() {
            Some("message") => assert_eq!(frame, said),
            Some("presence") => {}
            _ => panic!("unexpected {frame}"),
        }
        seen.push(frame);
    }
    let presence: Vec<_> = seen
        .iter()
        .filter(|f| f["type"] == "presence")
        .map(|f| {
            (
                f["user"]["id"].as_str().unwrap(),
                f["event"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(presence.contains(&("dave", "join")), "{seen:?}");
    assert!(presence.contains(&("bob", "leave")), "{seen:?}");
    assert_eq!(
        presence_before_echo(&mut carol, "m").await,
        Vec::<Value>::new()
    );

    drop((carol, bob, dave));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_cut_short_by_its_sweeper_s_death_is_resumed_once_its_claim_lapses() {
    let prefix = r::prefix("resumed-sweep");
    // What a sweeper that died mid-sweep leaves behind: a dead node still in the heartbeat
    // set, one of its members still in a room, and the dead sweeper's claim on the sweep.
    let mut admin = r::connect(SHARED).await;
    let ghost = json!({"id": "ghost", "name": "ghost"}).to_string();
    let claim_set = std::time::Instant::now();
    redis::pipe()
        .cmd("ZADD")
        .arg(format!("{prefix}:nodes"))
        .arg(1)
        .arg("dead")
        .cmd("HSET")
        .arg(format!("{prefix}:{{g}}:members"))
        .arg("dead|ghost")
        .arg(&ghost)
        .cmd("HSET")
        .arg(format!("{prefix}:{{g}}:users"))
        .arg("ghost")
        .arg(1)
        .cmd("SADD")
        .arg(format!("{prefix}:node:{{dead}}:rooms"))
        .arg("g")
        .cmd("SET")
        .arg(format!("{prefix}:node:{{dead}}:sweep"))
        .arg("a dead sweeper")
        .arg("PX")
        .arg(3000)
        .exec_async(&mut admin)
        .await
        .unwrap();

    let a = node(&prefix).await;
    let mut carol = Client::connect(a.addr, &format!("/ws?token={}", token("carol"))).await;
    carol.recv_type("welcome").await;
    assert_eq!(member_names(&carol.join("g").await), ["carol", "ghost"]);
    let left = presence_of(&mut carol, "ghost").await;
    assert_eq!(left["event"], "leave");
    assert!(
        claim_set.elapsed() >= std::time::Duration::from_secs(3),
        "nobody sweeps while the claim holds"
    );
    members_in_redis(SHARED, &prefix, "g", 1).await;
    let nodes: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}:nodes"))
        .arg(0)
        .arg(-1)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        nodes.len(),
        1,
        "the dead node is gone once swept: {nodes:?}"
    );
    let left_over: u64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}:node:{{dead}}:rooms"))
        .arg(format!("{prefix}:node:{{dead}}:sweep"))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(left_over, 0);

    drop(carol);
    a.shutdown().await;
    r::clean(SHARED, &prefix).await;
}
