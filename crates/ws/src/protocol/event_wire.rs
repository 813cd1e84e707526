//! How a stored event looks on the wire: a `message` frame, or an element of the arrays in
//! `joined.history` and `history.messages` (the same object both ways).

use std::sync::Arc;

use serde::{Serialize, Serializer, ser::SerializeSeq};

use super::{Frame, RoomName, ServerFrame, User};
use crate::log::{Event, EventKind, Files, Reaction};

/// The `message` object of one event: a plain message with its current state, or a change
/// with its `kind` and `target`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "message")]
struct MessageWire<'a> {
    room: &'a RoomName,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<u64>,
    from: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a Files>,
    ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    emoji: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reactions: &'a [Reaction],
}

impl<'a> MessageWire<'a> {
    fn of(event: &'a Event) -> Self {
        let mut wire = Self {
            room: &event.room,
            seq: event.seq,
            kind: None,
            target: event.kind.target(),
            from: &event.from,
            text: event.text().map(|text| &**text),
            files: None,
            ts: event.ts,
            client_id: event.client_id.as_deref(),
            edited: None,
            deleted: false,
            emoji: None,
            active: None,
            reactions: &[],
        };
        match &event.kind {
            EventKind::Message(message) => {
                wire.files = message.files.as_ref().filter(|_| !message.is_deleted());
                wire.edited = message.edited();
                wire.deleted = message.is_deleted();
                wire.reactions = message.reactions();
            }
            EventKind::React { emoji, active, .. } => {
                wire.kind = Some(event.kind.name());
                wire.emoji = Some(emoji);
                wire.active = Some(*active);
            }
            EventKind::Edit { .. } | EventKind::Delete { .. } => {
                wire.kind = Some(event.kind.name());
            }
        }
        wire
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
            + self.client_id.as_deref().map_or(0, str::len)
            + state_len(self);
        Frame::json(&MessageWire::of(self), strings + 128)
    }
}

/// Most bytes of JSON in the events of one answer (`joined.history`, `history.messages`), so
/// that a client with the usual 1 MiB frame limit can always read it.
pub const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// Drops the oldest of `events` (oldest first) until their JSON takes at most `budget` bytes;
/// whether any was dropped.
pub fn keep_latest_within(events: &mut Vec<Arc<Event>>, budget: usize) -> bool {
    // Nearly always the bound without escaping proves the answer small: nothing to count.
    let most = events.iter().map(|e| longest_json(e)).sum::<usize>();
    if most <= budget {
        return false;
    }
    let mut total = 0;
    let mut keep_from = events.len();
    for (at, event) in events.iter().enumerate().rev() {
        total += json_len(event) + 1;
        if total > budget {
            break;
        }
        keep_from = at;
    }
    events.drain(..keep_from);
    keep_from > 0
}

/// The `history` answer with a page of `messages` (oldest first), the oldest dropped when they
/// take more than [`MAX_ANSWER_BYTES`] (then `has_more` holds).
pub fn history_frame(room: &RoomName, mut messages: Vec<Arc<Event>>, has_more: bool) -> Frame {
    let has_more = keep_latest_within(&mut messages, MAX_ANSWER_BYTES) || has_more;
    ServerFrame::History {
        room,
        messages: EventsWire(&messages),
        has_more,
    }
    .encode()
}

/// An upper bound of an event's JSON: every character of its strings escaped as `\uXXXX`.
fn longest_json(event: &Event) -> usize {
    let strings = event.room.as_str().len()
        + event.from.json().len()
        + event.text().map_or(0, |text| text.len())
        + event.client_id.as_deref().map_or(0, str::len)
        + state_len(event);
    6 * strings + 128
}

/// About the bytes of what a change or a message's state adds to its JSON: the emoji, the
/// reactions' users (with their quotes and commas) and the files.
fn state_len(event: &Event) -> usize {
    match &event.kind {
        EventKind::Message(message) => {
            message.files.as_ref().map_or(0, |files| files.json().len())
                + message
                    .reactions()
                    .iter()
                    .map(|r| {
                        24 + r.emoji.len() + r.users.iter().map(|u| u.len() + 3).sum::<usize>()
                    })
                    .sum::<usize>()
        }
        EventKind::React { emoji, .. } => 32 + emoji.len(),
        EventKind::Edit { .. } | EventKind::Delete { .. } => 32,
    }
}

/// The exact length of an event's JSON.
fn json_len(event: &Event) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and an event always serializes.
    let _ = serde_json::to_writer(&mut count, &MessageWire::of(event));
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Draft;

    fn event(seq: u64, text: &str) -> Arc<Event> {
        let room = RoomName::parse("r").expect("room");
        Arc::new(Draft::message(room, User::new("u_1", "a"), text.into(), None).sequence(seq, 1))
    }

    #[test]
    fn an_answer_over_its_budget_keeps_its_latest_events_counting_escapes() {
        // 100 control characters are 600 bytes once escaped.
        let mut events: Vec<_> = (1..=10)
            .map(|seq| event(seq, &"\u{1}".repeat(100)))
            .collect();
        let one = json_len(&events[0]);
        assert!(one > 600, "{one}");
        // Seq 10 takes one byte more than seq 1; each event one more for its comma.
        let budget = 3 * (one + 2);
        assert!(keep_latest_within(&mut events, budget));
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![8, 9, 10]);
        assert!(!keep_latest_within(&mut events, budget), "it fits now");
    }

    #[test]
    fn the_counted_length_is_the_encoded_length() {
        let e = event(7, "héllo \"x\" \u{7}");
        let frame = e.encode();
        assert_eq!(json_len(&e), frame.payload().len());
    }
}
