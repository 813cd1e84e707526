//! What a message held in memory costs, for the byte budgets of both histories.

use std::{mem::size_of, sync::Arc};

use chat_ws::log::{Changed, Event, Message, Reaction};

/// Bytes a cached message holds: the event, its text and client id, and its slot in a room's
/// queue. The sender's id and name are shared with the connection, so an upper bound counts
/// them too; a budget in these units never undercounts.
pub(crate) fn message_bytes(message: &Event) -> usize {
    size_of::<Event>()
        + 2 * size_of::<usize>()
        + message.text().map_or(0, |text| text.len())
        + message.client_id.as_ref().map_or(0, |id| id.len())
        + message.from.id.len()
        + message.from.name.len()
        + message.message().map_or(0, state_bytes)
}

/// What a message's state holds besides its text: its files' JSON and its reactions.
fn state_bytes(message: &Message) -> usize {
    message.files.as_ref().map_or(0, |files| files.json().len())
        + message.changed.as_ref().map_or(0, |_| size_of::<Changed>())
        + message
            .reactions()
            .iter()
            .map(|r| {
                size_of::<Reaction>()
                    + r.emoji.len()
                    + r.users
                        .iter()
                        .map(|u| size_of::<Arc<str>>() + u.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// Bytes a room costs in memory apart from its messages: its name, its entry in the map and
/// its bookkeeping. Counted so that many rooms of one message each stay within the budget too.
pub(crate) fn room_bytes(name: &str) -> usize {
    256 + name.len()
}
