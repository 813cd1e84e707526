//! What a signed-in connection may do: which rooms it may join (the token's `rooms` claim)
//! and until when it may stay (the token's `exp`). A local variable of the connection's
//! reader, like its rate buckets: the hub never sees it.

use tokio::time::Instant;

use crate::protocol::RoomName;

/// The limits of one connection's sign-in; [`Access::open`] without auth. Boxed, so that a
/// connection without sign-in carries one pointer for it.
#[derive(Debug, Clone, Default)]
pub struct Access(Option<Box<Limits>>);

#[derive(Debug, Clone)]
struct Limits {
    /// Names and prefixes (a pattern ending in `*`) of the rooms it may join; `None`: every
    /// room.
    rooms: Option<Box<[Box<str>]>>,
    /// When its token expires: the connection is closed with 4001 then.
    expires: Option<Instant>,
}

impl Access {
    /// Every room, for as long as the connection lasts.
    pub fn open() -> Self {
        Self::default()
    }

    /// Only the rooms `rooms` names (when given), until `expires` (when given).
    pub fn new(rooms: Option<Vec<String>>, expires: Option<Instant>) -> Self {
        if rooms.is_none() && expires.is_none() {
            return Self::open();
        }
        Self(Some(Box::new(Limits {
            rooms: rooms.map(|rooms| rooms.into_iter().map(String::into_boxed_str).collect()),
            expires,
        })))
    }

    /// Whether the connection may join `room`.
    pub fn may_join(&self, room: &RoomName) -> bool {
        let Some(patterns) = self.0.as_ref().and_then(|limits| limits.rooms.as_ref()) else {
            return true;
        };
        let room = room.as_str();
        patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => room.starts_with(prefix),
                None => room == &**pattern,
            })
    }

    /// When the connection must close with 4001.
    pub fn expires(&self) -> Option<Instant> {
        self.0.as_ref().and_then(|limits| limits.expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("a valid room name")
    }

    #[test]
    fn names_and_prefixes_grant_rooms() {
        let access = Access::new(Some(vec!["general".into(), "dm.alice.*".into()]), None);
        assert!(access.may_join(&room("general")));
        assert!(access.may_join(&room("dm.alice.bob")));
        assert!(!access.may_join(&room("general2")));
        assert!(!access.may_join(&room("dm.bob.alice")));
        assert!(Access::open().may_join(&room("anything")));
        assert!(!Access::new(Some(Vec::new()), None).may_join(&room("general")));
        assert!(Access::new(Some(vec!["*".into()]), None).may_join(&room("x")));
    }
}
