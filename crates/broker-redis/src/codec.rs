//! How an event is kept in Redis and published: its seq and time apart (the script gives
//! them), the rest as one small JSON object (`d`) encoded by the node that sent it. A
//! stream entry is `<seq>-0 t <ts> d <json>`; a published batch is one line per event,
//! `<seq>:<ts>:<json>\n`, so one PUBLISH carries what one script call stored.

use std::sync::Arc;

use chat_ws::{
    log::{Changed, Draft, Event, EventKind, Files, Message, Reaction},
    protocol::{PresenceEvent, RoomName, User},
};
use redis::Value;
use serde::{Deserialize, Serialize};

/// The part of an event its sender decides, as stored and published; a plain message's
/// state fields are written by `append.lua` as its changes are stored.
#[derive(Serialize)]
struct Body<'a> {
    /// Author's id.
    u: &'a str,
    /// Author's display name.
    n: &'a str,
    /// The sender's own id, for its echo and the resend rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<&'a str>,
    /// The text (a message's, an edit's).
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<&'a str>,
    /// A change's kind (`edit`, `delete`, `react`); none for a plain message.
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<&'a str>,
    /// A change's target seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<u64>,
    /// A message's files: their JSON array as a string, so the script passes it untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    /// A react's emoji.
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<&'a str>,
    /// A react's `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<bool>,
}

/// Owned form of [`Body`] for decoding (JSON strings may carry escapes), with the state the
/// script keeps on a plain message: `e` the ts of its last edit, `z` deleted, `r` its
/// reactions. (`es`, the seqs of its edits, is the script's own and not read here.)
#[derive(Deserialize)]
struct OwnedBody {
    u: String,
    n: String,
    c: Option<String>,
    x: Option<String>,
    k: Option<String>,
    g: Option<u64>,
    f: Option<String>,
    m: Option<String>,
    a: Option<bool>,
    e: Option<u64>,
    #[serde(default)]
    z: bool,
    #[serde(default)]
    r: Vec<Reaction>,
}

/// A draft's `d`.
pub(crate) fn encode(draft: &Draft) -> String {
    let mut body = Body {
        u: &draft.from.id,
        n: &draft.from.name,
        c: draft.client_id.as_deref(),
        x: None,
        k: None,
        g: draft.kind.target(),
        f: None,
        m: None,
        a: None,
    };
    match &draft.kind {
        EventKind::Message(message) => {
            body.x = Some(&message.text);
            body.f = message.files.as_ref().map(Files::json);
        }
        EventKind::Edit { text, .. } => {
            body.k = Some(draft.kind.name());
            body.x = text.as_deref();
        }
        EventKind::Delete { .. } => body.k = Some(draft.kind.name()),
        EventKind::React { emoji, active, .. } => {
            body.k = Some(draft.kind.name());
            body.m = Some(emoji);
            body.a = Some(*active);
        }
    }
    // Strings always encode.
    serde_json::to_string(&body).unwrap_or_default()
}

/// The event a `d` describes, at `seq` and `ts` of `room`.
pub(crate) fn decode(room: &RoomName, seq: u64, ts: u64, d: &[u8]) -> Option<Arc<Event>> {
    let body: OwnedBody = serde_json::from_slice(d).ok()?;
    let kind = match body.k.as_deref() {
        None => EventKind::Message(Message::with(
            body.x.map(Arc::from).unwrap_or_default(),
            body.f.and_then(|f| Files::parse(f).ok()),
            Changed {
                edited: body.e,
                deleted: body.z,
                reactions: body.r,
            },
        )),
        Some("edit") => EventKind::Edit {
            target: body.g?,
            text: body.x.map(Arc::from),
        },
        Some("delete") => EventKind::Delete {
            target: body.g?,
            // Only the storing node learns them, from the script's answer.
            released: None,
        },
        Some("react") => EventKind::React {
            target: body.g?,
            emoji: Arc::from(body.m?),
            active: body.a?,
        },
        Some(_) => return None,
    };
    Some(Arc::new(Event {
        room: room.clone(),
        seq,
        ts,
        from: User::new(body.u, body.n),
        client_id: body.c.map(Arc::from),
        kind,
    }))
}

/// One line of what a room's channel carries.
#[derive(Debug)]
pub(crate) enum Published {
    /// A stored event: `<seq>:<ts>:<d>`.
    Event(Arc<Event>),
    /// A user arrived in the room or left it (its first connection on any node, its last),
    /// published by `node`'s call: `p:<node>:j|l:<user JSON>`.
    Presence {
        node: String,
        user: User,
        event: PresenceEvent,
    },
    /// A member on `node` is typing or stopped: `t:<node>:1|0:<user JSON>`.
    Typing {
        node: String,
        user: User,
        active: bool,
    },
}

/// What one publish carried, in order; a line that does not parse is skipped (a seq jump it
/// leaves is filled from the stream).
pub(crate) fn decode_published(room: &RoomName, payload: &[u8]) -> Vec<Published> {
    payload
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let mut parts = line.splitn(4, |&b| b == b':');
            let first = parts.next()?;
            if first == b"p" || first == b"t" {
                let node = String::from_utf8(parts.next()?.to_vec()).ok()?;
                let flag = parts.next()?;
                let user = user(parts.next()?)?;
                return Some(match (first, flag) {
                    (b"p", b"j") => Published::Presence {
                        node,
                        user,
                        event: PresenceEvent::Join,
                    },
                    (b"p", b"l") => Published::Presence {
                        node,
                        user,
                        event: PresenceEvent::Leave,
                    },
                    (b"t", flag) => Published::Typing {
                        node,
                        user,
                        active: flag == b"1",
                    },
                    _ => return None,
                });
            }
            let mut parts = line.splitn(3, |&b| b == b':');
            let seq = number(parts.next()?)?;
            let ts = number(parts.next()?)?;
            decode(room, seq, ts, parts.next()?).map(Published::Event)
        })
        .collect()
}

/// A user from its JSON (`{"id":…,"name":…}`).
pub(crate) fn user(json: &[u8]) -> Option<User> {
    #[derive(Deserialize)]
    struct Fields {
        id: String,
        name: String,
    }
    let fields: Fields = serde_json::from_slice(json).ok()?;
    Some(User::new(fields.id, fields.name))
}

/// The events of an `XRANGE`/`XREVRANGE` answer, in its order.
pub(crate) fn decode_entries(room: &RoomName, reply: &Value) -> Vec<Arc<Event>> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| decode_entry(room, entry))
        .collect()
}

fn decode_entry(room: &RoomName, entry: &Value) -> Option<Arc<Event>> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [id, fields] = parts.as_slice() else {
        return None;
    };
    let seq = number(bytes(id)?.split(|&b| b == b'-').next()?)?;
    let pairs: Vec<(&Value, &Value)> = match fields {
        Value::Array(flat) => flat.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        _ => return None,
    };
    let field = |name: &[u8]| {
        pairs
            .iter()
            .find(|(k, _)| bytes(k) == Some(name))
            .and_then(|(_, v)| bytes(v))
    };
    let ts = number(field(b"t")?)?;
    decode(room, seq, ts, field(b"d")?)
}

/// A string-ish reply's bytes.
pub(crate) fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        _ => None,
    }
}

/// A reply that is a whole number, as an integer or its digits.
pub(crate) fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => number(bytes(other)?),
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomName {
        RoomName::parse("r").expect("room")
    }

    #[test]
    fn a_draft_comes_back_as_the_event_it_became() {
        let draft = Draft::message(
            room(),
            User::new("u_1", "a:b\n\"c\""),
            "line one\nline: two".into(),
            Some("id:1".into()),
        );
        let d = encode(&draft);
        assert!(!d.contains('\n'), "one line per event when published");
        let payload = format!("7:1000:{d}\n8:1001:{d}\n");
        let user = User::new("u_2", "b");
        let payload = format!("{payload}p:n1:j:{}\nt:n1:1:{}\n", user.json(), user.json());
        let lines = decode_published(&room(), payload.as_bytes());
        let expected = draft.clone().sequence(7, 1000);
        assert_eq!(lines.len(), 4);
        assert!(matches!(&lines[0], Published::Event(e) if **e == expected));
        assert!(matches!(&lines[1], Published::Event(e) if e.seq == 8));
        assert!(
            matches!(&lines[2], Published::Presence { node, user: u, event: PresenceEvent::Join } if node == "n1" && *u == user)
        );
        assert!(matches!(&lines[3], Published::Typing { active: true, .. }));
    }

    #[test]
    fn stream_entries_decode_in_either_shape() {
        let draft = Draft::message(room(), User::new("u_1", "a"), "hi".into(), None);
        let d = encode(&draft);
        let flat = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"3-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"t".to_vec()),
                Value::BulkString(b"55".to_vec()),
                Value::BulkString(b"d".to_vec()),
                Value::BulkString(d.clone().into_bytes()),
            ]),
        ])]);
        let events = decode_entries(&room(), &flat);
        assert_eq!(*events[0], draft.sequence(3, 55));
        assert!(decode_entries(&room(), &Value::Nil).is_empty());
    }

    #[test]
    fn changes_and_a_message_state_as_the_script_writes_it_decode() {
        let edit = Draft::new(
            room(),
            User::new("u_1", "a"),
            Some("e1".into()),
            EventKind::Edit {
                target: 3,
                text: Some("new".into()),
            },
        );
        let react = Draft::new(
            room(),
            User::new("u_2", "b"),
            None,
            EventKind::React {
                target: 3,
                emoji: "👍".into(),
                active: false,
            },
        );
        for draft in [edit, react] {
            let d = encode(&draft);
            assert_eq!(
                *decode(&room(), 9, 5, d.as_bytes()).expect("decodes"),
                draft.sequence(9, 5)
            );
        }
        // cjson's own way: keys in any order, "/" escaped, the script's `es` beside.
        let d = r#"{"r":[{"users":["u_2","u_3"],"emoji":"\/o\/"}],"e":1763800000123,"es":[7],"x":"edited","n":"a","u":"u_1"}"#;
        let event = decode(&room(), 3, 5, d.as_bytes()).expect("decodes");
        let message = event.message().expect("a message");
        assert_eq!(
            (&*message.text, message.edited()),
            ("edited", Some(1_763_800_000_123))
        );
        assert_eq!(&*message.reactions()[0].emoji, "/o/");
        assert_eq!(message.reactions()[0].users.len(), 2);
        let deleted = decode(&room(), 3, 5, br#"{"u":"u_1","n":"a","z":true}"#).expect("decodes");
        assert!(deleted.message().is_some_and(|m| m.is_deleted()) && deleted.text().is_none());
    }
}
