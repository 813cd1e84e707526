//! One WebSocket connection: a reader task that turns frames into hub commands and a writer
//! task that drains the connection's bounded outbound queue onto the socket.
//!
//! Everything about a single connection (its rooms, its rate bucket, its user) is a local
//! variable of these tasks; only the hub sees more than one connection.

mod config;
mod rate;
mod reader;
mod writer;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures_util::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::{
    hub::{HubHandle, Peer},
    protocol::User,
};

pub use config::{ClientConfig, websocket_config};

/// Source of connection numbers.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Serves one upgraded connection until it closes, the hub evicts it, or `shutdown` fires
/// (then it is closed with 1001 after what is queued has been written).
pub async fn serve<S>(
    socket: WebSocketStream<S>,
    user: User,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (outbox_tx, outbox_rx) = mpsc::channel(config.outbound_queue);
    let evicted = CancellationToken::new();
    let stop_reader = CancellationToken::new();
    let (close_tx, close_rx) = mpsc::channel(1);
    let peer = Arc::new(Peer::new(conn, user, outbox_tx.clone(), evicted.clone()));
    debug!(conn, user = %peer.user.id, name = %peer.user.name, "connected");

    let (sink, stream) = socket.split();
    let writer = tokio::spawn(writer::run(
        sink,
        outbox_rx,
        writer::Signals {
            evicted: evicted.clone(),
            shutdown,
            close_requests: close_rx,
            stop_reader: stop_reader.clone(),
        },
        config.ping_interval,
    ));
    reader::run(
        stream,
        reader::Context {
            peer,
            hub,
            config,
            outbox: outbox_tx,
            evicted,
            stop: stop_reader,
            close_requests: close_tx,
        },
    )
    .await;
    // The writer ends on its own once the reader is gone (its close channel closes); waiting
    // for it keeps the connection counted until the socket is really done.
    let _ = writer.await;
    debug!(conn, "disconnected");
}

/// Splits a stream only to have each half owned by one task; re-exported for tests.
pub(crate) type Sink<S> =
    futures_util::stream::SplitSink<WebSocketStream<S>, tokio_tungstenite::tungstenite::Message>;
/// The reading half of a connection.
pub(crate) type Stream<S> = futures_util::stream::SplitStream<WebSocketStream<S>>;
