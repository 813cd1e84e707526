//! A connection over a stream the chat core knows nothing about (an in-memory pipe here, TLS
//! in production) goes through the same code as one over TCP: welcome, join, echo, and the
//! closing handshake answered.

use std::{sync::Arc, time::Duration};

use chat_store::MemoryHistory;
use chat_ws::{
    broker::LocalBroker,
    client::{Access, ClientConfig, serve_stream},
    history::Retention,
    hub::{HubConfig, HubHandle},
    metrics::Metrics,
    protocol::User,
};
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role},
};
use tokio_util::sync::CancellationToken;

fn client_config() -> ClientConfig {
    ClientConfig {
        max_text_bytes: 4096,
        max_rooms: 4,
        outbound_queue: 64,
        outbound_queue_bytes: 1 << 20,
        ping_interval: Duration::from_secs(25),
        idle_timeout: Duration::from_secs(60),
        messages_per_sec: 10,
        burst: 10,
        requests_per_sec: 20,
        requests_burst: 64,
        max_frame_bytes: 65_536,
        server_name: "chat-server/test".into(),
        files: None,
    }
}

async fn next_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("the stream is open")
            .expect("a valid frame");
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

#[tokio::test]
async fn a_connection_over_any_stream_chats_and_closes_like_one_over_tcp() {
    let metrics = Metrics::noop();
    let history = MemoryHistory::new(Retention {
        max_per_room: 100,
        max_age: None,
    });
    let broker = LocalBroker::new(
        Box::new(history),
        50,
        metrics.history_append_seconds.clone(),
    );
    let config = Arc::new(client_config());
    let hub_config = HubConfig {
        max_rooms: 4,
        queue: config.queue_limits(),
    };
    let (hub, hub_task) = HubHandle::spawn(Box::new(broker), hub_config, metrics);
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn(serve_stream(
        server_end,
        Vec::new(),
        User::new("u_1", "alice"),
        Access::open(),
        hub.clone(),
        config,
        CancellationToken::new(),
    ));
    let mut ws = WebSocketStream::from_raw_socket(client_end, Role::Client, None).await;

    assert!(next_text(&mut ws).await.contains(r#""type":"welcome""#));
    ws.send(Message::text(r#"{"type":"join","room":"general"}"#))
        .await
        .expect("join sent");
    assert!(next_text(&mut ws).await.contains(r#""type":"joined""#));
    ws.send(Message::text(
        r#"{"type":"send","room":"general","text":"over a pipe","id":"c1"}"#,
    ))
    .await
    .expect("send sent");
    let echo = next_text(&mut ws).await;
    assert!(
        echo.contains(r#""type":"message""#) && echo.contains(r#""client_id":"c1""#),
        "{echo}"
    );

    ws.close(None).await.expect("close sent");
    let answer = timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an answer in time");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "the server answers a close with its own: {answer:?}"
    );
    timeout(Duration::from_secs(5), serving)
        .await
        .expect("the connection ends after the closing handshake")
        .expect("the connection's task");
    drop(hub);
    hub_task.await.expect("the hub ends");
}
