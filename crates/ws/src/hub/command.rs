use std::sync::Arc;

use tokio::sync::oneshot;

use crate::{
    api::{ApiAnswer, ApiRequest},
    conn::{ConnId, Outbox},
    protocol::{Frame, Request, User},
};

/// What a connection (or the server API) asks of the hub. Answers to a connection go to its
/// outbox, never back through a reply channel, so the hub never waits on a client; the server
/// API's answers go through a oneshot, which never waits either.
#[derive(Debug)]
pub enum Command {
    /// A new connection: from now on the hub owns its sending side (boxed: it would make
    /// every command larger).
    Attach {
        conn: ConnId,
        user: User,
        outbox: Box<Outbox>,
    },
    /// A client's request, parsed and checked against the connection's own limits, with
    /// the frame's `id` for the `ref` of any error about it.
    Request {
        conn: ConnId,
        request: Request,
        reference: Option<Arc<str>>,
    },
    /// A frame of the connection's own (an error answer, a ping, a pong): sent after what
    /// waits for it.
    Write { conn: ConnId, frame: Frame },
    /// Close the connection with this close frame, after what waits for it.
    Close { conn: ConnId, frame: Frame },
    /// The connection is gone: out of every room, and its outbox dropped.
    Detach { conn: ConnId },
    /// A request of the server API (the operator's backend, not a client): the one command
    /// answered through a reply channel, which the hub fills without waiting for anyone.
    Api {
        request: ApiRequest,
        reply: oneshot::Sender<ApiAnswer>,
    },
}
