//! One room as the store keeps it in memory: its latest seq, its recent messages and its
//! resend index, plus the indexed reads that fetch older messages from the file.

use std::{collections::VecDeque, sync::Arc};

use chat_ws::{
    history::Retention,
    log::{Event, erase_edit},
    protocol::RoomName,
};
use foldhash::{HashMap, HashMapExt};
use rusqlite::{Connection, params};

use super::event::{event_columns, message_from_row};
use crate::{
    resend::{ResendIndex, in_window},
    weight::{message_bytes, room_bytes},
};

/// What retention keeps of a room right now. Reads apply it exactly, so what they return does
/// not depend on how far the writer's background deletion has got.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    /// Messages with a seq at or below this are dropped (`max_per_room`).
    pub(super) floor: u64,
    /// Messages with a `ts` below this are dropped (`max_age`; 0 keeps all).
    pub(super) cutoff: u64,
}

impl Kept {
    pub(super) fn new(retention: Retention, last_seq: u64, now_ms: u64) -> Self {
        Self {
            floor: last_seq.saturating_sub(retention.max_per_room as u64),
            // Saturating: an age past u64 milliseconds keeps everything, never wraps around.
            cutoff: retention.max_age.map_or(0, |age| {
                now_ms.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
            }),
        }
    }

    fn keeps(&self, seq: u64, ts: u64) -> bool {
        seq > self.floor && ts >= self.cutoff
    }
}

/// A recent message and the number of the write that stores it (0: read from the file).
#[derive(Debug)]
struct Cached {
    write: u64,
    message: Arc<Event>,
}

/// One room in memory.
#[derive(Debug)]
pub(super) struct RoomState {
    /// Latest seq given out, committed or not.
    pub(super) last_seq: u64,
    /// The newest retained messages, consecutive seqs ending at `last_seq`. Every message not
    /// yet committed is here; committed ones beyond the cache limit are only in the file.
    recent: VecDeque<Cached>,
    /// Whether the file may hold retained messages older than `recent`.
    older_in_file: bool,
    /// Client ids of the resend window.
    pub(super) resend: ResendIndex,
    /// What the room holds in memory, for the cache's byte budget (see [`crate::weight`]).
    pub(super) bytes: usize,
    /// Messages whose state a change not yet committed (the number of its write) changed:
    /// the next change to one of them must see that state, which the file does not have yet
    /// and the cache may not hold.
    changed: HashMap<u64, (u64, Arc<Event>)>,
}

impl RoomState {
    /// Reads a room from the file: its latest seq, its newest `limit` retained messages and
    /// the client ids of its resend window, in one walk down the room's index from the newest
    /// message that stops as soon as both are complete.
    pub(super) fn load(
        reader: &Connection,
        room: &RoomName,
        retention: Retention,
        limit: usize,
        now_ms: u64,
    ) -> rusqlite::Result<Self> {
        // The row is only a floor (the writer moves it when it deletes), the newest message
        // tells the rest.
        let last_seq: u64 = reader
            .prepare_cached(
                "SELECT max(
                     coalesce((SELECT last_seq FROM rooms WHERE room = ?1), 0),
                     coalesce((SELECT max(seq) FROM events WHERE room = ?1), 0))",
            )?
            .query_row([room.as_str()], |row| row.get(0))?;
        let kept = Kept::new(retention, last_seq, now_ms);
        let mut recent = Vec::new();
        let mut ids = Vec::new();
        let mut caching = true;
        let mut stmt = reader.prepare_cached(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE room = ?1 ORDER BY seq DESC"
        ))?;
        let mut rows = stmt.query([room.as_str()])?;
        while let Some(row) = rows.next()? {
            let (seq, ts): (u64, u64) = (row.get(0)?, row.get(1)?);
            caching = caching && recent.len() < limit && kept.keeps(seq, ts);
            let resending = in_window(seq, ts, last_seq, now_ms);
            if !caching && !resending {
                break;
            }
            let client_id: Option<String> = row.get(5)?;
            if caching {
                recent.push(message_from_row(room, row)?);
            }
            if let (true, Some(id)) = (resending, client_id) {
                ids.push((id, seq, ts));
            }
        }
        let mut resend = ResendIndex::default();
        for (id, seq, ts) in ids.into_iter().rev() {
            resend.insert(&id, seq, ts);
        }
        let bytes =
            room_bytes(room.as_str()) + recent.iter().map(|m| message_bytes(m)).sum::<usize>();
        Ok(Self {
            bytes,
            last_seq,
            older_in_file: recent.len() == limit,
            recent: recent
                .into_iter()
                .rev()
                .map(|message| Cached { write: 0, message })
                .collect(),
            resend,
            changed: HashMap::new(),
        })
    }

    /// The message a change targets, as it stands (changes not yet committed included), if
    /// retention keeps it.
    pub(super) fn target(
        &self,
        reader: &Connection,
        room: &RoomName,
        kept: Kept,
        seq: u64,
    ) -> rusqlite::Result<Option<Arc<Event>>> {
        if let Some((_, message)) = self.changed.get(&seq) {
            return Ok(Some(message.clone()).filter(|m| kept.keeps(m.seq, m.ts)));
        }
        self.get(reader, room, kept, seq)
    }

    /// A change (write number `write`) gave a message this new state; once it is `deleted`,
    /// the text of its edits goes too.
    pub(super) fn change(&mut self, write: u64, changed: Arc<Event>, deleted: bool) {
        let seq = changed.seq;
        let at = self.position(seq);
        if self.recent.get(at).is_some_and(|c| c.message.seq == seq) {
            self.put(at, changed.clone());
        }
        if deleted {
            // Its edits come after it; the cache may hold them and not it.
            for at in at..self.recent.len() {
                if let Some(erased) = erase_edit(&self.recent[at].message, seq) {
                    self.put(at, Arc::new(erased));
                }
            }
        }
        self.changed.insert(seq, (write, changed));
    }

    /// Puts a new state of the cached event at `at`.
    fn put(&mut self, at: usize, event: Arc<Event>) {
        let cached = &mut self.recent[at];
        self.bytes = self.bytes + message_bytes(&event) - message_bytes(&cached.message);
        cached.message = event;
    }

    /// Adds the message just sequenced as write number `write`.
    pub(super) fn push(&mut self, write: u64, message: Arc<Event>) {
        self.last_seq = message.seq;
        self.bytes += message_bytes(&message);
        self.recent.push_back(Cached { write, message });
    }

    /// The oldest message in memory goes (it is in the file, or dropped by retention).
    fn pop_front(&mut self) {
        if let Some(gone) = self.recent.pop_front() {
            self.bytes -= message_bytes(&gone.message);
        }
    }

    /// Drops the oldest committed messages (writes up to `resolved`) until `want` bytes are
    /// freed or only uncommitted ones are left; reads then take them from the file. Returns
    /// the bytes freed.
    pub(super) fn shed(&mut self, want: usize, resolved: u64) -> usize {
        let before = self.bytes;
        while before - self.bytes < want && self.recent.front().is_some_and(|c| c.write <= resolved)
        {
            self.pop_front();
            self.older_in_file = true;
        }
        before - self.bytes
    }

    /// Forgets what retention drops, and committed messages beyond `limit` (writes up to
    /// `resolved` are in the file, or failed).
    pub(super) fn prune(&mut self, kept: Kept, limit: usize, resolved: u64) {
        if !self.changed.is_empty() {
            // Committed: the file has those states now.
            self.changed.retain(|_, (write, _)| *write > resolved);
        }
        while let Some(front) = self.recent.front() {
            if !kept.keeps(front.message.seq, front.message.ts) {
                self.pop_front();
            } else if self.recent.len() > limit && front.write <= resolved {
                self.pop_front();
                self.older_in_file = true;
            } else {
                break;
            }
        }
    }

    /// Whether every message in memory is in the file (writes up to `resolved` are), so the
    /// room can be dropped from memory and read again later.
    pub(super) fn is_settled(&self, resolved: u64) -> bool {
        // Write numbers grow along the cache.
        self.recent.back().is_none_or(|c| c.write <= resolved)
            && self.changed.values().all(|(write, _)| *write <= resolved)
    }

    /// The seq of the oldest message in memory (the next seq when none is).
    fn first_cached(&self) -> u64 {
        self.recent
            .front()
            .map_or(self.last_seq + 1, |c| c.message.seq)
    }

    /// Index in `recent` of the first message with seq ≥ `seq`.
    fn position(&self, seq: u64) -> usize {
        (seq.saturating_sub(self.first_cached()) as usize).min(self.recent.len())
    }

    /// Messages with `from ≤ seq < to`, oldest first, from memory and then the file.
    pub(super) fn range(
        &self,
        reader: &Connection,
        room: &RoomName,
        kept: Kept,
        from: u64,
        to: u64,
    ) -> rusqlite::Result<Vec<Arc<Event>>> {
        let first = self.first_cached();
        let mut messages = if from < first && self.older_in_file {
            read_range(reader, room, kept, from, to.min(first))?
        } else {
            Vec::new()
        };
        let (start, end) = (self.position(from), self.position(to));
        messages.extend(
            self.recent
                .range(start..end.max(start))
                .map(|c| c.message.clone()),
        );
        Ok(messages)
    }

    /// The newest `n` messages with `seq < before`, oldest first, from memory and then the
    /// file.
    pub(super) fn newest_before(
        &self,
        reader: &Connection,
        room: &RoomName,
        kept: Kept,
        before: u64,
        n: usize,
    ) -> rusqlite::Result<Vec<Arc<Event>>> {
        let end = self.position(before);
        let start = end.saturating_sub(n);
        let cached = self.recent.range(start..end).map(|c| c.message.clone());
        let missing = n - (end - start);
        let first = self.first_cached();
        if missing == 0 || !self.older_in_file || before <= kept.floor {
            return Ok(cached.collect());
        }
        let mut messages = read_newest(reader, room, kept, before.min(first), missing)?;
        messages.extend(cached);
        Ok(messages)
    }

    /// The message with this seq, if retention keeps it.
    pub(super) fn get(
        &self,
        reader: &Connection,
        room: &RoomName,
        kept: Kept,
        seq: u64,
    ) -> rusqlite::Result<Option<Arc<Event>>> {
        if seq >= self.first_cached() {
            return Ok(self
                .recent
                .get(self.position(seq))
                .filter(|c| c.message.seq == seq)
                .map(|c| c.message.clone()));
        }
        Ok(self
            .range(reader, room, kept, seq, seq + 1)?
            .into_iter()
            .next())
    }
}

/// Retained messages with `from ≤ seq < to` from the file, oldest first.
fn read_range(
    reader: &Connection,
    room: &RoomName,
    kept: Kept,
    from: u64,
    to: u64,
) -> rusqlite::Result<Vec<Arc<Event>>> {
    let mut stmt = reader.prepare_cached(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE room = ?1 AND seq >= ?2 AND seq < ?3 AND ts >= ?4 ORDER BY seq"
    ))?;
    let from = from.max(kept.floor + 1);
    let rows = stmt.query_map(params![room.as_str(), from, to, kept.cutoff], |row| {
        message_from_row(room, row)
    })?;
    rows.collect()
}

/// The newest `n` retained messages with `seq < before` from the file, oldest first.
fn read_newest(
    reader: &Connection,
    room: &RoomName,
    kept: Kept,
    before: u64,
    n: usize,
) -> rusqlite::Result<Vec<Arc<Event>>> {
    let mut stmt = reader.prepare_cached(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE room = ?1 AND seq > ?2 AND seq < ?3 AND ts >= ?4",
        " ORDER BY seq DESC LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![room.as_str(), kept.floor, before, kept.cutoff, n as u64],
        |row| message_from_row(room, row),
    )?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}
