//! Where a room lives in Redis: its keys and its channel, all under the configured prefix and
//! hash-tagged by the room (`{room}`), so a Redis Cluster keeps a room's keys, its script
//! call and its sharded channel on one shard.

use chat_ws::protocol::RoomName;

/// The names of every room's keys and channel.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The room's latest seq (a counter; never expires, so no seq is ever reused).
    pub(crate) fn seq(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:seq", self.prefix)
    }

    /// The room's stream of events, entry id `<seq>-0`.
    pub(crate) fn log(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:log", self.prefix)
    }

    /// The room's recent client ids (a sorted set: member the id, score the seq), for the
    /// resend rule.
    pub(crate) fn ids(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:ids", self.prefix)
    }

    /// The state of the room's events that changes touched (a hash: seq to `<ts>:<d>`).
    pub(crate) fn state(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:state", self.prefix)
    }

    /// The seqs in [`Self::state`] (a sorted set, score the seq), so that what the stream's
    /// cap drops leaves the hash too.
    pub(crate) fn changed(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:changed", self.prefix)
    }

    /// Who is in the room on which node (a hash: `<node>|<user id>` to the user's JSON).
    pub(crate) fn members(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:members", self.prefix)
    }

    /// On how many nodes each user is in the room (a hash: user id to a count).
    pub(crate) fn users(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}:users", self.prefix)
    }

    /// Every live node's heartbeat deadline (a sorted set: node id, score the time in ms by
    /// which it must beat again).
    pub(crate) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// The rooms a node has had members in (a set), for the sweep after its death.
    pub(crate) fn node_rooms(&self, node: &str) -> String {
        format!("{}:node:{{{node}}}:rooms", self.prefix)
    }

    /// Who is sweeping a dead node (a string holding the sweeper's id, expiring after
    /// `node_ttl`, so that another node takes over a sweep whose sweeper died).
    pub(crate) fn node_sweep(&self, node: &str) -> String {
        format!("{}:node:{{{node}}}:sweep", self.prefix)
    }

    /// Set when a node's sweep starts: the node, if alive after all (a long pause), finds it
    /// at its next heartbeat and tells Redis its members again.
    pub(crate) fn node_swept(&self, node: &str) -> String {
        format!("{}:node:{{{node}}}:swept", self.prefix)
    }

    /// The room's channel: where its stored events are published.
    pub(crate) fn channel(&self, room: &RoomName) -> String {
        format!("{}:{{{room}}}", self.prefix)
    }

    /// The room a channel name belongs to; `None` for anyone else's channel.
    pub(crate) fn room_of(&self, channel: &[u8]) -> Option<RoomName> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let name = rest.strip_prefix(b":{")?.strip_suffix(b"}")?;
        RoomName::parse(std::str::from_utf8(name).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_room_and_nothing_else_does() {
        let keys = Keys::new("t:1");
        let room = RoomName::parse("general.2").expect("room");
        assert_eq!(keys.channel(&room), "t:1:{general.2}");
        assert_eq!(keys.log(&room), "t:1:{general.2}:log");
        assert_eq!(keys.room_of(keys.channel(&room).as_bytes()), Some(room));
        assert_eq!(keys.room_of(b"t:2:{general}"), None);
        assert_eq!(keys.room_of(b"t:1:{bad room}"), None);
        assert_eq!(keys.room_of(b"t:1:{general}:log"), None);
    }
}
