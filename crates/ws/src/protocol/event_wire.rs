//! How a stored event looks on the wire: a `message` frame, or an element of the arrays in
//! `joined.history` and `history.messages` (the same object both ways).

use std::sync::Arc;

use serde::{Serialize, Serializer, ser::SerializeSeq};

use super::{Frame, RoomName, User};
use crate::log::{Event, EventKind};

/// The `message` object of one event.
#[derive(Serialize)]
#[serde(tag = "type", rename = "message")]
struct MessageWire<'a> {
    room: &'a RoomName,
    seq: u64,
    from: &'a User,
    text: &'a str,
    ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

impl<'a> MessageWire<'a> {
    fn of(event: &'a Event) -> Self {
        let EventKind::Message { text } = &event.kind;
        Self {
            room: &event.room,
            seq: event.seq,
            from: &event.from,
            text,
            ts: event.ts,
            client_id: event.client_id.as_deref(),
        }
    }
}

/// Events as a JSON array of their wire objects, oldest first.
pub struct EventsWire<'a>(pub &'a [Arc<Event>]);

impl Serialize for EventsWire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for event in self.0 {
            seq.serialize_element(&MessageWire::of(event))?;
        }
        seq.end()
    }
}

impl std::fmt::Debug for EventsWire<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventsWire({} events)", self.0.len())
    }
}

impl Event {
    /// The `message` frame for this event.
    pub fn encode(&self) -> Frame {
        // The JSON's fixed part (keys, numbers) takes at most ~120 bytes.
        let strings = self.room.as_str().len()
            + self.from.id.len()
            + self.from.name.len()
            + self.text().map_or(0, |text| text.len())
            + self.client_id.as_deref().map_or(0, str::len);
        Frame::json(&MessageWire::of(self), strings + 128)
    }
}
