//! Graceful shutdown: every client gets 1001 after what was queued, and the process exits 0.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Client, TestServer, process::ServerProcess};

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut server = ServerProcess::start(&[], &[]).await;
    let mut clients = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut client = Client::connect(server.addr, &format!("/ws?name={name}")).await;
        client.recv_type("welcome").await;
        client.join("r").await;
        clients.push(client);
    }
    clients[0]
        .send(json!({"type": "send", "room": "r", "text": "last words"}))
        .await;
    for client in &mut clients {
        assert_eq!(client.recv_type("message").await["text"], "last words");
    }
    server.signal("TERM");
    for client in &mut clients {
        assert_eq!(client.recv_close().await, 1001);
    }
    let status = server.exit_within(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn sigint_also_stops_cleanly() {
    let mut server = ServerProcess::start(&[], &[]).await;
    server.signal("INT");
    assert_eq!(
        server.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test]
async fn in_process_shutdown_flushes_queued_frames_before_1001() {
    let server = TestServer::start("[limits]\nmessages_per_sec = 1000\nburst = 1000\n").await;
    let mut alice = server.joined("alice", "r").await;
    for i in 0..100 {
        alice
            .send(json!({"type": "send", "room": "r", "text": format!("m{i}")}))
            .await;
    }
    let mut bob = server.joined("bob", "r").await;
    let stop = tokio::spawn(server.shutdown());
    let mut seen = 0;
    loop {
        match tokio::time::timeout(support::WAIT, futures_util::StreamExt::next(&mut alice.ws))
            .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame))))) => {
                assert_eq!(u16::from(frame.code), 1001);
                break;
            }
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))))
                if t.contains("\"message\"") =>
            {
                seen += 1
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected frames then a close, got {other:?}"),
        }
    }
    assert_eq!(seen, 100, "every queued message went out before the close");
    assert_eq!(bob.recv_close().await, 1001);
    stop.await.expect("shutdown task");
}
