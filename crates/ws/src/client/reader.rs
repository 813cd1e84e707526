use std::{pin::Pin, sync::Arc, time::Duration};

use foldhash::{HashSet, HashSetExt};

use futures_util::{FutureExt, StreamExt};
use tokio::{
    sync::mpsc::error::TrySendError,
    time::{Instant, sleep_until},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Error as WsError, Message, Utf8Bytes, error::CapacityError},
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{ClientConfig, rate::TokenBucket, socket::ReadSide};
use crate::{
    hub::{Command, ConnId, HubHandle, Peer, Sender},
    protocol::{ErrorCode, Frame, FrameError, Request, RoomName, ServerFrame, parse_request},
};

/// How long a shutdown waits for room in a full queue before the close becomes a 4008.
const SHUTDOWN_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// What the reader needs besides its stream.
pub(super) struct Context {
    pub(super) peer: Arc<Peer>,
    pub(super) hub: HubHandle,
    pub(super) config: Arc<ClientConfig>,
    /// This connection's own sending side, for direct answers (errors, pings, closes).
    pub(super) sender: Sender,
    /// The server is shutting down: queue a 1001 close behind what is queued.
    pub(super) shutdown: CancellationToken,
}

/// One connection's own state: a local variable of its reader, seen by nobody else.
pub(super) struct Session {
    ctx: Context,
    /// Rooms this connection asked to be in (the hub confirms each with `joined`).
    rooms: HashSet<RoomName>,
    bucket: TokenBucket,
    /// Set once a close was requested: later data frames are ignored.
    closing: bool,
}

impl Session {
    pub(super) fn new(ctx: Context) -> Self {
        let bucket = TokenBucket::new(
            ctx.config.messages_per_sec,
            ctx.config.burst,
            Instant::now(),
        );
        Self {
            ctx,
            rooms: HashSet::new(),
            bucket,
            closing: false,
        }
    }
}

/// The WebSocket stream being set up (boxed: the library builds it in a future).
pub(super) type Opening = Pin<Box<dyn Future<Output = WebSocketStream<ReadSide>> + Send>>;

/// Reads frames until the client leaves, goes silent for `idle_timeout`, or the writer stops;
/// then takes the connection out of its rooms and waits for the writer.
///
/// This future lives as long as the connection, so it is kept small: two phases chained with
/// `then` (the second's state takes the first's place; one `async` block holding both would
/// keep the reading phase's stream and timers beside the closing phase's locals), not an
/// `async fn` (whose arguments would be stored twice), one timer for both the pings and the
/// idle timeout, and the rare waits (opening, a full hub queue, shutdown, leaving) boxed.
pub(super) fn run(session: Session, opening: Opening) -> impl Future<Output = ()> + Send {
    read_frames(session, opening).then(finish)
}

/// The reading phase: frames become hub commands until the connection is done.
// An `async fn` would copy its arguments into a second slot of the future.
#[allow(clippy::manual_async_fn)]
fn read_frames(mut session: Session, opening: Opening) -> impl Future<Output = Session> + Send {
    async move {
        let mut stream = opening.await;
        let outlet = session.ctx.sender.outlet().clone();
        let start = Instant::now();
        let mut silence_at = start + session.ctx.config.idle_timeout;
        let mut ping_at = start + session.ctx.config.ping_interval;
        // Set up once and polled in place: a wake-up costs no allocation.
        let timer = sleep_until(silence_at.min(ping_at));
        let shutdown = session.ctx.shutdown.clone();
        let stopped = outlet.reader_stopped();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(timer, stopped, shutting_down);
        loop {
            let command = tokio::select! {
                biased;
                () = &mut stopped => break,
                () = &mut shutting_down, if !session.closing => {
                    Box::pin(session.close_for_shutdown()).await;
                    continue;
                }
                () = &mut timer => {
                    let now = Instant::now();
                    if now >= silence_at {
                        debug!(conn = session.ctx.peer.conn, "idle timeout");
                        session.request_close(Frame::close(1000, "idle timeout"));
                        silence_at = now + session.ctx.config.idle_timeout;
                    }
                    if now >= ping_at {
                        // The client's pong (or any frame) pushes `silence_at` back.
                        session.reply(Frame::ping());
                        ping_at = now + session.ctx.config.ping_interval;
                    }
                    timer.as_mut().reset(silence_at.min(ping_at));
                    continue;
                }
                next = stream.next() => {
                    // The timer keeps its deadline: when it fires it finds `silence_at` moved on.
                    silence_at = Instant::now() + session.ctx.config.idle_timeout;
                    match next {
                        None => break,
                        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                            session.request_close(Frame::close(1009, "frame too large"));
                            continue;
                        }
                        Some(Err(e)) => {
                            debug!(conn = session.ctx.peer.conn, error = %e, "read failed");
                            break;
                        }
                        Some(Ok(message)) => match session.on_message(message) {
                            Some(command) => command,
                            None => continue,
                        },
                    }
                }
            };
            let wait = match session.ctx.hub.try_send(command) {
                Ok(()) => continue,
                Err(TrySendError::Full(command)) => Box::pin(session.ctx.hub.send(command)),
                Err(TrySendError::Closed(_)) => break,
            };
            if wait.await.is_err() {
                break;
            }
        }
        session
    }
}

/// The closing phase: out of every room, then wait for the writer.
// An `async fn` would copy its argument into a second slot of the future.
#[allow(clippy::manual_async_fn)]
fn finish(session: Session) -> impl Future<Output = ()> + Send {
    async move {
        let Session { ctx, rooms, .. } = session;
        let outlet = ctx.sender.outlet().clone();
        let (conn, metrics) = (ctx.peer.conn, Arc::clone(ctx.hub.metrics()));
        Box::pin(leave_all(ctx.hub, conn, rooms)).await;
        drop(ctx.sender);
        drop(ctx.peer);
        // A writer ends on its own once the reader is gone and the hub has forgotten the
        // connection (every sender is gone); waiting for it keeps the connection counted until
        // the socket is really done.
        outlet.writer_finished().await;
        metrics.connections.decrement(1.0);
        debug!(conn, "disconnected");
    }
}

impl Session {
    /// Answers what the connection can answer itself; returns what the hub must do.
    fn on_message(&mut self, message: Message) -> Option<Command> {
        self.ctx.hub.metrics().frames_in.increment(1);
        match message {
            Message::Text(text) if !self.closing => self.on_text(&text),
            Message::Binary(_) if !self.closing => {
                self.error(&FrameError::new(
                    ErrorCode::Unsupported,
                    "binary frames are not supported; send JSON text frames",
                    None,
                ));
                None
            }
            // Pings are answered by the library; every frame, pongs included, proves life.
            _ => None,
        }
    }

    fn on_text(&mut self, text: &Utf8Bytes) -> Option<Command> {
        let request = match parse_request(text, self.ctx.config.max_text_bytes) {
            Ok(request) => request,
            Err(e) => {
                self.error(&e);
                return None;
            }
        };
        let conn = self.ctx.peer.conn;
        let command = match request {
            Request::Join { room, since } => {
                if !self.rooms.contains(&room) && self.rooms.len() >= self.ctx.config.max_rooms {
                    let message = format!(
                        "a connection may be in at most {} rooms",
                        self.ctx.config.max_rooms
                    );
                    self.error(&FrameError::new(ErrorCode::TooManyRooms, message, None));
                    return None;
                }
                self.rooms.insert(room.clone());
                Command::Join {
                    peer: self.ctx.peer.clone(),
                    room,
                    since,
                }
            }
            Request::Leave { room } => {
                if !self.rooms.remove(&room) {
                    // Leaving a room one is not in already holds: say so, as a join would.
                    self.reply(ServerFrame::Left { room: &room }.encode());
                    return None;
                }
                Command::Leave {
                    conn,
                    room,
                    reply: true,
                }
            }
            Request::Send { room, text, id } => {
                if let Err(e) = self.check_send(&room, id.as_deref()) {
                    self.error(&e);
                    return None;
                }
                Command::Send {
                    conn,
                    room,
                    text,
                    client_id: id,
                }
            }
            Request::Typing { room, active } => {
                if let Err(e) = self.check_send(&room, None) {
                    self.error(&e);
                    return None;
                }
                Command::Typing { conn, room, active }
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                if !self.rooms.contains(&room) {
                    self.error(&not_joined(&room, None));
                    return None;
                }
                Command::History {
                    conn,
                    room,
                    before,
                    limit,
                }
            }
        };
        Some(command)
    }

    /// Membership and rate limit, the checks `send` and `typing` share.
    fn check_send(&mut self, room: &RoomName, id: Option<&str>) -> Result<(), FrameError> {
        if !self.rooms.contains(room) {
            return Err(not_joined(room, id));
        }
        if !self.bucket.try_take(Instant::now()) {
            return Err(FrameError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second; this one was dropped",
                    self.ctx.config.messages_per_sec
                ),
                id,
            ));
        }
        Ok(())
    }

    fn error(&self, e: &FrameError) {
        self.ctx.hub.metrics().error(e.code).increment(1);
        let frame = ServerFrame::Error {
            code: e.code,
            message: &e.message,
            reference: e.reference.as_deref(),
        }
        .encode();
        self.reply(frame);
    }

    /// Sends a direct answer, straight to the socket when nothing waits before it; a
    /// connection whose queue is full is a slow consumer (the sender marks it so).
    fn reply(&self, frame: Frame) {
        self.ctx.hub.metrics().frames_out.increment(1);
        self.ctx.sender.send_one(frame);
    }

    /// Queues a close frame behind what is queued; the writer sends nothing after it, and the
    /// reader keeps reading until the client answers (or the writer gives up on it).
    fn request_close(&mut self, frame: Frame) {
        if !self.closing {
            self.closing = true;
            self.ctx.hub.metrics().frames_out.increment(1);
            self.ctx.sender.queue(frame);
        }
    }

    /// Shutdown: 1001 goes out after everything already queued, waiting for room in the
    /// queue a little, since the server is going away anyway.
    async fn close_for_shutdown(&mut self) {
        self.closing = true;
        let close = Frame::close(1001, "server shutting down");
        self.ctx
            .sender
            .queue_timeout(close, SHUTDOWN_QUEUE_WAIT)
            .await;
    }
}

/// Takes the connection out of every room it is in (no `left` answers: it is gone).
async fn leave_all(hub: HubHandle, conn: ConnId, rooms: HashSet<RoomName>) {
    for room in rooms {
        let leave = Command::Leave {
            conn,
            room,
            reply: false,
        };
        if hub.send(leave).await.is_err() {
            return;
        }
    }
}

fn not_joined(room: &RoomName, id: Option<&str>) -> FrameError {
    FrameError::new(ErrorCode::NotJoined, format!("join room {room} first"), id)
}
