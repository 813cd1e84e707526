//! Every room with members, and the frames on their way to them: broadcasts corked per room
//! and flushed in slices, answers to one member in their place, presence held per window.

use std::{sync::Arc, time::Instant};

use foldhash::{HashMap, HashMapExt};

use super::{
    connections::{Connections, Slot},
    flush::{FLUSH_SLICE, FlushQueue},
    member::Member,
    presence::{PresenceClock, presence_window},
    room::Room,
};
use crate::{
    conn::ConnId,
    log::Event,
    metrics::Metrics,
    protocol::{Frame, Joined, PresenceEvent, RoomName, ServerFrame, User},
};

pub(super) struct Rooms {
    rooms: HashMap<RoomName, Room>,
    flush: FlushQueue,
    presence: PresenceClock,
    /// Whether a user's first connection here and its last are announced here; not when the
    /// broker decides presence across nodes (its outcomes announce them).
    announce_own: bool,
    metrics: Metrics,
}

impl Rooms {
    pub(super) fn new(metrics: Metrics, announce_own: bool) -> Self {
        Self {
            rooms: HashMap::new(),
            flush: FlushQueue::default(),
            presence: PresenceClock::default(),
            announce_own,
            metrics,
        }
    }

    /// Whether the room has members here.
    pub(super) fn contains(&self, room: &RoomName) -> bool {
        self.rooms.contains_key(room)
    }

    /// Whether `conn` is a member of `room`.
    pub(super) fn has_member(&self, room: &RoomName, conn: ConnId) -> bool {
        self.rooms.get(room).is_some_and(|r| r.contains(conn))
    }

    /// Whether the room has members.
    pub(super) fn exists(&self, room: &RoomName) -> bool {
        self.rooms.contains_key(room)
    }

    /// The room's members' JSON objects, comma-separated (the server API).
    pub(super) fn member_list(&mut self, name: &RoomName, conns: &Connections) -> Option<String> {
        Some(self.rooms.get_mut(name)?.member_list(conns).to_owned())
    }

    /// Each room with members: its name, latest seq, and how many users are in it.
    pub(super) fn list(&self) -> impl Iterator<Item = (&RoomName, u64, usize)> {
        self.rooms
            .iter()
            .map(|(name, room)| (name, room.seq, room.users()))
    }

    /// Makes `conn` a member (it may be one already) and answers `joined`, listing the room's
    /// members here and `elsewhere` (on other nodes); announces the user when it is its first
    /// connection here (unless the broker decides presence), and returns whether it was.
    pub(super) fn join(
        &mut self,
        name: &RoomName,
        (conn, slot, user): (ConnId, Slot, &User),
        (seq, history, complete, elsewhere): (u64, &[Arc<Event>], bool, &[User]),
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> bool {
        let room = self.rooms.entry(name.clone()).or_insert_with(|| {
            self.metrics.rooms.increment(1.0);
            Room::new()
        });
        room.seq = room.seq.max(seq);
        let first_connection = room.add(conn, slot, user);
        let with_others;
        let members = match elsewhere {
            [] => room.member_list(conns),
            others => {
                with_others = room.member_list_with(others, conns);
                &with_others
            }
        };
        let joined = Joined {
            room: name,
            seq,
            members,
            history,
            complete,
        }
        .encode();
        self.answer(name, conn, joined, conns, failed);
        if first_connection && self.announce_own {
            self.announce(name, PresenceEvent::Join, user);
        }
        first_connection
    }

    /// Takes `conn` out of the room, announcing the user's departure when it was its last
    /// connection here (unless the broker decides presence). Returns the member with what the room had corked for it, whether
    /// the room, now empty, was forgotten, and whether that was the user's last connection.
    pub(super) fn leave(
        &mut self,
        name: &RoomName,
        conn: ConnId,
        user: &User,
    ) -> Option<(Member, bool, bool)> {
        let room = self.rooms.get_mut(name)?;
        let (member, last_connection) = room.remove(conn)?;
        if last_connection && self.announce_own {
            self.announce(name, PresenceEvent::Leave, user);
        }
        let empty = self.rooms.get(name).is_some_and(Room::is_empty);
        if empty {
            self.rooms.remove(name);
            self.metrics.rooms.decrement(1.0);
        }
        Some((member, empty, last_connection))
    }

    /// Delivers a stored event to every member of its room, encoded once.
    pub(super) fn publish(&mut self, event: &Event) {
        let Some(room) = self.rooms.get_mut(&event.room) else {
            return;
        };
        room.seq = room.seq.max(event.seq);
        let corked = room.broadcast(event.encode(), None);
        self.metrics.messages.increment(1);
        self.metrics.deliveries.increment(corked as u64);
        self.flush.corked(&event.room, corked);
    }

    /// Corks `frame` for every member of the room but the user's own connections.
    pub(super) fn broadcast_about(&mut self, name: &RoomName, frame: Frame, user: &User) {
        if let Some(room) = self.rooms.get_mut(name) {
            let corked = room.broadcast(frame, Some(&user.id));
            self.flush.corked(name, corked);
        }
    }

    /// Writes `frame`, an answer meant for one member alone, now: after what the room holds
    /// for that member, leaving the rest of the room for the end of the batch. False when the
    /// connection is not a member.
    pub(super) fn answer(
        &mut self,
        name: &RoomName,
        conn: ConnId,
        frame: Frame,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> bool {
        let Some(room) = self.rooms.get_mut(name) else {
            return false;
        };
        if !room.send_to(conn, frame) {
            return false;
        }
        let (frames, bytes) = room.flush_one(conn, conns, failed);
        self.metrics.frames_out.increment(frames as u64);
        self.metrics.bytes_out.increment(bytes as u64);
        true
    }

    /// Tells the room's other members that `user` arrived or left: with this batch after a
    /// quiet window, else held back until the window ends (or the room's next flush).
    pub(super) fn announce(&mut self, name: &RoomName, event: PresenceEvent, user: &User) {
        // Once the room has corked frames in this batch, presence joins them: a held frame
        // goes out before the corked ones, so it must be older than all of them.
        let corked_now = self.flush.contains(name);
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let frame = ServerFrame::Presence {
            room: name,
            event,
            user,
        }
        .encode();
        let now = Instant::now();
        let held_until = PresenceClock::held_until(room.presence_sent, room.len(), now);
        if corked_now || (held_until.is_none() && !room.is_holding()) {
            room.presence_sent = Some(now);
            let corked = room.broadcast(frame, Some(&user.id));
            return self.flush.corked(name, corked);
        }
        if !room.is_holding() {
            let due = room
                .presence_sent
                .map_or(now, |sent| sent + presence_window(room.len()));
            self.presence.hold(due, name.clone());
        }
        room.hold(frame, &user.id, event);
    }

    /// When the next held presence is due.
    pub(super) fn next_presence(&self) -> Option<Instant> {
        self.presence.next()
    }

    /// Lets held presence go out to the rooms whose window has ended by `now`.
    pub(super) fn release_presence(&mut self, now: Instant) {
        while let Some(name) = self.presence.take_due(now) {
            // A room flushed meanwhile has nothing held any more.
            if self.rooms.get(&name).is_some_and(Room::is_holding) {
                self.flush.corked(&name, 1);
            }
        }
    }

    /// Whether frames wait for a flush.
    pub(super) fn is_flushing(&self) -> bool {
        !self.flush.is_empty()
    }

    /// Whether so much is corked that it must go out before the next command.
    pub(super) fn is_full(&self) -> bool {
        self.flush.is_full()
    }

    /// Goes on handing every member of every corked room what was corked for it, for up to
    /// [`FLUSH_SLICE`] members; returns whether some are left. Members that cannot take their
    /// frames are added to `failed`, for the hub to evict.
    pub(super) fn flush_slice(
        &mut self,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> bool {
        self.flush.start_slice();
        let mut budget = FLUSH_SLICE;
        let now = Instant::now();
        while budget > 0 {
            let Some(name) = self.flush.next() else {
                break;
            };
            let Some(room) = self.rooms.get_mut(&name) else {
                continue;
            };
            let (frames, bytes, done) = room.flush_some(now, &mut budget, conns, failed);
            self.metrics.frames_out.increment(frames as u64);
            self.metrics.bytes_out.increment(bytes as u64);
            match done {
                Some(took) => self.metrics.fanout_seconds.record(took),
                None => self.flush.again(name),
            }
        }
        self.is_flushing()
    }
}

#[cfg(test)]
impl Rooms {
    /// The room, made if missing, for tests that drive rooms directly.
    pub(super) fn room_mut(&mut self, name: &RoomName) -> &mut Room {
        self.rooms.entry(name.clone()).or_insert_with(Room::new)
    }

    /// Notes frames corked by a test.
    pub(super) fn corked(&mut self, name: &RoomName, frames: usize) {
        self.flush.corked(name, frames);
    }
}
