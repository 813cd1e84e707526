//! A connection's reader, the one task a connection has: it attaches the connection to the
//! hub, turns the client's frames into hub commands (through its [`Session`]), pings, and
//! detaches the connection at the end.

use std::{pin::Pin, sync::Arc, task::Poll};

use futures_util::{FutureExt, StreamExt, future::Either};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    sync::mpsc::error::TrySendError,
    time::{Instant, sleep_until},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Error as WsError, error::CapacityError},
};
use tracing::debug;

use super::{
    session::{Context, Session},
    socket::ReadSide,
};
use crate::{
    conn::Outbound,
    hub::{Command, HubGone, HubHandle},
    protocol::Frame,
};

/// The connection being attached to the hub and its WebSocket stream set up (boxed: that
/// future holds the attach command and the library's handshake state, which the connection
/// needs only once); `None` when the hub has stopped.
pub(super) type Opening<R> =
    Pin<Box<dyn Future<Output = Option<WebSocketStream<ReadSide<R>>>> + Send>>;

/// Attaches the connection to the hub, then reads frames until the client leaves, goes silent
/// for `idle_timeout`, or the hub cuts the connection off; then detaches it.
///
/// This future lives as long as the connection, so it is kept small: two phases chained with
/// `then`, not an `async fn` (whose arguments would be stored twice), one timer for both the
/// pings and the idle timeout, and the rare waits (opening, a full hub queue) boxed.
pub(super) fn run<R>(
    session: Session,
    opening: Opening<R>,
    outbound: Option<Outbound>,
) -> impl Future<Output = ()> + Send
where
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    read_frames(session, opening, outbound).then(finish)
}

/// The reading phase: frames become hub commands until the connection is done.
// An `async fn` would copy its arguments into a second slot of the future.
#[allow(clippy::manual_async_fn)]
fn read_frames<R>(
    mut session: Session,
    opening: Opening<R>,
    mut outbound: Option<Outbound>,
) -> impl Future<Output = Session> + Send
where
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async move {
        let Some(mut stream) = opening.await else {
            return session;
        };
        let start = Instant::now();
        let mut silence_at = start + session.ctx.config.idle_timeout;
        let mut ping_at = start + session.ctx.config.ping_interval;
        // Never, for a connection without a sign-in that expires.
        let mut expires_at = session.ctx.access.expires().unwrap_or(start + NEVER);
        // Set up once and polled in place: a wake-up costs no allocation.
        let timer = sleep_until(silence_at.min(ping_at).min(expires_at));
        let shutdown = session.ctx.shutdown.clone();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(timer, shutting_down);
        let conn = session.ctx.conn;
        loop {
            let command = tokio::select! {
                biased;
                () = &mut shutting_down, if !session.closing => {
                    session.closing = true;
                    Command::Close { conn, frame: Frame::close(1001, "server shutting down") }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    let mut command = None;
                    if now >= expires_at {
                        expires_at = now + NEVER;
                        if !session.closing {
                            debug!(conn, "token expired");
                            session.closing = true;
                            command = Some(Command::Close { conn, frame: Frame::close(4001, "token expired") });
                        }
                    }
                    if command.is_none() && now >= silence_at {
                        silence_at = now + session.ctx.config.idle_timeout;
                        if !session.closing {
                            debug!(conn, "idle timeout");
                            session.closing = true;
                            command = Some(Command::Close { conn, frame: Frame::close(1000, "idle timeout") });
                        }
                    }
                    if now >= ping_at {
                        ping_at = now + session.ctx.config.ping_interval;
                        // The client's pong (or any frame) pushes `silence_at` back.
                        if command.is_none() {
                            command = Some(Command::Write { conn, frame: Frame::ping() });
                        }
                    }
                    timer.as_mut().reset(silence_at.min(ping_at).min(expires_at));
                    match command {
                        Some(command) => command,
                        None => continue,
                    }
                }
                frame = next_out(outbound.as_mut()) => {
                    let Some(frame) = frame else { break };
                    let Some(out) = outbound.as_ref() else { break };
                    // Boxed, like everything only a connection over another stream does: a
                    // TCP connection's future does not carry it.
                    if !Box::pin(write_out(&mut stream, out, &frame)).await {
                        break;
                    }
                    continue;
                }
                next = stream.next() => {
                    // The timer keeps its deadline: when it fires it finds `silence_at` moved on.
                    silence_at = Instant::now() + session.ctx.config.idle_timeout;
                    match next {
                        None => break,
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                            if session.closing {
                                continue;
                            }
                            session.closing = true;
                            Command::Close { conn, frame: Frame::close(1009, "frame too large") }
                        }
                        // Broken framing ends the connection (RFC 6455 §7.1.7), with a close
                        // frame that says why; the hub writes it before it lets go.
                        Some(Err(WsError::Protocol(e))) => {
                            debug!(conn, error = %e, "protocol error");
                            let frame = Frame::close(1002, "protocol error");
                            tell(&session.ctx.hub, Command::Close { conn, frame }).await;
                            break;
                        }
                        Some(Err(WsError::Utf8(_))) => {
                            debug!(conn, "invalid UTF-8 in a text frame");
                            let frame = Frame::close(1007, "invalid UTF-8");
                            tell(&session.ctx.hub, Command::Close { conn, frame }).await;
                            break;
                        }
                        Some(Err(e)) => {
                            debug!(conn, error = %e, "read failed");
                            break;
                        }
                        Some(Ok(message)) => match session.on_message(message) {
                            Some(command) => match session.attach_files(command) {
                                Either::Left(command) => command,
                                // Boxed, and only for a send with files: the frames after it
                                // wait, so the connection's order holds.
                                Either::Right(attaching) => attaching.await,
                            },
                            None => continue,
                        },
                    }
                }
            };
            if !tell(&session.ctx.hub, command).await {
                break;
            }
        }
        if let Some(mut out) = outbound {
            // The hub still hands over what it had for the connection (the answer to the
            // client's close, say) until it lets go of it.
            session.detached = true;
            if tell(&session.ctx.hub, Command::Detach { conn }).await {
                let last_words = async {
                    while let Some(frame) = out.next().await {
                        if !write_out(&mut stream, &out, &frame).await {
                            return;
                        }
                    }
                    // Then the stream's own closing words, if it has any (TLS's close_notify,
                    // without which the peer cannot tell the end from a cut connection).
                    let _ = stream.get_mut().inner_mut().shutdown().await;
                };
                let _ = Box::pin(tokio::time::timeout(LAST_WORDS, last_words)).await;
            }
        }
        session
    }
}

/// The expiry of a connection whose sign-in never expires: as good as never, far from any
/// overflow.
const NEVER: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// How long a connection that writes its own stream goes on writing what the hub hands it
/// once the client has left, its closing words included.
const LAST_WORDS: std::time::Duration = std::time::Duration::from_secs(2);

/// The closing phase: the hub forgets the connection.
// An `async fn` would copy its argument into a second slot of the future.
#[allow(clippy::manual_async_fn)]
fn finish(session: Session) -> impl Future<Output = ()> + Send {
    async move {
        let Context { conn, hub, .. } = session.ctx;
        let metrics = Arc::clone(hub.metrics());
        if !session.detached {
            tell(&hub, Command::Detach { conn }).await;
        }
        metrics.connections.decrement(1.0);
        debug!(conn, "disconnected");
    }
}

/// Queues a command for the hub; the future says true once it is queued, false once the hub
/// has stopped.
///
/// Not an `async fn`: its future would hold the command, larger than the rest of what the
/// reader keeps between frames. The wait for room in a full queue (rare) is boxed.
pub(super) fn tell(hub: &HubHandle, command: Command) -> Tell<'_> {
    match hub.try_send(command) {
        Ok(()) => Tell::Done(true),
        Err(TrySendError::Full(command)) => Tell::Waiting(Box::pin(hub.send(command))),
        Err(TrySendError::Closed(_)) => Tell::Done(false),
    }
}

/// See [`tell`].
pub(super) enum Tell<'a> {
    Done(bool),
    Waiting(Pin<Box<dyn Future<Output = Result<(), HubGone>> + Send + 'a>>),
}

impl Future for Tell<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<bool> {
        match &mut *self {
            Self::Done(queued) => Poll::Ready(*queued),
            Self::Waiting(wait) => wait.as_mut().poll(cx).map(|sent| sent.is_ok()),
        }
    }
}

/// The next frame the hub handed a connection that writes its own stream (`None`: the hub
/// cut it off); pending forever for a TCP connection, whose frames the hub writes itself.
/// A poll, not a future of the channel's: nothing is kept or allocated between wake-ups.
fn next_out(
    mut outbound: Option<&mut Outbound>,
) -> impl Future<Output = Option<Frame>> + Send + '_ {
    std::future::poll_fn(move |cx| match outbound.as_mut() {
        Some(outbound) => outbound.poll_next(cx),
        None => Poll::Pending,
    })
}

/// Writes a frame the hub handed over to the stream; false when the stream failed or the hub
/// cut the connection off meanwhile.
async fn write_out<R>(
    stream: &mut WebSocketStream<ReadSide<R>>,
    outbound: &Outbound,
    frame: &Frame,
) -> bool
where
    R: AsyncRead + AsyncWrite + Unpin,
{
    let inner = stream.get_mut().inner_mut();
    let written = tokio::select! {
        written = async { inner.write_all(frame.wire()).await?; inner.flush().await } => written.is_ok(),
        () = outbound.cut() => false,
    };
    outbound.written(frame);
    written
}
