//! A room's log: the events stored in its sequence, each with its seq and server time, apart
//! from how they look on the wire (`protocol` encodes them).
//!
//! A plain message is one kind of event; a change to a message (edit, delete, react) is an
//! event of its own kind in the same sequence, so `since`, `history`, resends and durability
//! work for it unchanged. A stored plain message carries its current state (`message.rs`),
//! which the stores keep up to date as its changes are stored, by the rules of `change.rs`.

mod change;
mod message;

use std::sync::Arc;

use crate::protocol::{RoomName, User};

pub use change::{Change, MAX_EMOJI, Refusal, apply, erase_edit};
pub use message::{Changed, Files, Message, Reaction};

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
    /// A plain chat message, in its current state (its changes applied).
    Message(Message),
    /// The author replaced the text of message `target`. `text` is `None` once the target
    /// was deleted: an edit's text is erased with its message.
    Edit { target: u64, text: Option<Arc<str>> },
    /// The author deleted message `target`. `released` is the target's files as the store
    /// found them when it applied the delete, for file sharing to remove: set only on the
    /// event the store hands back when it sequences the delete, never stored or sent.
    Delete {
        target: u64,
        released: Option<Files>,
    },
    /// A user added (`active`) or took back a reaction to message `target`.
    React {
        target: u64,
        emoji: Arc<str>,
        active: bool,
    },
}

impl EventKind {
    /// The kind's name as stored and on the wire (`"message"`, `"edit"`, `"delete"`,
    /// `"react"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::React { .. } => "react",
        }
    }

    /// The message a change applies to; `None` for a plain message.
    pub fn target(&self) -> Option<u64> {
        match self {
            Self::Message(_) => None,
            Self::Edit { target, .. }
            | Self::Delete { target, .. }
            | Self::React { target, .. } => Some(*target),
        }
    }
}

impl Event {
    /// The text the event carries, if its kind has one (none once erased).
    pub fn text(&self) -> Option<&Arc<str>> {
        match &self.kind {
            EventKind::Message(message) => (!message.is_deleted()).then_some(&message.text),
            EventKind::Edit { text, .. } => text.as_ref(),
            EventKind::Delete { .. } | EventKind::React { .. } => None,
        }
    }

    /// The plain message's state; `None` for a change.
    pub fn message(&self) -> Option<&Message> {
        match &self.kind {
            EventKind::Message(message) => Some(message),
            _ => None,
        }
    }

    /// The files a stored delete released (its message's), for file sharing to remove.
    pub fn released(&self) -> Option<&Files> {
        match &self.kind {
            EventKind::Delete { released, .. } => released.as_ref(),
            _ => None,
        }
    }

    /// The event as a store keeps it: a delete without the files it released, which are
    /// erased with their message.
    pub fn kept(self: &Arc<Self>) -> Arc<Self> {
        match &self.kind {
            EventKind::Delete {
                target,
                released: Some(_),
            } => Arc::new(self.with_kind(EventKind::Delete {
                target: *target,
                released: None,
            })),
            _ => Arc::clone(self),
        }
    }

    /// The same event with another kind (a message's new state, an edit's erased text).
    pub fn with_kind(&self, kind: EventKind) -> Self {
        Self {
            room: self.room.clone(),
            seq: self.seq,
            ts: self.ts,
            from: self.from.clone(),
            client_id: self.client_id.clone(),
            kind,
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
        Self::new(
            room,
            from,
            client_id,
            EventKind::Message(Message::new(text)),
        )
    }

    /// A draft of any kind.
    pub fn new(room: RoomName, from: User, client_id: Option<Arc<str>>, kind: EventKind) -> Self {
        Self {
            room,
            from,
            client_id,
            kind,
        }
    }

    /// A plain message's draft with its files (the `send`'s `files`, resolved); any other
    /// kind is returned as it is.
    pub fn with_files(mut self, files: Files) -> Self {
        if let EventKind::Message(message) = &mut self.kind {
            message.files = Some(files);
        }
        self
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
