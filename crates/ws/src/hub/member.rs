//! One member of a room: the connection, the frames corked for it alone, and how far it has
//! been handed the room's shared frames.

use super::{
    connections::{Connections, Slot},
    roomwire::{RoomFrames, RoomWire},
};
use crate::{
    conn::ConnId,
    protocol::{Frame, UserId},
};

/// A member connection and the frames corked for it alone during the current hub batch.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) conn: ConnId,
    /// Where the connection's outbox is: the flush reaches it without a lookup.
    pub(super) slot: Slot,
    /// Frames for this member alone (answers), after its part of the room's batch up to that
    /// answer. The rest of its part stays in the room's batch until the flush. Usually empty.
    pub(super) cork: Vec<Frame>,
    /// How much of the room's shared frames this member has been handed.
    pub(super) seen: Seen,
}

/// Where a member stands in the room's shared frames (held presence and the batch).
///
/// Positions count every frame the room ever held or batched (the lists' `base` is what was
/// cleared before them), so a flush need not touch a member again to reset them.
#[derive(Debug)]
pub(super) struct Seen {
    /// The room's own copy of the user's id, shared by all of the user's connections here:
    /// room frames about a user are matched to it by address, not by comparing strings.
    pub(super) user: UserId,
    /// Where this member's part of the room's held presence starts (it has seen the rest).
    pub(super) held_from: usize,
    /// Where this member's part of the room's batch starts (earlier frames are in its cork,
    /// or were broadcast before it joined).
    pub(super) batch_from: usize,
}

/// A room's list of shared frames as members read it: the frames and how many were cleared
/// before them.
pub(super) struct Shared<'a> {
    wire: RoomWire<'a>,
    base: usize,
}

impl<'a> Shared<'a> {
    /// For a flush of the whole room (see [`RoomWire::laid_out`]).
    pub(super) fn laid_out(frames: &'a RoomFrames, base: usize) -> Self {
        Self {
            wire: RoomWire::laid_out(frames),
            base,
        }
    }

    /// For one member (see [`RoomWire::by_frame`]).
    pub(super) fn by_frame(frames: &'a RoomFrames, base: usize) -> Self {
        Self {
            wire: RoomWire::by_frame(frames),
            base,
        }
    }
}

impl Seen {
    /// Puts the held presence this member has not had yet in front of `out`: held frames are
    /// older than corked ones. Returns how many frames and how many entries that was.
    fn take_held(&mut self, held: &Shared<'_>, out: &mut Vec<Frame>) -> (usize, usize) {
        let before = out.len();
        let frames = held
            .wire
            .part_for(self.held_from - held.base, &self.user, out);
        let entries = out.len() - before;
        out.rotate_right(entries);
        self.held_from = held.base + held.wire.len();
        (frames, entries)
    }

    /// Appends this member's part of the room's batch not yet handed to it. Returns how many
    /// frames and how many entries that was.
    pub(super) fn take_batch(
        &mut self,
        batch: &Shared<'_>,
        out: &mut Vec<Frame>,
    ) -> (usize, usize) {
        let before = out.len();
        let frames = batch
            .wire
            .part_for(self.batch_from - batch.base, &self.user, out);
        self.batch_from = batch.base + batch.wire.len();
        (frames, out.len() - before)
    }

    /// Everything the room has for this member, in order, around what `out` holds: held
    /// presence, then `out`, then its part of the batch.
    pub(super) fn gather(
        &mut self,
        held: &Shared<'_>,
        batch: &Shared<'_>,
        out: &mut Vec<Frame>,
    ) -> (usize, usize) {
        let (held_frames, held_entries) = self.take_held(held, out);
        let (batch_frames, batch_entries) = self.take_batch(batch, out);
        (held_frames + batch_frames, held_entries + batch_entries)
    }
}

impl Member {
    /// Hands the member its held, corked and batched frames; returns the frames and bytes
    /// handed over. A member whose outbox refuses them is added to `failed`.
    ///
    /// With nothing corked (the usual case) the member's frames are gathered in `scratch`,
    /// one buffer every member of the flush reuses and the cache keeps, rather than in the
    /// member's own cork: that would be one more cold line per member of a fan-out.
    pub(super) fn flush(
        &mut self,
        held: &Shared<'_>,
        batch: &Shared<'_>,
        scratch: &mut Vec<Frame>,
        conns: &mut Connections,
        failed: &mut Vec<ConnId>,
    ) -> (usize, usize) {
        let out = if self.cork.is_empty() {
            scratch
        } else {
            &mut self.cork
        };
        let (shared_frames, shared_entries) = self.seen.gather(held, batch, out);
        if out.is_empty() {
            return (0, 0);
        }
        // Laid-out room frames are fewer entries than frames.
        let frames = out.len() - shared_entries + shared_frames;
        let bytes = out.iter().map(Frame::len).sum::<usize>();
        if !conns.deliver(self.slot, out) {
            failed.push(self.conn);
        }
        debug_assert!(
            out.is_empty(),
            "a delivery takes every frame: the scratch is shared"
        );
        // Answers are rare (joined, a history page, a resend): a member keeps no cork between
        // them.
        if self.cork.capacity() != 0 {
            self.cork = Vec::new();
        }
        (frames, bytes)
    }
}
