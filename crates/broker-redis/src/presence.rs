//! Presence across nodes: each room's members per node in Redis (`presence.lua`), a user once
//! however many nodes it is on; the script call for a batch of changes (joins, leaves, typing,
//! a dead node's sweep) and reading the members hash. Typing travels the same way and is
//! never stored. Heartbeats and who sweeps are in `worker/nodes.rs`.

use std::sync::LazyLock;

use chat_ws::protocol::{PresenceEvent, RoomName, User, UserId};
use foldhash::HashMap;
use redis::{Script, ScriptInvocation, Value};

use crate::{codec, keys::Keys};

static PRESENCE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("presence.lua")));

/// One change to a room's presence, as the script takes it.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// A user's first connection on this node joined, or its last left.
    Member(User, PresenceEvent),
    /// A member here is typing (or stopped).
    Typing(User, bool),
    /// A dead node's members leave.
    Sweep(String),
    /// The joins that follow are all of this node's members of the room: any other leaves.
    Reset,
}

/// The script call for `changes`, all of `room`.
pub(crate) fn invocation<'a>(
    keys: &Keys,
    room: &RoomName,
    node: &str,
    publish: &str,
    changes: &[Change],
) -> ScriptInvocation<'a> {
    let mut call = PRESENCE.prepare_invoke();
    call.key(keys.members(room))
        .key(keys.users(room))
        .arg(keys.channel(room))
        .arg(publish)
        .arg(node);
    for change in changes {
        match change {
            Change::Member(user, event) => {
                let op = match event {
                    PresenceEvent::Join => "j",
                    PresenceEvent::Leave => "l",
                };
                call.arg(op).arg(&*user.id).arg(user.json());
            }
            Change::Typing(user, active) => {
                call.arg(if *active { "T" } else { "t" })
                    .arg(&*user.id)
                    .arg(user.json());
            }
            Change::Sweep(dead) => {
                call.arg("x").arg(dead.as_str()).arg("");
            }
            Change::Reset => {
                call.arg("r").arg("").arg("");
            }
        }
    }
    call
}

/// The room's members on nodes other than `node`, from `HGETALL` of its members hash.
pub(crate) fn others(reply: &Value, node: &str) -> Vec<User> {
    let own = format!("{node}|");
    entries(reply)
        .filter(|(field, _)| !field.starts_with(own.as_bytes()))
        .map(|(_, user)| user)
        .collect()
}

/// Every user in the room on any node, once each, from `HGETALL` of its members hash.
pub(crate) fn everyone(reply: &Value) -> HashMap<UserId, User> {
    entries(reply)
        .map(|(_, user)| (user.id.clone(), user))
        .collect()
}

/// The members hash's fields (`<node>|<user id>`) and users.
fn entries(reply: &Value) -> impl Iterator<Item = (&[u8], User)> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(flat) => flat.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(field, json)| Some((codec::bytes(field)?, codec::user(codec::bytes(json)?)?)))
}
