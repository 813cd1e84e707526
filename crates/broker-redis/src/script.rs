//! The one server-side step per room per hub batch ([`append.lua`](append.lua)): the resend
//! rule, the seq, the stream (capped and aged), the publish, atomically. Called by its SHA;
//! redis-rs loads it again when a Redis (restarted, or another shard) does not know it.

use std::sync::{Arc, LazyLock};

use chat_ws::{
    log::{Draft, Event, EventKind, Refusal},
    protocol::{ErrorCode, RoomName},
};
use redis::{Script, ScriptInvocation, Value};

use crate::{
    codec::{self, integer},
    keys::Keys,
};

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));

static READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("read.lua")));

/// Most drafts of one room in one script call: keeps each call short, so other rooms on the
/// same Redis wait for no long script.
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
}

/// The script call for `drafts`, all of `room`.
pub(crate) fn invocation<'a>(
    keys: &Keys,
    room: &RoomName,
    drafts: &[Draft],
    settings: &AppendSettings,
) -> ScriptInvocation<'a> {
    let mut call = APPEND.prepare_invoke();
    call.key(keys.seq(room))
        .key(keys.log(room))
        .key(keys.ids(room))
        .key(keys.state(room))
        .key(keys.changed(room))
        .arg(keys.channel(room))
        .arg(settings.max_per_room)
        .arg(settings.max_age_ms)
        .arg(settings.publish);
    for draft in drafts {
        let kind = match draft.kind {
            EventKind::Message(_) => "",
            ref change => change.name(),
        };
        call.arg(draft.client_id.as_deref().unwrap_or(""))
            .arg(kind)
            .arg(codec::encode(draft));
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

/// The script's answer for each draft, in order; `None` if it does not have that shape.
pub(crate) fn outcomes(
    room: &RoomName,
    drafts: Vec<Draft>,
    reply: &Value,
) -> Option<Vec<Appended>> {
    let Value::Array(items) = reply else {
        return None;
    };
    if items.len() != drafts.len() {
        return None;
    }
    drafts
        .into_iter()
        .zip(items)
        .map(|(draft, item)| {
            let Value::Array(fields) = item else {
                return None;
            };
            let kind = integer(fields.first()?)?;
            let seq = integer(fields.get(1)?)?;
            let ts = integer(fields.get(2)?)?;
            let fourth = || codec::bytes(fields.get(3)?);
            Some(match kind {
                1 => Appended::Stored(Arc::new(draft.sequence(seq, ts))),
                0 => Appended::Resent(codec::decode(room, seq, ts, fourth()?)?),
                3 => Appended::Unchanged(codec::decode(room, seq, ts, fourth()?)?),
                _ => Appended::Refused(refusal(fourth()?)?),
            })
        })
        .collect()
}
