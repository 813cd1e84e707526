//! The one server-side step per room per hub batch ([`append.lua`](append.lua)): the resend
//! rule, the seq, the stream (capped and aged), the publish, atomically. Called by its SHA;
//! redis-rs loads it again when a Redis (restarted, or another shard) does not know it.

use std::sync::{Arc, LazyLock};

use chat_ws::{
    log::{Draft, Event},
    protocol::RoomName,
};
use redis::{Script, ScriptInvocation, Value};

use crate::{
    codec::{self, integer},
    keys::Keys,
};

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));

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
        .arg(keys.channel(room))
        .arg(settings.max_per_room)
        .arg(settings.max_age_ms)
        .arg(settings.publish);
    for draft in drafts {
        call.arg(draft.client_id.as_deref().unwrap_or(""))
            .arg(codec::encode(draft));
    }
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
            Some(if kind == 1 {
                Appended::Stored(Arc::new(draft.sequence(seq, ts)))
            } else {
                let d = codec::bytes(fields.get(3)?)?;
                Appended::Resent(codec::decode(room, seq, ts, d)?)
            })
        })
        .collect()
}
