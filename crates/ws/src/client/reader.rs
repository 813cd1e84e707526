use std::{collections::HashSet, sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Error as WsError, Message, Utf8Bytes, error::CapacityError},
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{ClientConfig, rate::TokenBucket, socket::ReadSide};
use crate::{
    hub::{Command, HubGone, HubHandle, Peer, Sender},
    protocol::{
        ClientFrame, ErrorCode, Frame, FrameError, RoomName, ServerFrame, parse_client_frame,
    },
};

/// How long a shutdown waits for room in a full queue before the close becomes a 4008.
const SHUTDOWN_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// What the reader needs besides its stream.
pub(super) struct Context {
    pub(super) peer: Arc<Peer>,
    pub(super) hub: HubHandle,
    pub(super) config: Arc<ClientConfig>,
    /// This connection's own queue, for direct answers (welcome, errors, pings, closes).
    pub(super) sender: Sender,
    /// Cancelled by the writer once it is done with the socket.
    pub(super) stop: CancellationToken,
    /// The server is shutting down: queue a 1001 close behind what is queued.
    pub(super) shutdown: CancellationToken,
}

/// One connection's own state: a local variable of its reader, seen by nobody else.
struct Session {
    ctx: Context,
    /// Rooms this connection asked to be in (the hub confirms each with `joined`).
    rooms: HashSet<RoomName>,
    bucket: TokenBucket,
    /// Set once a close was requested: later data frames are ignored.
    closing: bool,
}

/// Reads frames until the client leaves, goes silent for `idle_timeout`, or the writer stops;
/// then takes the connection out of its rooms.
pub(super) async fn run(mut stream: WebSocketStream<ReadSide>, ctx: Context) {
    let bucket = TokenBucket::new(
        ctx.config.messages_per_sec,
        ctx.config.burst,
        Instant::now(),
    );
    let mut session = Session {
        ctx,
        rooms: HashSet::new(),
        bucket,
        closing: false,
    };
    session.welcome();
    let idle = session.ctx.config.idle_timeout;
    let ping_every = session.ctx.config.ping_interval;
    // Timers and signals are set up once and polled in place: a wake-up costs no allocation.
    let silence = sleep_until(Instant::now() + idle);
    let ping = sleep_until(Instant::now() + ping_every);
    let (stop, shutdown) = (session.ctx.stop.clone(), session.ctx.shutdown.clone());
    let stopped = stop.cancelled();
    let shutting_down = shutdown.cancelled();
    tokio::pin!(silence, ping, stopped, shutting_down);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stopped => break,
            () = &mut shutting_down, if !session.closing => {
                session.close_for_shutdown().await;
                continue;
            }
            () = &mut silence => {
                debug!(conn = session.ctx.peer.conn, "idle timeout");
                session.request_close(Frame::close(1000, "idle timeout"));
                silence.as_mut().reset(Instant::now() + idle);
                continue;
            }
            () = &mut ping => {
                // The client's pong (or any frame) pushes `silence` back.
                session.reply(Frame::ping());
                ping.as_mut().reset(Instant::now() + ping_every);
                continue;
            }
            next = stream.next() => next,
        };
        silence.as_mut().reset(Instant::now() + idle);
        let result = match next {
            None => break,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                session.request_close(Frame::close(1009, "frame too large"));
                continue;
            }
            Some(Err(e)) => {
                debug!(conn = session.ctx.peer.conn, error = %e, "read failed");
                break;
            }
            Some(Ok(message)) => session.on_message(message).await,
        };
        if result.is_err() {
            break;
        }
    }
    session.leave_all().await;
}

impl Session {
    fn welcome(&self) {
        let limits = self.ctx.config.limits();
        let frame = ServerFrame::Welcome {
            user: &self.ctx.peer.user,
            server: &self.ctx.config.server_name,
            limits: &limits,
        }
        .encode();
        self.reply(frame);
    }

    async fn on_message(&mut self, message: Message) -> Result<(), HubGone> {
        self.ctx.hub.metrics().frames_in.increment(1);
        match message {
            Message::Text(text) if !self.closing => self.on_text(&text).await,
            Message::Binary(_) if !self.closing => {
                self.error(&FrameError::new(
                    ErrorCode::Unsupported,
                    "binary frames are not supported; send JSON text frames",
                    None,
                ));
                Ok(())
            }
            // Pings are answered by the library; every frame, pongs included, proves life.
            _ => Ok(()),
        }
    }

    async fn on_text(&mut self, text: &Utf8Bytes) -> Result<(), HubGone> {
        let request = match parse_client_frame(text, self.ctx.config.max_text_bytes) {
            Ok(request) => request,
            Err(e) => {
                self.error(&e);
                return Ok(());
            }
        };
        let conn = self.ctx.peer.conn;
        let command = match request {
            ClientFrame::Join { room, since } => {
                if !self.rooms.contains(&room) && self.rooms.len() >= self.ctx.config.max_rooms {
                    let message = format!(
                        "a connection may be in at most {} rooms",
                        self.ctx.config.max_rooms
                    );
                    self.error(&FrameError::new(ErrorCode::TooManyRooms, message, None));
                    return Ok(());
                }
                self.rooms.insert(room.clone());
                Command::Join {
                    peer: self.ctx.peer.clone(),
                    room,
                    since,
                }
            }
            ClientFrame::Leave { room } => {
                if !self.rooms.remove(&room) {
                    // Leaving a room one is not in already holds: say so, as a join would.
                    self.reply(ServerFrame::Left { room: &room }.encode());
                    return Ok(());
                }
                Command::Leave {
                    conn,
                    room,
                    reply: true,
                }
            }
            ClientFrame::Send { room, text, id } => {
                if let Err(e) = self.check_send(&room, id.as_deref()) {
                    self.error(&e);
                    return Ok(());
                }
                Command::Send {
                    conn,
                    room,
                    text,
                    client_id: id,
                }
            }
            ClientFrame::Typing { room, active } => {
                if let Err(e) = self.check_send(&room, None) {
                    self.error(&e);
                    return Ok(());
                }
                Command::Typing { conn, room, active }
            }
            ClientFrame::History {
                room,
                before,
                limit,
            } => {
                if !self.rooms.contains(&room) {
                    self.error(&not_joined(&room, None));
                    return Ok(());
                }
                Command::History {
                    conn,
                    room,
                    before,
                    limit,
                }
            }
        };
        self.ctx.hub.send(command).await
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

    /// Queues a direct answer; a connection whose queue is full is a slow consumer (`queue`
    /// marks it so).
    fn reply(&self, frame: Frame) {
        self.ctx.hub.metrics().frames_out.increment(1);
        self.ctx.sender.queue(frame);
    }

    /// Queues a close frame behind what is queued; the writer sends nothing after it, and the
    /// reader keeps reading until the client answers (or the writer gives up on it).
    fn request_close(&mut self, frame: Frame) {
        if !self.closing {
            self.closing = true;
            self.reply(frame);
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

    /// Takes the connection out of every room it is in (no `left` answers: it is gone).
    async fn leave_all(self) {
        let conn = self.ctx.peer.conn;
        for room in self.rooms {
            let leave = Command::Leave {
                conn,
                room,
                reply: false,
            };
            if self.ctx.hub.send(leave).await.is_err() {
                return;
            }
        }
    }
}

fn not_joined(room: &RoomName, id: Option<&str>) -> FrameError {
    FrameError::new(ErrorCode::NotJoined, format!("join room {room} first"), id)
}
