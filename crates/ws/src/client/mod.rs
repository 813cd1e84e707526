//! One WebSocket connection: a reader task that turns frames into hub commands and a writer
//! task that drains the connection's bounded outbound queue onto the socket.
//!
//! The writer is the socket's only writer: it sends the server's frames, already framed once
//! for all recipients, with vectored `sendmsg`. The reader parses client frames with tungstenite; the
//! few bytes tungstenite itself writes (pong and close answers) reach the writer through the
//! same queue. Everything about one connection (its rooms, its rate bucket, its user) is a
//! local variable of these tasks; only the hub sees more than one connection.

mod config;
mod rate;
mod reader;
mod socket;
mod writer;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::{
    hub::{HubHandle, Outlet, Peer, Sender},
    protocol::User,
};

pub use config::{ClientConfig, websocket_config};

/// Source of connection numbers.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Serves one upgraded connection until it closes, the hub evicts it, or `shutdown` fires
/// (then it is closed with 1001 after what is queued has been written). `early` holds bytes
/// the client sent right behind its upgrade request.
///
/// Starts the connection's writer task at once (so it must be called inside the runtime) and
/// returns the reader, to be awaited. Not an `async fn`: its arguments would stay in the
/// connection's future for its whole life; the reader keeps only what it uses.
pub fn serve(
    tcp: TcpStream,
    early: Vec<u8>,
    user: User,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let ws_config = websocket_config(config.max_frame_bytes);
    hub.metrics().connections.increment(1.0);
    let (read, write) = tcp.into_split();
    let outlet = Outlet::new(write);
    let (queue_tx, queue_rx) = mpsc::channel(config.outbound_queue);
    let sender = Sender::new(outlet.clone(), queue_tx);
    let stop_reader = CancellationToken::new();
    let peer = Arc::new(Peer::new(conn, user, sender.clone()));
    debug!(conn, user = %peer.user.id, name = %peer.user.name, "connected");

    let writer = tokio::spawn(writer::run(outlet, queue_rx, stop_reader.clone()));
    let read_side = socket::ReadSide::new(read, sender.clone());
    let context = reader::Context {
        peer,
        hub,
        config,
        sender,
        stop: stop_reader,
        shutdown,
    };
    let opening = Box::pin(WebSocketStream::from_partially_read(
        read_side,
        early,
        Role::Server,
        Some(ws_config),
    ));
    reader::run(reader::Session::new(context, writer), opening)
}
