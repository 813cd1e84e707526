//! Limits that protect the server: connection caps, frame size, slow consumers, idle clients.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::{Client, TestServer, upgrade_status};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn connections_past_the_cap_get_503() {
    let server = TestServer::start("[server]\nmax_connections = 2\n").await;
    let _a = server.client("a").await;
    let b = server.client("b").await;
    assert_eq!(upgrade_status(server.addr, &[]).await, 503);
    // A freed slot can be taken again once the server has seen the close.
    drop(b);
    let mut attempts = 0;
    while upgrade_status(server.addr, &[]).await != 101 {
        attempts += 1;
        assert!(attempts < 500, "the freed slot never came back");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn connections_from_one_address_past_its_cap_get_503() {
    let server = TestServer::start("[server]\nmax_connections_per_ip = 2\n").await;
    let _a = server.client("a").await;
    let b = server.client("b").await;
    // Far below server.max_connections: the address's cap refuses it.
    assert_eq!(upgrade_status(server.addr, &[]).await, 503);
    drop(b);
    let mut attempts = 0;
    while upgrade_status(server.addr, &[]).await != 101 {
        attempts += 1;
        assert!(attempts < 500, "the freed slot never came back");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_frame_over_the_limit_is_closed_with_1009() {
    let server = TestServer::start("[ws]\nmax_frame_bytes = 2048\nmax_text_bytes = 1000\n").await;
    let mut c = server.joined("alice", "r").await;
    c.ws.send(Message::text("x".repeat(4096)))
        .await
        .expect("send big frame");
    assert_eq!(c.recv_close().await, 1009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_while_the_others_keep_receiving() {
    // The queue must give the clients that do read enough headroom for this test's own
    // scheduling (its readers share two cores with the server and every other test); a stuck
    // reader overflows it all the same, since far more is sent than the socket buffers and the
    // queue together hold.
    let server = TestServer::start(
        "[ws]\noutbound_queue = 2000\n[limits]\nmessages_per_sec = 100000\nburst = 100000\n",
    )
    .await;
    let mut stuck = server.joined("stuck", "r").await;
    let mut reader = server.joined("reader", "r").await;
    let sender = server.joined("sender", "r").await;
    let big = "x".repeat(4000);
    let total = 8000; // 32 MB: far more than the socket buffers and the queue hold for `stuck`.
    let stuck_id = stuck.id.clone();
    // The sender reads its own echoes as it goes, or it would be a slow consumer too; and it
    // stays at most `AHEAD` messages ahead of what it and the reader have read, so that the
    // test's own scheduling (one task reads for both) never lets them fall a queue behind.
    const AHEAD: usize = 256;
    let (echoed_tx, mut echoed_rx) = tokio::sync::watch::channel(0usize);
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0usize);
    let (mut outgoing, mut incoming) = sender.ws.split();
    let drive = async {
        for i in 0..total {
            for read in [&mut echoed_rx, &mut seen_rx] {
                read.wait_for(|&n| n + AHEAD > i)
                    .await
                    .expect("the readers run until every message is read");
            }
            let frame = json!({"type": "send", "room": "r", "text": big, "id": i.to_string()});
            outgoing
                .send(Message::text(frame.to_string()))
                .await
                .expect("send");
        }
    };
    let echoes = async {
        let mut echoed = 0;
        while echoed < total {
            match tokio::time::timeout(support::WAIT, incoming.next()).await {
                Ok(Some(Ok(Message::Text(text)))) if text.contains("\"type\":\"message\"") => {
                    echoed += 1;
                    echoed_tx.send_replace(echoed);
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("sender lost its connection: {other:?}"),
            }
        }
    };
    let (evicted_tx, evicted_rx) = tokio::sync::oneshot::channel();
    let watch = async {
        let mut seq = 0;
        let mut evicted_tx = Some(evicted_tx);
        while seq < total {
            let frame = reader.recv().await;
            match frame["type"].as_str() {
                Some("message") => {
                    seq += 1;
                    assert_eq!(frame["seq"], seq, "the reader misses nothing");
                    seen_tx.send_replace(seq);
                }
                Some("presence") if frame["event"] == "leave" => {
                    assert_eq!(frame["user"]["id"], stuck_id.as_str());
                    if let Some(tx) = evicted_tx.take() {
                        let _ = tx.send(());
                    }
                }
                _ => {}
            }
        }
        evicted_tx.is_none()
    };
    // Once evicted, the stuck client starts reading again: behind its backlog is the close.
    let stuck_close = async {
        if evicted_rx.await.is_err() {
            return None;
        }
        support::raw_close_code(&mut stuck).await
    };
    let ((), (), saw_eviction, close) = tokio::join!(drive, echoes, watch, stuck_close);
    assert!(saw_eviction, "the stuck client was announced as gone");
    assert_eq!(close, Some(4008));
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let server =
        TestServer::start("[ws]\nping_interval = \"100ms\"\nidle_timeout = \"300ms\"\n").await;
    let mut silent: Client = server.joined("silent", "r").await;
    let mut watcher = server.joined("watcher", "r").await;
    // `silent` reads nothing from here on, so it answers no ping; the watcher does.
    let presence = loop {
        let frame = watcher.recv().await;
        if frame["type"] == "presence" && frame["event"] == "leave" {
            break frame;
        }
    };
    assert_eq!(presence["user"]["id"], silent.id.as_str());
    assert_eq!(support::raw_close_code(&mut silent).await, Some(1000));
}
