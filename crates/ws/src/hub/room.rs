//! One room as the hub sees it: its members and the frames on their way to them.

use std::{
    collections::hash_map::Entry,
    time::{Duration, Instant},
};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::{
    connections::{Connections, Slot},
    member::{Member, Seen, Shared},
};
use crate::{
    conn::ConnId,
    protocol::{Frame, User, UserId},
};

/// Batch capacity a room keeps between hub batches.
const BATCH_KEEP: usize = 64;

/// How far a flush cut into slices has come.
#[derive(Debug)]
struct Pass {
    /// The next member to be handed its frames in this pass.
    next: usize,
    /// The room got frames (or a member moved) behind `next` during this pass: the members
    /// before it need another one.
    again: bool,
    /// When the flush's first pass began.
    began: Instant,
    /// The lowest batch position a member can have once this pass is over: the batch's end
    /// when the pass began, or less for a member moved behind `next` before its turn.
    floor: usize,
}

/// One room as the hub sees it: who is in it and what is on its way to them.
#[derive(Debug)]
pub(super) struct Room {
    /// Members in a vector, so a fan-out is a straight walk over memory.
    members: Vec<Member>,
    /// Where each connection sits in `members`.
    index: HashMap<ConnId, usize>,
    /// Connections per user: presence announces a user's first arrival and last departure.
    users: HashMap<UserId, usize>,
    /// Presence frames held back until the room's next flush, each with the user it is about
    /// (who does not get it). Kept once for the room, not copied into every member's cork.
    held: Vec<(Frame, Option<UserId>)>,
    /// Frames broadcast to the room since its last complete flush, each with the user who
    /// does not get it, if any: kept once and handed out at the flush (see [`RoomWire`]).
    batch: Vec<(Frame, Option<UserId>)>,
    /// Frames cleared from `held` and `batch` so far (members' positions count them too).
    held_base: usize,
    batch_base: usize,
    /// The flush in progress, if one was cut into slices.
    pass: Option<Pass>,
    /// When presence frames last went out to this room's members.
    pub(super) presence_sent: Option<Instant>,
    /// Each user's JSON once, comma-separated, for `joined`: a user's first connection appends
    /// to it, a user's departure makes it stale until the next `joined` rebuilds it.
    member_list: String,
    member_list_stale: bool,
}

impl Room {
    pub(super) fn new() -> Self {
        Self {
            members: Vec::new(),
            index: HashMap::new(),
            users: HashMap::new(),
            held: Vec::new(),
            batch: Vec::new(),
            held_base: 0,
            batch_base: 0,
            pass: None,
            presence_sent: None,
            member_list: String::new(),
            member_list_stale: false,
        }
    }

    /// How many connections are members.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the connection is a member.
    pub(super) fn contains(&self, conn: ConnId) -> bool {
        self.index.contains_key(&conn)
    }

    /// Adds a member (nothing if it is one already). True when it is the user's first
    /// connection here.
    pub(super) fn add(&mut self, conn: ConnId, slot: Slot, user: &User) -> bool {
        if self.index.contains_key(&conn) {
            return false;
        }
        self.index.insert(conn, self.members.len());
        let (user_id, first) = match self.users.entry(user.id.clone()) {
            Entry::Occupied(mut entry) => {
                *entry.get_mut() += 1;
                (entry.key().clone(), false)
            }
            Entry::Vacant(entry) => {
                let id = entry.key().clone();
                entry.insert(1);
                if !self.member_list_stale {
                    append_member(&mut self.member_list, user);
                }
                (id, true)
            }
        };
        self.members.push(Member {
            conn,
            slot,
            cork: Vec::new(),
            seen: Seen {
                user: user_id,
                held_from: self.held_base + self.held.len(),
                batch_from: self.batch_base + self.batch.len(),
            },
        });
        first
    }

    /// Removes a member. Returns it, with what was corked for it, and whether that was the
    /// user's last connection here.
    pub(super) fn remove(&mut self, conn: ConnId) -> Option<(Member, bool)> {
        let at = self.index.remove(&conn)?;
        let mut member = self.members.swap_remove(at);
        member.seen.gather(
            &Shared::by_frame(&self.held, self.held_base),
            &Shared::by_frame(&self.batch, self.batch_base),
            &mut member.cork,
        );
        if let Some(moved) = self.members.get(at) {
            self.index.insert(moved.conn, at);
            // The last member moved here: a pass already past this point would miss it.
            if let Some(pass) = self.pass.as_mut().filter(|pass| at < pass.next) {
                pass.floor = pass.floor.min(moved.seen.batch_from);
                pass.again = true;
            }
        }
        let last = match self.users.get_mut(&member.seen.user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                self.users.remove(&member.seen.user);
                self.member_list_stale = true;
                true
            }
        };
        Some((member, last))
    }

    /// Corks `frame` for every member but those of `except_user`; returns how many.
    pub(super) fn broadcast(&mut self, frame: Frame, except_user: Option<&UserId>) -> usize {
        let (except, skipped) = match except_user.and_then(|id| self.room_copy(id)) {
            Some((id, connections)) => (Some(id), connections),
            None => (None, 0),
        };
        self.batch.push((frame, except));
        self.behind();
        self.members.len() - skipped
    }

    /// Corks `frame` for one member, after its part of what the room was sent so far; false
    /// when it is not a member.
    pub(super) fn send_to(&mut self, conn: ConnId, frame: Frame) -> bool {
        let Some(&at) = self.index.get(&conn) else {
            return false;
        };
        let member = &mut self.members[at];
        let batch = Shared::by_frame(&self.batch, self.batch_base);
        member.seen.take_batch(&batch, &mut member.cork);
        member.cork.push(frame);
        true
    }

    /// Hands every member what was corked for it, held presence included; members that
    /// cannot take it are added to `failed`. Returns the frames and bytes handed over.
    #[cfg(test)]
    pub(super) fn flush(
        &mut self,
        now: Instant,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> (usize, usize) {
        let mut unbounded = usize::MAX;
        let (frames, bytes, done) = self.flush_some(now, &mut unbounded, conns, failed);
        assert!(done.is_some(), "an unbounded flush completes");
        (frames, bytes)
    }

    /// Goes on with the room's flush for up to `budget` members (taking what it used from
    /// it); returns the frames and bytes handed over and, once every member has everything,
    /// how long the flush took since it began. Members that cannot take their frames are
    /// added to `failed`.
    ///
    /// A flush is a pass over the members in order. What the room gets while a pass is cut
    /// off (the hub takes in new commands between slices) goes to the members after the cut
    /// in the same write as the rest, and to those before it in another pass: a message never
    /// waits for a whole fan-out to end before its own starts.
    pub(super) fn flush_some(
        &mut self,
        now: Instant,
        budget: &mut usize,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> (usize, usize, Option<Duration>) {
        let (mut frames, mut bytes) = (0, 0);
        let mut scratch = Vec::new();
        let began = loop {
            let end = self.batch_base + self.batch.len();
            let pass = self.pass.get_or_insert(Pass {
                next: 0,
                again: false,
                began: now,
                floor: end,
            });
            if pass.again && pass.next >= self.members.len() {
                // Another pass. Frames every member has had can go: the batch stays as short
                // as what arrived during the last two passes, however long the load lasts.
                let settled = pass.floor;
                (pass.next, pass.again, pass.floor) = (0, false, end);
                self.batch.drain(..settled - self.batch_base);
                self.batch_base = settled;
            }
            let held = Shared::laid_out(&self.held, self.held_base);
            let batch = Shared::laid_out(&self.batch, self.batch_base);
            while let Some(member) = self.members.get_mut(pass.next) {
                if *budget == 0 {
                    return (frames, bytes, None);
                }
                *budget -= 1;
                pass.next += 1;
                let (f, b) = member.flush(&held, &batch, &mut scratch, conns, failed);
                frames += f;
                bytes += b;
            }
            if !pass.again {
                break pass.began;
            }
        };
        self.pass = None;
        self.batch_base += self.batch.len();
        self.batch.clear();
        if self.batch.capacity() > BATCH_KEEP {
            self.batch = Vec::new();
        }
        if !self.held.is_empty() {
            self.held_base += self.held.len();
            self.held = Vec::new();
            self.presence_sent = Some(now);
        }
        (frames, bytes, Some(began.elapsed()))
    }

    /// Something changed behind a pass in progress: another pass must follow it.
    fn behind(&mut self) {
        if let Some(pass) = &mut self.pass {
            pass.again |= pass.next > 0;
        }
    }

    /// Hands one member what was corked for it (an answer meant for it alone), leaving the
    /// others' corks for the end of the batch.
    pub(super) fn flush_one(
        &mut self,
        conn: ConnId,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> (usize, usize) {
        let Some(&at) = self.index.get(&conn) else {
            return (0, 0);
        };
        self.members[at].flush(
            &Shared::by_frame(&self.held, self.held_base),
            &Shared::by_frame(&self.batch, self.batch_base),
            &mut Vec::new(),
            conns,
            failed,
        )
    }

    /// Holds a presence frame about `about` back until the room's next flush.
    pub(super) fn hold(&mut self, frame: Frame, about: &UserId) {
        let about = self.room_copy(about).map(|(id, _)| id);
        self.held.push((frame, about));
        self.behind();
    }

    /// The room's copy of a user's id (the one its members hold and room frames are matched
    /// by) and the user's connections here; `None` once the user has none (then no member is
    /// theirs).
    fn room_copy(&self, id: &UserId) -> Option<(UserId, usize)> {
        self.users
            .get_key_value(id)
            .map(|(user, &connections)| (user.clone(), connections))
    }

    /// Whether presence is being held back.
    pub(super) fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Each user in the room once, as the JSON objects `joined` lists, comma-separated.
    pub(super) fn member_list(&mut self, conns: &Connections) -> &str {
        if self.member_list_stale {
            self.member_list.clear();
            // Without auth every connection is its own user: nothing to deduplicate.
            let mut seen = HashSet::new();
            let dedupe = self.users.len() != self.members.len();
            for member in &self.members {
                let Some(user) = conns.user(member.slot) else {
                    continue;
                };
                if dedupe && !seen.insert(&user.id) {
                    continue;
                }
                append_member(&mut self.member_list, user);
            }
            self.member_list_stale = false;
        }
        &self.member_list
    }

    /// A room with no member can be forgotten (its history stays).
    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Adds `user` to a comma-separated member list.
fn append_member(list: &mut String, user: &User) {
    if !list.is_empty() {
        list.push(',');
    }
    list.push_str(user.json());
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{
        hub::tests::{Inbox, attach},
        protocol::{PresenceEvent, RoomName, ServerFrame},
    };

    fn text(n: u32) -> Frame {
        Frame::from_json(format!(r#"{{"n":{n}}}"#))
    }

    /// Connection `conn` of `user` added to `room`, and what it receives.
    fn add(room: &mut Room, conns: &mut Connections, conn: ConnId, user: &User) -> Inbox {
        let (slot, inbox) = attach(conns, conn, user);
        room.add(conn, slot, user);
        inbox
    }

    /// A room with alice (connection 1) and bob (2), their connections, alice, a presence
    /// frame about her, and what each receives.
    fn alice_and_bob() -> (Room, Connections, User, Frame, Inbox, Inbox) {
        let name = RoomName::parse("r").expect("room");
        let alice = User::new("u_a", "alice");
        let mut conns = Connections::new(crate::hub::tests::LIMITS);
        let mut room = Room::new();
        let a_out = add(&mut room, &mut conns, 1, &alice);
        let b_out = add(&mut room, &mut conns, 2, &User::new("u_b", "bob"));
        let about_alice = ServerFrame::Presence {
            room: &name,
            event: PresenceEvent::Join,
            user: &alice,
        }
        .encode();
        (room, conns, alice, about_alice, a_out, b_out)
    }

    #[tokio::test]
    async fn held_presence_goes_out_before_an_answer_corked_after_it() {
        let (mut room, mut conns, alice, about_alice, _a_out, mut b_out) = alice_and_bob();
        room.hold(about_alice, &alice.id);
        assert!(room.send_to(2, text(1)));
        let mut failed = Vec::new();
        room.flush_one(2, &mut conns, &mut failed);
        assert!(failed.is_empty());

        let first = b_out.next().await;
        assert!(first.contains(r#""type":"presence""#), "got {first}");
        assert_eq!(b_out.next().await, r#"{"n":1}"#);
    }

    #[tokio::test]
    async fn a_batch_reaches_each_member_in_order_around_its_own_answers() {
        let (mut room, mut conns, alice, about_alice, mut a_out, mut b_out) = alice_and_bob();

        assert_eq!(room.broadcast(text(1), None), 2);
        assert_eq!(room.broadcast(about_alice, Some(&alice.id)), 1);
        assert!(room.send_to(2, text(2)));
        assert_eq!(room.broadcast(text(3), None), 2);
        // Joined mid-batch: only what is broadcast from now on.
        let mut c_out = add(&mut room, &mut conns, 3, &User::new("u_c", "carol"));
        assert_eq!(room.broadcast(text(4), None), 3);
        let mut failed = Vec::new();
        let (frames, _) = room.flush(Instant::now(), &mut conns, &mut failed);
        assert!(failed.is_empty());
        assert_eq!(frames, 3 + 5 + 1);

        for (out, expected) in [
            (&mut a_out, vec!["1", "3", "4"]),
            (&mut b_out, vec!["1", "presence", "2", "3", "4"]),
            (&mut c_out, vec!["4"]),
        ] {
            for want in expected {
                let got = out.next().await;
                let matches = if want == "presence" {
                    got.contains(r#""type":"presence""#) && got.contains("u_a")
                } else {
                    got == format!(r#"{{"n":{want}}}"#)
                };
                assert!(matches, "wanted {want}, got {got}");
            }
        }
    }

    /// Alice (1), bob (2) and carol (3) in one room, their connections, and what each
    /// receives.
    fn three_members() -> (Room, Connections, Vec<Inbox>) {
        let mut room = Room::new();
        let mut conns = Connections::new(crate::hub::tests::LIMITS);
        let mut outs = Vec::new();
        for (conn, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
            let user = User::new(format!("u_{name}"), name);
            outs.push(add(&mut room, &mut conns, conn, &user));
        }
        (room, conns, outs)
    }

    #[tokio::test]
    async fn a_frame_broadcast_during_a_cut_flush_reaches_everyone_in_order() {
        let (mut room, mut conns, mut outs) = three_members();
        let mut failed = Vec::new();
        room.broadcast(text(1), None);
        // Alice's write, then the flush is cut off and a second message arrives.
        let (frames, _, done) = room.flush_some(Instant::now(), &mut 1, &mut conns, &mut failed);
        assert_eq!((frames, done), (1, None));
        room.broadcast(text(2), None);
        // Bob and carol get both in one write each; alice gets the second in another pass.
        let (frames, _, done) = room.flush_some(Instant::now(), &mut 10, &mut conns, &mut failed);
        assert_eq!((frames, done.is_some()), (2 + 2 + 1, true));
        assert!(failed.is_empty());
        for out in &mut outs {
            assert_eq!(out.next().await, r#"{"n":1}"#);
            assert_eq!(out.next().await, r#"{"n":2}"#);
        }
    }

    #[tokio::test]
    async fn a_member_moved_behind_a_cut_flush_still_gets_its_frames() {
        let (mut room, mut conns, mut outs) = three_members();
        let mut failed = Vec::new();
        room.broadcast(text(1), None);
        assert!(
            room.flush_some(Instant::now(), &mut 2, &mut conns, &mut failed)
                .2
                .is_none()
        );
        // Alice leaves: carol, not yet written, moves into her place, behind the cut.
        assert!(room.remove(1).is_some());
        let (frames, _, done) = room.flush_some(Instant::now(), &mut 10, &mut conns, &mut failed);
        assert_eq!((frames, done.is_some()), (1, true));
        assert_eq!(outs[2].next().await, r#"{"n":1}"#);
        assert_eq!(outs[1].next().await, r#"{"n":1}"#);
    }

    #[tokio::test]
    async fn a_flush_that_never_catches_up_keeps_only_the_recent_frames() {
        let (mut room, mut conns, mut outs) = three_members();
        let mut failed = Vec::new();
        // A message arrives between every two writes, so the flush is never done.
        for n in 1..=30 {
            room.broadcast(text(n), None);
            let done = room
                .flush_some(Instant::now(), &mut 2, &mut conns, &mut failed)
                .2;
            assert!(done.is_none());
            assert!(room.batch.len() <= 6, "{} frames kept", room.batch.len());
        }
        room.flush(Instant::now(), &mut conns, &mut failed);
        assert!(failed.is_empty() && room.batch.is_empty());
        for out in &mut outs {
            for n in 1..=30 {
                assert_eq!(out.next().await, format!(r#"{{"n":{n}}}"#));
            }
        }
    }
}
