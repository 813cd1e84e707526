//! A connection's sending side: its transport and the frames that wait for it.
//!
//! The hub owns every connection's [`Outbox`] (it is moved to the hub when the connection is
//! attached), so exactly one task ever writes to a connection and no lock orders the writes.
//! The connection's reader never writes: its own frames (errors, pings, pongs, closes) go to
//! the hub like its requests.
//!
//! Two transports:
//! - **TCP** ([`Outbox::tcp`]): the hub writes each batch's frames straight to the socket with
//!   one non-blocking `send`/`sendmsg` (uWebSockets calls this corking). What the socket does
//!   not take waits in the outbox's backlog until the socket is writable again, and the hub
//!   writes it then ([`Outbox::writable`], [`Outbox::resume`]).
//! - **Any stream** ([`Outbox::channel`]), such as TLS over TCP: frames go over a channel to
//!   the connection's own task, which owns the stream, reads from it and writes them
//!   ([`Outbound`]).
//!
//! Either way what waits is bounded in WebSocket frames and in bytes ([`QueueLimits`]): past
//! either bound the hub cuts the client off with 4008 instead of holding more. A close frame
//! goes out after what waits, and nothing after it.

mod channel;
mod outbox;
mod tcp;
#[cfg(test)]
mod tests;

pub use channel::Outbound;
pub use outbox::{Delivery, Outbox, QueueLimits, Writable};
pub(crate) use tcp::TcpReader;

/// A connection's number, unique within the process.
pub type ConnId = u64;

/// Close code for a client that cannot keep up with its outbound queue.
pub const SLOW_CONSUMER: u16 = 4008;
