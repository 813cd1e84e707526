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
    protocol::{Frame, PresenceEvent, User, UserId},
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
    /// The furthest position in the held presence any member has seen (or, for one that
    /// joined since, was shown in its member list): a held frame before it cannot be taken
    /// back.
    held_peak: usize,
    /// Who and what the last held frame announces, while it is the room's last frame.
    last_held: Option<(UserId, PresenceEvent)>,
    batch_base: usize,
    /// The flush in progress, if one was cut into slices.
    pass: Option<Pass>,
    /// When presence frames last went out to this room's members.
    pub(super) presence_sent: Option<Instant>,
    /// Each user's JSON once, comma-separated, for `joined`: a user's first connection appends
    /// to it, a user's departure makes it stale until the next `joined` rebuilds it.
    member_list: String,
    member_list_stale: bool,
    /// The room's latest seq the hub has seen (its catchups and stored events).
    pub(super) seq: u64,
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
            held_peak: 0,
            last_held: None,
            batch_base: 0,
            pass: None,
            presence_sent: None,
            member_list: String::new(),
            member_list_stale: false,
            seq: 0,
        }
    }

    /// How many connections are members.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// How many users are members (a user may have several connections here).
    pub(super) fn users(&self) -> usize {
        self.users.len()
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
        // Its member list shows the room as the held presence leaves it.
        self.saw_held(self.held_base + self.held.len(), &user.id);
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
        self.saw_held(member.seen.held_from, &member.seen.user);
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
        self.last_held = None;
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
            let held_end = self.held_base + self.held.len();
            let held = Shared::laid_out(&self.held, self.held_base);
            let batch = Shared::laid_out(&self.batch, self.batch_base);
            while let Some(member) = self.members.get_mut(pass.next) {
                if *budget == 0 {
                    return (frames, bytes, None);
                }
                self.held_peak = held_end;
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
        let handed = self.members[at].flush(
            &Shared::by_frame(&self.held, self.held_base),
            &Shared::by_frame(&self.batch, self.batch_base),
            &mut Vec::new(),
            conns,
            failed,
        );
        let seen = &self.members[at].seen;
        let (held_from, user) = (seen.held_from, seen.user.clone());
        self.saw_held(held_from, &user);
        handed
    }

    /// Notes that a member of `user` has had the held presence up to `held_from`. Frames about
    /// its own user never reach it, so it cannot have seen the last one if that is about it.
    fn saw_held(&mut self, held_from: usize, user: &UserId) {
        let end = self.held_base + self.held.len();
        let own_last = self
            .last_held
            .as_ref()
            .is_some_and(|(about, _)| **about == **user);
        let seen = if own_last {
            held_from.min(end.saturating_sub(1))
        } else {
            held_from
        };
        self.held_peak = self.held_peak.max(seen);
    }

    /// Holds a presence frame (`event` about `about`) back until the room's next flush. A
    /// join and a leave of the same user held back to back, the first seen by nobody, cancel
    /// out: one client toggling a room costs its members nothing.
    pub(super) fn hold(&mut self, frame: Frame, about: &UserId, event: PresenceEvent) {
        let end = self.held_base + self.held.len();
        let undoes_last = self
            .last_held
            .as_ref()
            .is_some_and(|(user, held)| **user == **about && *held != event);
        if undoes_last && self.held_peak < end {
            self.held.pop();
            self.last_held = None;
            return;
        }
        self.last_held = Some((about.clone(), event));
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

    /// The member list with `others` (members on other nodes) after this node's own, each
    /// user once.
    pub(super) fn member_list_with(&mut self, others: &[User], conns: &Connections) -> String {
        let mut list = self.member_list(conns).to_owned();
        let mut seen = HashSet::new();
        for user in others {
            if !self.users.contains_key(&user.id) && seen.insert(&user.id) {
                append_member(&mut list, user);
            }
        }
        list
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
mod tests;
