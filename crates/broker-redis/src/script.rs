//! The one server-side step per hub batch ([`append.lua`](append.lua)), for every room of the
//! batch on a single Redis, per room on a cluster: the resend rule, the seq, the stream
//! (capped and aged), the publish, atomically. Called by its SHA;
//! redis-rs loads it again when a Redis (restarted, or another shard) does not know it.

use std::sync::{Arc, LazyLock};

use chat_ws::{
    log::{Draft, Event, EventKind, Files, Refusal},
    protocol::{ErrorCode, RoomName},
};
use redis::{Script, ScriptInvocation, Value};

use crate::{
    codec::{self, integer},
    keys::Keys,
};

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));

static READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("read.lua")));

/// Most drafts in one script call: keeps each call short, so other rooms on the same Redis
/// wait for no long script.
pub(crate) const MAX_PER_CALL: usize = 256;

/// What the script did with one draft.
#[derive(Debug)]
pub(crate) enum Appended {
    /// Stored at this seq and time.
    Stored(Arc<Event>),
    /// A resend of this stored event.
    Resent(Arc<Event>),
    /// A change that changes nothing: its target as it stands.
    Unchanged(Arc<Event>),
    /// A change its rules refuse.
    Refused(Refusal),
}

/// How every call is made (the same for every room).
#[derive(Debug, Clone)]
pub(crate) struct AppendSettings {
    pub(crate) max_per_room: usize,
    pub(crate) max_age_ms: u64,
    /// `PUBLISH`, or `SPUBLISH` on a cluster.
    pub(crate) publish: &'static str,
    /// On a cluster a call's keys must share a slot: one room per call.
    pub(crate) one_room_per_call: bool,
}

/// The script call for each room's drafts, the rooms in this order.
pub(crate) fn invocation<'a, 'r>(
    keys: &Keys,
    rooms: impl IntoIterator<Item = (&'r RoomName, &'r [Draft])>,
    settings: &AppendSettings,
) -> ScriptInvocation<'a> {
    let mut call = APPEND.prepare_invoke();
    call.arg(settings.max_per_room)
        .arg(settings.max_age_ms)
        .arg(settings.publish);
    for (room, drafts) in rooms {
        call.key(keys.seq(room))
            .key(keys.log(room))
            .key(keys.ids(room))
            .key(keys.state(room))
            .key(keys.changed(room))
            .arg(keys.channel(room))
            .arg(drafts.len());
        for draft in drafts {
            let kind = match draft.kind {
                EventKind::Message(_) => "",
                ref change => change.name(),
            };
            call.arg(draft.client_id.as_deref().unwrap_or(""))
                .arg(kind)
                .arg(codec::encode(draft));
        }
    }
    call
}

/// A refusal from the code the script names.
fn refusal(code: &[u8]) -> Option<Refusal> {
    Refusal::from_code(match code {
        b"not_found" => ErrorCode::NotFound,
        b"forbidden" => ErrorCode::Forbidden,
        b"bad_request" => ErrorCode::BadRequest,
        _ => return None,
    })
}

/// The call of [`read.lua`](read.lua): `XRANGE` or `XREVRANGE` of the room's stream from
/// `start` to `end`, at most `count` entries, each event as it stands.
pub(crate) fn read<'a>(
    keys: &Keys,
    room: &RoomName,
    (command, start, end): (&str, String, String),
    count: usize,
) -> ScriptInvocation<'a> {
    let mut call = READ.prepare_invoke();
    call.key(keys.log(room))
        .key(keys.state(room))
        .arg(command)
        .arg(start)
        .arg(end)
        .arg(count);
    call
}

/// The script's answers, every room's in the call's order, and the call's time (that of every
/// event it stored), if it has that shape (the time, then one answer per draft).
pub(crate) fn answers(reply: Value, drafts: usize) -> Option<(u64, Vec<Value>)> {
    match reply {
        Value::Array(mut items) if items.len() == drafts + 1 => {
            let ts = integer(&items[0])?;
            items.remove(0);
            Some((ts, items))
        }
        _ => None,
    }
}

/// The script's answer for each of one room's drafts, in order (`items`: that room's part of
/// [`answers`], `ts` the call's time); `None` if it does not have that shape.
pub(crate) fn outcomes(
    room: &RoomName,
    drafts: Vec<Draft>,
    (ts, items): (u64, &[Value]),
) -> Option<Vec<Appended>> {
    if items.len() != drafts.len() {
        return None;
    }
    drafts
        .into_iter()
        .zip(items)
        .map(|(draft, item)| {
            let fields = match item {
                // A plain message stored: its seq alone.
                Value::Int(_) => {
                    return Some(Appended::Stored(Arc::new(
                        draft.sequence(integer(item)?, ts),
                    )));
                }
                Value::Array(fields) => fields,
                _ => return None,
            };
            let kind = integer(fields.first()?)?;
            let seq = integer(fields.get(1)?)?;
            let ts = integer(fields.get(2)?)?;
            let fourth = || codec::bytes(fields.get(3)?);
            Some(match kind {
                1 => Appended::Stored(Arc::new(released(draft, fields.get(3)).sequence(seq, ts))),
                0 => Appended::Resent(codec::decode(room, seq, ts, fourth()?)?),
                3 => Appended::Unchanged(codec::decode(room, seq, ts, fourth()?)?),
                _ => Appended::Refused(refusal(fourth()?)?),
            })
        })
        .collect()
}

/// A stored delete's draft with the files the script says its message had.
fn released(mut draft: Draft, files: Option<&Value>) -> Draft {
    if let (EventKind::Delete { released, .. }, Some(files)) = (&mut draft.kind, files) {
        *released = codec::bytes(files)
            .and_then(|json| String::from_utf8(json.to_vec()).ok())
            .and_then(|json| Files::parse(json).ok());
    }
    draft
}

#[cfg(test)]
mod tests {
    use chat_ws::protocol::User;

    use super::*;

    fn draft(room: &RoomName, text: &str, id: &str) -> Draft {
        Draft::message(
            room.clone(),
            User::new("u_1", "alice"),
            text.into(),
            Some(id.into()),
        )
    }

    fn seq(appended: &Appended) -> (&'static str, u64) {
        match appended {
            Appended::Stored(event) => ("stored", event.seq),
            Appended::Resent(event) => ("resent", event.seq),
            Appended::Unchanged(event) => ("unchanged", event.seq),
            Appended::Refused(_) => ("refused", 0),
        }
    }

    /// One call for two rooms against the shared Redis: each room gets its own seqs, and a
    /// draft resending an id stored earlier in the same call gets that event back.
    #[tokio::test]
    async fn one_call_keeps_each_room_s_seqs_and_resends_within_it() {
        let prefix = format!("test-script-{}", std::process::id());
        let keys = Keys::new(&prefix);
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("the shared Redis on 127.0.0.1:6379");
        let settings = AppendSettings {
            max_per_room: 100,
            max_age_ms: 0,
            publish: "PUBLISH",
            one_room_per_call: false,
        };
        let (a, b) = (
            RoomName::parse("a").expect("room"),
            RoomName::parse("b").expect("room"),
        );
        let in_a = vec![
            draft(&a, "one", "x"),
            draft(&a, "two", "y"),
            draft(&a, "one", "x"),
        ];
        let in_b = vec![draft(&b, "b one", "x"), draft(&b, "b two", "z")];
        let rooms = [(&a, in_a.as_slice()), (&b, in_b.as_slice())];
        let reply: Value = invocation(&keys, rooms, &settings)
            .invoke_async(&mut conn)
            .await
            .expect("the call");
        let (ts, items) = answers(reply, 5).expect("one answer per draft");
        let got_a = outcomes(&a, in_a.clone(), (ts, &items[..3])).expect("room a's answers");
        let got_b = outcomes(&b, in_b.clone(), (ts, &items[3..])).expect("room b's answers");
        let got_a: Vec<_> = got_a.iter().map(seq).collect();
        let got_b: Vec<_> = got_b.iter().map(seq).collect();
        assert_eq!(got_a, [("stored", 1), ("stored", 2), ("resent", 1)]);
        assert_eq!(got_b, [("stored", 1), ("stored", 2)], "an id is per room");

        // The next call resends from the ids the first one stored, and goes on from each
        // room's seq.
        let again = vec![draft(&a, "two", "y"), draft(&a, "three", "w")];
        let reply: Value = invocation(&keys, [(&a, again.as_slice())], &settings)
            .invoke_async(&mut conn)
            .await
            .expect("the call");
        let (ts, items) = answers(reply, 2).expect("one answer per draft");
        let got: Vec<_> = outcomes(&a, again, (ts, &items)).expect("answers");
        let got: Vec<_> = got.iter().map(seq).collect();
        assert_eq!(got, [("resent", 2), ("stored", 3)]);

        let mut keys_made: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .expect("keys");
        keys_made.sort();
        let _: () = redis::cmd("DEL")
            .arg(&keys_made)
            .query_async(&mut conn)
            .await
            .expect("clean up");
    }
}
