//! One connection's own state, a local variable of its reader, and what the connection
//! answers without the hub: parse errors, rate limits, rooms its sign-in does not give, and
//! the resolving of a `send`'s files before the hub sees it.

use std::{pin::Pin, sync::Arc};

use futures_util::future::Either;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::{Access, ClientConfig};
use crate::{
    conn::ConnId,
    hub::{Command, HubHandle},
    log::Files,
    protocol::{
        ErrorCode, FrameError, Parsed, Request, SendFiles, ServerFrame, UserId, parse_request,
    },
    rate::TokenBucket,
};

/// What the reader needs besides its stream.
pub(super) struct Context {
    pub(super) conn: ConnId,
    /// Whose connection it is: the owner a `send`'s files must have.
    pub(super) user: UserId,
    pub(super) hub: HubHandle,
    pub(super) config: Arc<ClientConfig>,
    /// The server is shutting down: close with 1001 after what waits.
    pub(super) shutdown: CancellationToken,
    /// The rooms it may join and when its sign-in expires.
    pub(super) access: Access,
    /// The echo endpoint: messages come back as they are, nothing is parsed.
    #[cfg(feature = "echo")]
    pub(super) echo: bool,
}

/// One connection's own state: a local variable of its reader, seen by nobody else.
pub(super) struct Session {
    pub(super) ctx: Context,
    /// `send` and `typing`.
    messages: TokenBucket,
    /// `join`, `leave` and `history`.
    requests: TokenBucket,
    /// Set once a close was requested: later data frames are ignored.
    pub(super) closing: bool,
    /// The hub was told the connection is gone.
    pub(super) detached: bool,
}

impl Session {
    pub(super) fn new(ctx: Context) -> Self {
        let now = Instant::now();
        let config = &ctx.config;
        let messages = TokenBucket::new(config.messages_per_sec, config.burst, now);
        let requests = TokenBucket::new(config.requests_per_sec, config.requests_burst, now);
        Self {
            ctx,
            messages,
            requests,
            closing: false,
            detached: false,
        }
    }
}

/// The wait for a `send`'s files to be resolved; then the command for the hub.
pub(super) type Attaching = Pin<Box<dyn Future<Output = Command> + Send>>;

/// The `error` frame answering a refused frame of connection `conn`, for the hub to write.
pub(super) fn refusal(hub: &HubHandle, conn: ConnId, e: &FrameError) -> Command {
    let metrics = hub.metrics();
    metrics.error(e.code).increment(1);
    metrics.frames_out.increment(1);
    let frame = ServerFrame::Error {
        code: e.code,
        message: &e.message,
        reference: e.reference.as_deref(),
    }
    .encode();
    Command::Write { conn, frame }
}

impl Session {
    /// Answers what the connection can answer itself; returns what the hub must do.
    pub(super) fn on_message(&mut self, message: Message) -> Option<Command> {
        self.ctx.hub.metrics().frames_in.increment(1);
        #[cfg(feature = "echo")]
        if self.ctx.echo {
            let frame = match message {
                Message::Text(text) if !self.closing => {
                    crate::protocol::Frame::text(text.as_bytes())
                }
                Message::Binary(data) if !self.closing => crate::protocol::Frame::binary(&data),
                _ => return None,
            };
            return Some(Command::Write {
                conn: self.ctx.conn,
                frame,
            });
        }
        match message {
            Message::Text(text) if !self.closing => self.on_text(&text),
            Message::Binary(_) if !self.closing => Some(self.error(&FrameError::new(
                ErrorCode::Unsupported,
                "binary frames are not supported; send JSON text frames",
                None,
            ))),
            // Pings are answered by the library; every frame, pongs included, proves life.
            _ => None,
        }
    }

    fn on_text(&mut self, text: &Utf8Bytes) -> Option<Command> {
        let Parsed { request, reference } =
            match parse_request(text, self.ctx.config.max_text_bytes) {
                Ok(parsed) => parsed,
                Err(e) => return Some(self.error(&e)),
            };
        let (bucket, what, per_sec) = match &request {
            Request::Send { .. }
            | Request::Edit { .. }
            | Request::Delete { .. }
            | Request::React { .. }
            | Request::Typing { .. } => (
                &mut self.messages,
                "messages",
                self.ctx.config.messages_per_sec,
            ),
            Request::Join { .. } | Request::Leave { .. } | Request::History { .. } => (
                &mut self.requests,
                "requests",
                self.ctx.config.requests_per_sec,
            ),
        };
        if !bucket.try_take(Instant::now()) {
            let message = format!("more than {per_sec} {what} per second; this one was dropped");
            return Some(self.error(&FrameError::new(
                ErrorCode::RateLimited,
                message,
                reference.as_deref(),
            )));
        }
        // After the rate limit: a refused join costs its token like any other.
        if let Request::Join { room, .. } = &request
            && !self.ctx.access.may_join(room)
        {
            let message = format!("your sign-in does not give access to room {room}");
            return Some(self.error(&FrameError::new(
                ErrorCode::Forbidden,
                message,
                reference.as_deref(),
            )));
        }
        Some(Command::Request {
            conn: self.ctx.conn,
            request,
            reference,
        })
    }

    /// The `error` frame answering a refused frame, for the hub to write.
    pub(super) fn error(&self, e: &FrameError) -> Command {
        refusal(&self.ctx.hub, self.ctx.conn, e)
    }

    /// A `send` that names files gets them resolved (each must exist and be this user's;
    /// they are marked as referenced) before the hub sees it; anything else goes on as it
    /// is.
    pub(super) fn attach_files(&self, command: Command) -> Either<Command, Attaching> {
        let (conn, room, text, id, ids, reference) = match command {
            Command::Request {
                conn,
                request:
                    Request::Send {
                        room,
                        text,
                        id,
                        files: Some(SendFiles::Named(ids)),
                    },
                reference,
            } => (conn, room, text, id, ids, reference),
            other => return Either::Left(other),
        };
        let Some(sharing) = self.ctx.config.files.clone() else {
            let off = FrameError::new(
                ErrorCode::BadRequest,
                "file sharing is off on this server",
                reference.as_deref(),
            );
            return Either::Left(self.error(&off));
        };
        let attached = sharing.attach(self.ctx.user.clone(), ids.into_vec());
        let hub = self.ctx.hub.clone();
        Either::Right(Box::pin(async move {
            let failure = match attached.await {
                Ok(json) => match Files::parse(json) {
                    Ok(files) => {
                        return Command::Request {
                            conn,
                            request: Request::Send {
                                room,
                                text,
                                id,
                                files: Some(SendFiles::Attached(files)),
                            },
                            reference,
                        };
                    }
                    Err(e) => FrameError::new(
                        ErrorCode::Internal,
                        format!("the files could not be read: {e}"),
                        reference.as_deref(),
                    ),
                },
                Err(why) => FrameError::new(ErrorCode::BadRequest, why, reference.as_deref()),
            };
            refusal(&hub, conn, &failure)
        }))
    }
}
