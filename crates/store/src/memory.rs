use std::{collections::VecDeque, sync::Arc};

use foldhash::fast::RandomState;
use hashlink::{LinkedHashMap, linked_hash_map::Entry};

use chat_ws::{
    history::{Appended, History, HistoryError, Page, Retention, Since, now_ms},
    log::{self as change, Change, Draft, Event, EventKind},
    protocol::RoomName,
};

use crate::{
    resend::ResendIndex,
    weight::{message_bytes, room_bytes},
};

/// History kept in this process only: for tests and ephemeral deployments. Everything is
/// stored the moment it is appended, and lost when the process ends.
///
/// It holds at most a byte budget (`history.memory_bytes`, in [`crate::weight`]'s units): past
/// it, the least recently used rooms' oldest messages are forgotten, as retention would, and a
/// room nobody is in any more ([`History::release`]) whose messages are all gone is forgotten
/// whole; its seq then starts again at 1, as after a restart.
#[derive(Debug)]
pub struct MemoryHistory {
    retention: Retention,
    /// Least recently touched first.
    rooms: LinkedHashMap<RoomName, RoomLog, RandomState>,
    /// What the rooms hold.
    bytes: usize,
    budget: usize,
}

/// One room's retained messages, oldest first, with consecutive seqs.
#[derive(Debug)]
struct RoomLog {
    last_seq: u64,
    messages: VecDeque<Arc<Event>>,
    resend: ResendIndex,
    /// What the room holds, counted in [`MemoryHistory::bytes`].
    bytes: usize,
    /// The hub has nobody in the room: once its messages are gone, it may go.
    released: bool,
}

impl MemoryHistory {
    /// The budget unless told otherwise (`history.memory_bytes`).
    pub const DEFAULT_BUDGET: usize = 64 << 20;

    /// An empty history that keeps what `retention` allows, within
    /// [`Self::DEFAULT_BUDGET`].
    pub fn new(retention: Retention) -> Self {
        Self::with_budget(retention, Self::DEFAULT_BUDGET)
    }

    /// An empty history that keeps what `retention` allows, within `budget` bytes.
    pub fn with_budget(retention: Retention, budget: usize) -> Self {
        Self {
            retention,
            rooms: LinkedHashMap::with_hasher(RandomState::default()),
            bytes: 0,
            budget,
        }
    }

    /// Bytes the rooms hold (see [`crate::weight`]).
    pub fn bytes_in_memory(&self) -> usize {
        self.bytes
    }

    /// Rooms held.
    pub fn rooms_in_memory(&self) -> usize {
        self.rooms.len()
    }

    fn log(&mut self, room: &RoomName) -> Option<&mut RoomLog> {
        let log = self.rooms.to_back(room.as_str())?;
        log.released = false;
        self.bytes -= log.apply(self.retention, now_ms());
        Some(log)
    }

    /// Forgets the least recently used rooms' oldest messages, and the released rooms left
    /// empty, until the rooms fit in the budget again (7/8 of it, so that the walk is not
    /// repeated for every message).
    fn shed(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        let target = self.budget - self.budget / 8;
        let mut bytes = self.bytes;
        self.rooms.retain_with_order(|_, log| {
            if bytes <= target {
                return true;
            }
            bytes -= log.shed(bytes - target);
            if log.messages.is_empty() && log.released {
                bytes -= log.bytes;
                return false;
            }
            true
        });
        self.bytes = bytes;
    }
}

impl RoomLog {
    fn new(name: &RoomName) -> Self {
        Self {
            last_seq: 0,
            messages: VecDeque::new(),
            resend: ResendIndex::default(),
            bytes: room_bytes(name.as_str()),
            released: false,
        }
    }

    /// Forgets what retention drops; returns the bytes freed.
    fn apply(&mut self, retention: Retention, now: u64) -> usize {
        let before = self.bytes;
        while self.messages.len() > retention.max_per_room {
            self.pop_front();
        }
        if let Some(age) = retention.max_age {
            // Saturating: an age past u64 milliseconds keeps everything, never wraps around.
            let oldest_kept =
                now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            while self.messages.front().is_some_and(|m| m.ts < oldest_kept) {
                self.pop_front();
            }
        }
        before - self.bytes
    }

    /// Forgets the oldest messages until `want` bytes are freed or none is left; returns the
    /// bytes freed.
    fn shed(&mut self, want: usize) -> usize {
        let before = self.bytes;
        while before - self.bytes < want && self.pop_front() {}
        before - self.bytes
    }

    /// Forgets the oldest message; false when there was none.
    fn pop_front(&mut self) -> bool {
        let Some(gone) = self.messages.pop_front() else {
            return false;
        };
        self.bytes -= message_bytes(&gone);
        true
    }

    /// Puts a message's new state at `at`; once it is `deleted`, the text of its edits goes
    /// too. Returns the room's bytes before and after.
    fn replace(&mut self, at: usize, changed: Event, deleted: bool) -> (usize, usize) {
        let before = self.bytes;
        let seq = changed.seq;
        self.put(at, changed);
        if deleted {
            for at in at + 1..self.messages.len() {
                if let Some(erased) = change::erase_edit(&self.messages[at], seq) {
                    self.put(at, erased);
                }
            }
        }
        (before, self.bytes)
    }

    fn put(&mut self, at: usize, event: Event) {
        let event = Arc::new(event);
        self.bytes = self.bytes + message_bytes(&event) - message_bytes(&self.messages[at]);
        self.messages[at] = event;
    }

    /// Index in `messages` of the first message with seq ≥ `seq`.
    fn position(&self, seq: u64) -> usize {
        match self.messages.front() {
            Some(first) => (seq.saturating_sub(first.seq) as usize).min(self.messages.len()),
            None => 0,
        }
    }
}

impl History for MemoryHistory {
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        Ok(self.rooms.get(room.as_str()).map_or(0, |log| log.last_seq))
    }

    fn append(&mut self, draft: Draft, ts: u64) -> Result<Appended, HistoryError> {
        let log = match self.rooms.entry(draft.room.clone()) {
            Entry::Occupied(mut entry) => {
                entry.to_back();
                entry.into_mut()
            }
            Entry::Vacant(entry) => {
                let log = RoomLog::new(entry.key());
                self.bytes += log.bytes;
                entry.insert(log)
            }
        };
        log.released = false;
        if let Some(target) = draft.kind.target() {
            // What retention dropped is no target any more.
            self.bytes -= log.apply(self.retention, ts);
            let at = log.position(target);
            let current = log.messages.get(at).filter(|m| m.seq == target);
            match change::apply(current, &draft, ts) {
                Change::Applied(changed) => {
                    let deleted = matches!(draft.kind, EventKind::Delete { .. });
                    let (before, after) = log.replace(at, changed, deleted);
                    self.bytes = self.bytes + after - before;
                }
                Change::Unchanged(target) => return Ok(Appended::Unchanged(target)),
                Change::Refused(refusal) => return Ok(Appended::Refused(refusal)),
            }
        }
        log.last_seq += 1;
        let message = Arc::new(draft.sequence(log.last_seq, ts));
        if let Some(id) = &message.client_id {
            log.resend.insert(id, message.seq, ts);
        }
        let added = message_bytes(&message);
        log.bytes += added;
        log.messages.push_back(message.clone());
        let freed = log.apply(self.retention, ts);
        self.bytes = self.bytes + added - freed;
        self.shed();
        Ok(Appended::Stored(message))
    }

    fn release(&mut self, room: &RoomName) {
        if let Some(log) = self.rooms.get_mut(room.as_str()) {
            log.released = true;
        }
    }

    fn since(&mut self, room: &RoomName, after: u64, upto: u64) -> Result<Since, HistoryError> {
        let Some(log) = self.log(room) else {
            // A room never written to has seq 0: nothing is missing after 0.
            return Ok(Since {
                messages: Vec::new(),
                complete: after == 0,
            });
        };
        let upto = upto.min(log.last_seq);
        let start = log.position(after + 1);
        let end = log.position(upto + 1);
        let messages: Vec<_> = log.messages.range(start..end.max(start)).cloned().collect();
        Ok(Since {
            // Seqs are consecutive, so none is missing exactly when all of them are here.
            complete: after <= upto && messages.len() as u64 == upto - after,
            messages,
        })
    }

    fn page(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, HistoryError> {
        let Some(log) = self.log(room) else {
            return Ok(Page::default());
        };
        let end = log.position(before);
        let start = end.saturating_sub(limit);
        Ok(Page {
            messages: log.messages.range(start..end).cloned().collect(),
            has_more: start > 0,
        })
    }

    fn find_resend(
        &mut self,
        room: &RoomName,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Arc<Event>>, HistoryError> {
        let Some(log) = self.rooms.get_mut(room.as_str()) else {
            return Ok(None);
        };
        let Some(seq) = log.resend.find(id, log.last_seq, now_ms) else {
            return Ok(None);
        };
        let at = log.position(seq);
        // The index holds hashes: the message itself must carry the id.
        Ok(log
            .messages
            .get(at)
            .filter(|m| m.seq == seq && m.client_id.as_deref() == Some(id))
            .cloned())
    }
}
