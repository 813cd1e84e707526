//! Builders shared by the store's test files.

use chat_ws::{
    history::Retention,
    log::Draft,
    protocol::{RoomName, User},
};

/// Retention by count only.
pub(crate) fn keep(max_per_room: usize) -> Retention {
    Retention {
        max_per_room,
        max_age: None,
    }
}

pub(crate) fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("valid room")
}

/// A message from alice, with the client id `id` when given.
pub(crate) fn draft(room_name: &str, text: &str, id: Option<&str>) -> Draft {
    Draft::message(
        room(room_name),
        User::new("u_1", "alice"),
        text.into(),
        id.map(Into::into),
    )
}
