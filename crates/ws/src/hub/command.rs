use std::sync::Arc;

use super::{ConnId, Peer};
use crate::protocol::RoomName;

/// A request to the hub. Answers go to the connection's outbound queue, never back through
/// a reply channel, so the hub never waits on a client.
#[derive(Debug)]
pub enum Command {
    /// Add the connection to the room (or confirm it) and answer `joined`.
    Join {
        peer: Arc<Peer>,
        room: RoomName,
        since: Option<u64>,
    },
    /// Remove the connection from the room; answer `left` when `reply` (a disconnect does not).
    Leave {
        conn: ConnId,
        room: RoomName,
        reply: bool,
    },
    /// Store a message and deliver it to every member.
    Send {
        conn: ConnId,
        room: RoomName,
        text: Arc<str>,
        client_id: Option<Arc<str>>,
    },
    /// Tell the other members that the user started or stopped typing.
    Typing {
        conn: ConnId,
        room: RoomName,
        active: bool,
    },
    /// Answer one page of older messages.
    History {
        conn: ConnId,
        room: RoomName,
        before: Option<u64>,
        limit: usize,
    },
}

impl Command {
    /// The room the command is about: the key for spreading rooms over hub tasks.
    pub fn room(&self) -> &RoomName {
        match self {
            Self::Join { room, .. }
            | Self::Leave { room, .. }
            | Self::Send { room, .. }
            | Self::Typing { room, .. }
            | Self::History { room, .. } => room,
        }
    }
}
