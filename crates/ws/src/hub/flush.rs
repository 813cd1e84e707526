//! The rooms with frames corked for their members, flushed in turns a slice at a time.

use std::collections::VecDeque;

use crate::protocol::RoomName;

/// Members written per flush slice; between slices the hub takes in what arrived, so a
/// message that arrives meanwhile joins the flush in progress (see `Room::flush_some`)
/// instead of waiting for all of it.
pub(super) const FLUSH_SLICE: usize = 64;

/// Most frames corked before they are flushed, even in the middle of a batch: it caps how
/// many messages share one write per member, and how long one huge batch holds its first
/// frames back.
const CORK_LIMIT: usize = 64 * 1024;

/// Rooms with corked frames, in the order they were corked.
#[derive(Debug, Default)]
pub(super) struct FlushQueue {
    rooms: VecDeque<RoomName>,
    /// Frames corked since the last flush slice.
    frames: usize,
}

impl FlushQueue {
    /// Notes that `frames` frames wait in `room`'s members' corks.
    pub(super) fn corked(&mut self, room: &RoomName, frames: usize) {
        if frames == 0 {
            return;
        }
        self.frames += frames;
        if !self.rooms.contains(room) {
            self.rooms.push_back(room.clone());
        }
    }

    /// Whether `room` has frames corked in this flush.
    pub(super) fn contains(&self, room: &RoomName) -> bool {
        self.rooms.contains(room)
    }

    /// Whether so much is corked that it must go out before the next command.
    pub(super) fn is_full(&self) -> bool {
        self.frames > CORK_LIMIT
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The next room to flush; a slice starts, so the count starts again.
    pub(super) fn start_slice(&mut self) {
        self.frames = 0;
    }

    pub(super) fn next(&mut self) -> Option<RoomName> {
        self.rooms.pop_front()
    }

    /// A room whose flush was cut goes to the back: a big room that keeps getting frames
    /// holds no other room back.
    pub(super) fn again(&mut self, room: RoomName) {
        self.rooms.push_back(room);
    }
}
