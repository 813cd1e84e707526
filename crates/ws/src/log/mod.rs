//! A room's log: the events stored in its sequence, each with its seq and server time, apart
//! from how they look on the wire (`protocol` encodes them).
//!
//! Only plain messages exist today; a change to a message (edit, delete, react) will be an
//! event of its own kind in the same sequence, so `since`, `history`, resends and durability
//! work for it unchanged.

use std::sync::Arc;

use crate::protocol::{RoomName, User};

/// One stored event of a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub room: RoomName,
    /// Position in the room: 1, 2, 3… with no gaps and no reuse.
    pub seq: u64,
    /// Milliseconds since the Unix epoch when the event was sequenced.
    pub ts: u64,
    pub from: User,
    /// The sender's own id for this event, used to match its echo and to spot resends.
    pub client_id: Option<Arc<str>>,
    pub kind: EventKind,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A plain chat message.
    Message { text: Arc<str> },
}

impl EventKind {
    /// The kind's name as stored (`"message"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Message { .. } => "message",
        }
    }
}

impl Event {
    /// The text the event carries, if its kind has one.
    pub fn text(&self) -> Option<&Arc<str>> {
        match &self.kind {
            EventKind::Message { text } => Some(text),
        }
    }
}

/// An event before the log gave it a place: what the sender asked for.
#[derive(Debug, Clone)]
pub struct Draft {
    pub room: RoomName,
    pub from: User,
    pub client_id: Option<Arc<str>>,
    pub kind: EventKind,
}

impl Draft {
    /// A plain message.
    pub fn message(
        room: RoomName,
        from: User,
        text: Arc<str>,
        client_id: Option<Arc<str>>,
    ) -> Self {
        Self {
            room,
            from,
            client_id,
            kind: EventKind::Message { text },
        }
    }

    /// Gives the draft its seq and server time, making it a stored event.
    pub fn sequence(self, seq: u64, ts: u64) -> Event {
        Event {
            room: self.room,
            seq,
            ts,
            from: self.from,
            client_id: self.client_id,
            kind: self.kind,
        }
    }
}
