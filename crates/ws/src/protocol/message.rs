use std::sync::Arc;

use serde::Serialize;

use super::{RoomName, User};

/// A chat message before the history gave it a place: what the sender asked to say.
#[derive(Debug, Clone)]
pub struct MessageDraft {
    pub room: RoomName,
    pub from: User,
    pub text: Arc<str>,
    /// The sender's own id for this message, used to match its echo and to spot resends.
    pub client_id: Option<Arc<str>>,
}

impl MessageDraft {
    /// Gives the draft its seq and server time, making it a stored message.
    pub fn sequence(self, seq: u64, ts: u64) -> ChatMessage {
        ChatMessage {
            room: self.room,
            seq,
            from: self.from,
            text: self.text,
            ts,
            client_id: self.client_id,
        }
    }
}

/// A sequenced chat message, as stored in a room's history and sent as a `message` frame.
///
/// It serializes to exactly the wire form, `"type":"message"` included, so history arrays hold
/// the same objects live delivery does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename = "message")]
pub struct ChatMessage {
    pub room: RoomName,
    /// Position in the room: 1, 2, 3… with no gaps and no reuse.
    pub seq: u64,
    pub from: User,
    pub text: Arc<str>,
    /// Milliseconds since the Unix epoch when the message was sequenced.
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Arc<str>>,
}
