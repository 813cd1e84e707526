use std::{io::Write as _, sync::Arc};

use serde::Serialize;

use super::{ErrorCode, Frame, RoomName, User, event_wire::EventsWire};
use crate::log::Event;

/// The limits announced in `welcome`, so clients can check before they send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub max_text_bytes: usize,
    pub messages_per_sec: u32,
    pub burst: u32,
    pub max_rooms: usize,
}

/// Whether a `presence` event announces an arrival or a departure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    Join,
    Leave,
}

/// Every frame the server sends, borrowing its parts so encoding copies nothing first.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Welcome {
        user: &'a User,
        server: &'a str,
        limits: &'a Limits,
        #[serde(skip_serializing_if = "Option::is_none")]
        upload: Option<&'a crate::files::Upload>,
    },
    Left {
        room: &'a RoomName,
    },
    Presence {
        room: &'a RoomName,
        event: PresenceEvent,
        user: &'a User,
    },
    Typing {
        room: &'a RoomName,
        user: &'a User,
        active: bool,
    },
    History {
        room: &'a RoomName,
        messages: EventsWire<'a>,
        has_more: bool,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
    },
}

impl ServerFrame<'_> {
    /// Encodes the frame once; the result is shared by every recipient.
    pub fn encode(&self) -> Frame {
        // As much as serde_json starts with: most of these frames are short.
        Frame::json(self, 128)
    }
}

/// The `joined` answer, written around a member list the room keeps encoded: serde cannot
/// copy a ready-made piece of JSON without parsing it again, and listing thousands of members
/// one by one on every join was most of what a big room's joins cost.
#[derive(Debug)]
pub struct Joined<'a> {
    pub room: &'a RoomName,
    pub seq: u64,
    /// The members' JSON objects, comma-separated (see [`User::json`]).
    pub members: &'a str,
    pub history: &'a [Arc<Event>],
    pub complete: bool,
}

impl Joined<'_> {
    pub fn encode(&self) -> Frame {
        let mut json = Vec::with_capacity(128 + self.members.len() + 192 * self.history.len());
        json.extend_from_slice(br#"{"type":"joined","room":"#);
        // Writing to a Vec cannot fail, and these types always serialize.
        let _ = serde_json::to_writer(&mut json, self.room);
        let _ = write!(json, r#","seq":{},"members":["#, self.seq);
        json.extend_from_slice(self.members.as_bytes());
        json.extend_from_slice(br#"],"history":"#);
        let _ = serde_json::to_writer(&mut json, &EventsWire(self.history));
        let _ = write!(json, r#","complete":{}}}"#, self.complete);
        Frame::from_json(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Draft;

    fn room() -> RoomName {
        RoomName::parse("general").expect("valid room")
    }

    #[test]
    fn message_frame_has_the_contract_shape() {
        let msg = Draft::message(
            room(),
            User::new("u_7f3a", "alice"),
            "hello".into(),
            Some("c1".into()),
        )
        .sequence(58, 1_763_800_000_000);
        assert_eq!(
            msg.encode().as_str(),
            r#"{"type":"message","room":"general","seq":58,"from":{"id":"u_7f3a","name":"alice"},"text":"hello","ts":1763800000000,"client_id":"c1"}"#
        );
    }

    #[test]
    fn message_without_client_id_omits_the_field() {
        let msg = Draft::message(room(), User::new("u_1", "bob"), "hi".into(), None).sequence(1, 1);
        assert!(!msg.encode().as_str().contains("client_id"));
    }

    #[test]
    fn error_frame_names_ref_only_when_present() {
        let with = ServerFrame::Error {
            code: ErrorCode::NotJoined,
            message: "join the room first",
            reference: Some("c1"),
        };
        assert_eq!(
            with.encode().as_str(),
            r#"{"type":"error","code":"not_joined","message":"join the room first","ref":"c1"}"#
        );
        let without = ServerFrame::Error {
            code: ErrorCode::BadJson,
            message: "x",
            reference: None,
        };
        assert!(!without.encode().as_str().contains("ref"));
    }

    #[test]
    fn joined_frame_lists_members_and_history() {
        let alice = User::new("u_1", "alice");
        let bob = User::new("u_2", "bob \"b\"");
        let message =
            Arc::new(Draft::message(room(), alice.clone(), "hi".into(), None).sequence(1, 5));
        let members = format!("{},{}", alice.json(), bob.json());
        let frame = Joined {
            room: &room(),
            seq: 1,
            members: &members,
            history: &[message],
            complete: false,
        };
        assert_eq!(
            frame.encode().as_str(),
            r#"{"type":"joined","room":"general","seq":1,"members":[{"id":"u_1","name":"alice"},{"id":"u_2","name":"bob \"b\""}],"history":[{"type":"message","room":"general","seq":1,"from":{"id":"u_1","name":"alice"},"text":"hi","ts":5}],"complete":false}"#
        );
        let empty = Joined {
            room: &room(),
            seq: 0,
            members: alice.json(),
            history: &[],
            complete: true,
        };
        assert_eq!(
            empty.encode().as_str(),
            r#"{"type":"joined","room":"general","seq":0,"members":[{"id":"u_1","name":"alice"}],"history":[],"complete":true}"#
        );
    }
}
