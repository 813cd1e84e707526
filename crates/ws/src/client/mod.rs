//! One WebSocket connection's reading side: a task that turns the client's frames into hub
//! commands. Its sending side (an [`Outbox`]) belongs to the hub once the connection is
//! attached; before that, `serve` writes `welcome` with it.
//!
//! Everything about one connection that only it needs (its rate buckets, whether it is
//! closing) is a local variable of its reader; the hub keeps the rest (its rooms, its
//! outbox).

mod access;
mod config;
mod reader;
mod session;
mod socket;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::{
    conn::{ConnId, Outbound, Outbox, TcpReader},
    hub::{Command, HubHandle},
    protocol::{Frame, ServerFrame, User},
};

pub use access::Access;
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

/// Serves one upgraded TCP connection until it closes or the hub cuts it off; on `shutdown`
/// it is closed with 1001 after what waits for it, when its `access` expires with 4001. Writes
/// `welcome` (behind the handoff's unsent bytes) in one write before it returns, then hands
/// the sending side to the hub.
///
/// Not an `async fn`: its arguments would stay in the connection's future for its whole
/// life; the reader keeps only what it uses.
pub fn serve(
    socket: Handoff,
    user: User,
    access: Access,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    over_tcp(
        socket,
        Greeting::Welcome(user, access),
        hub,
        config,
        shutdown,
    )
}

/// Serves one upgraded TCP connection as a plain WebSocket echo: no `welcome`, no rooms; each
/// text or binary message comes back as it was sent, through the same outbox, hub and
/// reader as a chat connection (so an RFC 6455 test suite exercises the chat's own framing).
#[cfg(feature = "echo")]
pub fn serve_echo(
    socket: Handoff,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    over_tcp(socket, Greeting::Echo, hub, config, shutdown)
}

/// A TCP connection's start: the hub writes its socket directly.
fn over_tcp(
    socket: Handoff,
    greeting: Greeting,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let Handoff { tcp, early, unsent } = socket;
    let tcp = Arc::new(tcp);
    let outbox = Outbox::tcp(tcp.clone());
    start(
        TcpReader(tcp),
        early,
        unsent,
        outbox,
        None,
        greeting,
        hub,
        config,
        shutdown,
    )
}

/// What a connection starts with.
enum Greeting {
    /// A chat connection: `welcome` to this user, who may do what its sign-in allows.
    Welcome(User, Access),
    /// The echo endpoint: nothing.
    #[cfg(feature = "echo")]
    Echo,
}

/// Serves a connection over any stream (TLS, or an in-memory one in tests), as [`serve`]
/// does: its task owns the stream, reads the client's frames from it and writes the frames
/// the hub hands it.
pub fn serve_stream<S>(
    stream: S,
    early: Vec<u8>,
    user: User,
    access: Access,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (outbox, outbound) = Outbox::channel();
    start(
        stream,
        early,
        Vec::new(),
        outbox,
        Some(outbound),
        Greeting::Welcome(user, access),
        hub,
        config,
        shutdown,
    )
}

#[allow(clippy::too_many_arguments)]
fn start<R>(
    read: R,
    early: Vec<u8>,
    unsent: Vec<u8>,
    mut outbox: Outbox,
    outbound: Option<Outbound>,
    greeting: Greeting,
    hub: HubHandle,
    config: Arc<ClientConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static
where
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn: ConnId = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    hub.metrics().connections.increment(1.0);
    #[cfg(feature = "echo")]
    let echo = matches!(greeting, Greeting::Echo);
    let (user, access) = match greeting {
        Greeting::Welcome(user, access) => {
            debug!(conn, user = %user.id, name = %user.name, "connected");
            // The connection is this task's alone until it is attached.
            welcome(&mut outbox, unsent, &user, &access, &config, &hub);
            (user, access)
        }
        #[cfg(feature = "echo")]
        Greeting::Echo => {
            debug!(conn, "echo connected");
            if !unsent.is_empty() {
                outbox.send(
                    &mut vec![Frame::opaque(unsent.into())],
                    config.queue_limits(),
                );
            }
            (User::new("echo", "echo"), Access::open())
        }
    };
    let user_id = user.id.clone();
    let attach = Command::Attach {
        conn,
        user,
        outbox: Box::new(outbox),
    };
    let ws_config = websocket_config(config.max_frame_bytes);
    let read_side = socket::ReadSide::new(read, conn, hub.clone());
    let attaching = hub.clone();
    let opening: reader::Opening<R> = Box::pin(async move {
        if !reader::tell(&attaching, attach).await {
            return None;
        }
        let config = Some(ws_config);
        Some(WebSocketStream::from_partially_read(read_side, early, Role::Server, config).await)
    });
    let session = session::Session::new(session::Context {
        conn,
        user: user_id,
        hub,
        config,
        shutdown,
        #[cfg(feature = "echo")]
        echo,
        access,
    });
    reader::run(session, opening, outbound)
}

/// Writes `welcome`, behind `unsent`, in one write.
fn welcome(
    outbox: &mut Outbox,
    unsent: Vec<u8>,
    user: &User,
    access: &Access,
    config: &ClientConfig,
    hub: &HubHandle,
) {
    let limits = config.limits();
    let signed_in_for = access
        .expires()
        .map(|at| at.saturating_duration_since(tokio::time::Instant::now()));
    let upload = config
        .files
        .as_ref()
        .map(|files| files.upload(user, signed_in_for));
    let welcome = ServerFrame::Welcome {
        user,
        server: &config.server_name,
        limits: &limits,
        upload: upload.as_ref(),
    }
    .encode();
    let mut frames = Vec::with_capacity(2);
    if !unsent.is_empty() {
        frames.push(Frame::opaque(unsent.into()));
    }
    frames.push(welcome);
    hub.metrics().frames_out.increment(1);
    // What the socket does not take now waits in the outbox: the hub writes it once attached.
    outbox.send(&mut frames, config.queue_limits());
}
