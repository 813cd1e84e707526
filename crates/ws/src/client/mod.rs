//! One WebSocket connection: a reader task that turns frames into hub commands and, only
//! when something must wait for the socket, a writer task that drains the connection's
//! bounded outbound queue onto it.
//!
//! The server's frames, already framed once for all recipients, go out with vectored
//! `sendmsg`: straight from whoever sends them (the hub, the reader) when the socket takes
//! them, else through the queue. The reader parses client frames with tungstenite; the few
//! bytes tungstenite itself writes (pong and close answers) take the same way. Everything about
//! one connection (its rooms, its rate bucket, its user) is a local variable of the reader;
//! only the hub sees more than one connection.

mod config;
mod rate;
mod reader;
mod socket;
pub(crate) mod writer;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::net::TcpStream;
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::{
    hub::{HubHandle, Outlet, Peer, Sender},
    protocol::{Frame, ServerFrame, User},
};

pub use config::{ClientConfig, websocket_config};

/// Source of connection numbers.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A socket handed over by the HTTP layer after its upgrade.
#[derive(Debug)]
pub struct Handoff {
    pub tcp: TcpStream,
    /// Bytes the client sent right behind its upgrade request.
    pub early: Vec<u8>,
    /// Bytes the HTTP layer has not written yet (its 101 response, held back so that it
    /// leaves in one write with `welcome`); they go out first.
    pub unsent: Vec<u8>,
}

/// Serves one upgraded connection until it closes, the hub evicts it, or `shutdown` fires
/// (then it is closed with 1001 after what is queued has been written). Writes `welcome`
/// (behind the handoff's unsent bytes) before it returns.
///
/// Starts the connection's writer task at once (so it must be called inside the runtime) and
/// returns the reader, to be awaited. Not an `async fn`: its arguments would stay in the
/// connection's future for its whole life; the reader keeps only what it uses.
pub fn serve(
    socket: Handoff,
    user: User,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let Handoff { tcp, early, unsent } = socket;
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let ws_config = websocket_config(config.max_frame_bytes);
    hub.metrics().connections.increment(1.0);
    let sender = Sender::new(Outlet::new(tcp, config.outbound_queue));
    let peer = Arc::new(Peer::new(conn, user, sender.clone()));
    debug!(conn, user = %peer.user.id, name = %peer.user.name, "connected");
    welcome(&sender, unsent, &peer.user, &config, &hub);

    let read_side = socket::ReadSide::new(sender.clone());
    let context = reader::Context {
        peer,
        hub,
        config,
        sender,
        shutdown,
    };
    let opening = Box::pin(WebSocketStream::from_partially_read(
        read_side,
        early,
        Role::Server,
        Some(ws_config),
    ));
    reader::run(reader::Session::new(context), opening)
}

/// Writes `welcome`, behind `unsent`, in one write.
fn welcome(sender: &Sender, unsent: Vec<u8>, user: &User, config: &ClientConfig, hub: &HubHandle) {
    let limits = config.limits();
    let welcome = ServerFrame::Welcome {
        user,
        server: &config.server_name,
        limits: &limits,
    }
    .encode();
    let mut frames = Vec::with_capacity(2);
    if !unsent.is_empty() {
        frames.push(Frame::opaque(unsent.into()));
    }
    frames.push(welcome);
    hub.metrics().frames_out.increment(1);
    sender.send(&mut frames);
}
