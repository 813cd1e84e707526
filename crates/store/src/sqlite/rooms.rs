//! The rooms the SQLite history holds in memory, least recently used first, within their byte
//! budget, and the read-only connection for what memory no longer holds.

use chat_ws::{
    history::{HistoryError, Retention},
    protocol::RoomName,
};
use foldhash::fast::RandomState;
use hashlink::{LinkedHashMap, linked_hash_map::Entry};
use rusqlite::Connection;

use super::room::{Kept, RoomState};

/// The rooms in memory and the connection that reads what memory no longer holds.
#[derive(Debug)]
pub(super) struct Rooms {
    pub(super) retention: Retention,
    pub(super) cache_per_room: usize,
    /// Read-only connection for the pages that are no longer in memory.
    pub(super) reader: Connection,
    /// Rooms in memory, least recently touched first.
    pub(super) rooms: LinkedHashMap<RoomName, RoomState, RandomState>,
    /// What they hold, in [`crate::weight`]'s units.
    pub(super) bytes: usize,
    /// What they may hold at the end of a batch.
    pub(super) budget: usize,
}

/// A room ready to be read or appended to.
pub(super) struct Touched<'a> {
    pub(super) state: &'a mut RoomState,
    /// What retention keeps of it now.
    pub(super) kept: Kept,
    pub(super) reader: &'a Connection,
}

impl Rooms {
    /// The room, read from the file on first touch, with what retention drops forgotten.
    pub(super) fn get(
        &mut self,
        name: &RoomName,
        now: u64,
        resolved: u64,
    ) -> Result<Touched<'_>, HistoryError> {
        let state = match self.rooms.entry(name.clone()) {
            Entry::Occupied(mut entry) => {
                entry.to_back();
                entry.into_mut()
            }
            Entry::Vacant(entry) => {
                let state =
                    RoomState::load(&self.reader, name, self.retention, self.cache_per_room, now)
                        .map_err(read_failed)?;
                self.bytes += state.bytes;
                entry.insert(state)
            }
        };
        let kept = Kept::new(self.retention, state.last_seq, now);
        let before = state.bytes;
        state.prune(kept, self.cache_per_room, resolved);
        self.bytes -= before - state.bytes;
        Ok(Touched {
            state,
            kept,
            reader: &self.reader,
        })
    }

    /// Forgets every room (after a failed write): each is read again from the file.
    pub(super) fn forget_all(&mut self) {
        self.rooms.clear();
        self.bytes = 0;
    }

    /// Brings the caches within the budget, the least recently used rooms' oldest committed
    /// messages first (writes up to `resolved` are committed). What waits for the disk stays,
    /// so the budget can be passed by at most what the writer has not committed yet.
    pub(super) fn shed(&mut self, resolved: u64) {
        if self.bytes <= self.budget {
            return;
        }
        // Down to 7/8 of the budget, so that the walk is not repeated for every batch.
        let target = self.budget - self.budget / 8;
        for state in self.rooms.values_mut() {
            self.bytes -= state.shed(self.bytes - target, resolved);
            if self.bytes <= target {
                break;
            }
        }
    }

    /// The room leaves memory if everything it holds is committed.
    pub(super) fn release(&mut self, name: &RoomName, resolved: u64) {
        if let Entry::Occupied(entry) = self.rooms.entry(name.clone())
            && entry.get().is_settled(resolved)
        {
            self.bytes -= entry.remove().bytes;
        }
    }
}

pub(super) fn read_failed(e: rusqlite::Error) -> HistoryError {
    HistoryError(format!("cannot read the history database: {e}"))
}
