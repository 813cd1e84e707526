//! Frames meant for a whole room, laid end to end once per flush, so each member gets its
//! part as a slice or two of one buffer instead of a clone of every frame. Two lists use it:
//! a room's held presence (a big room filling up holds many frames per window) and the frames
//! broadcast to the room in one hub batch (under load, tens of messages per member per batch).
//! Cloning every frame for every member was a large share of the hub's time in both
//! (docs/BENCHMARKS.md).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::protocol::{Frame, UserId};

/// Frames for a room, oldest first, each with the user it is about, who does not get it
/// (`None`: everyone does). The id is the room's own copy, compared by address.
pub(super) type RoomFrames = [(Frame, Option<UserId>)];

/// A room's frames, ready to be handed out to members.
pub(super) struct RoomWire<'a> {
    frames: &'a RoomFrames,
    /// The frames' bytes end to end, and where each frame ends in them; `None`: handed out
    /// frame by frame.
    laid: Option<(Bytes, Vec<usize>)>,
}

impl<'a> RoomWire<'a> {
    /// For a flush of the whole room: the frames laid end to end once (a lone frame is
    /// handed out as it is: copying it would buy nothing).
    pub(super) fn laid_out(frames: &'a RoomFrames) -> Self {
        if frames.len() < 2 {
            return Self::by_frame(frames);
        }
        let mut wire = BytesMut::with_capacity(frames.iter().map(|(f, _)| f.len()).sum());
        let mut ends = Vec::with_capacity(frames.len());
        for (frame, _) in frames {
            wire.extend_from_slice(frame.wire());
            ends.push(wire.len());
        }
        Self {
            frames,
            laid: Some((wire.freeze(), ends)),
        }
    }

    /// For one member (an answer, a departure): frame by frame, since laying the list out for
    /// each member of a leave storm would copy it once per departure.
    pub(super) fn by_frame(frames: &'a RoomFrames) -> Self {
        Self { frames, laid: None }
    }

    /// How many frames there are.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Appends to `out` the frames from the `from`th on that are not about `user` (laid out:
    /// as one slice per run of consecutive ones); returns how many frames that is. `user` is
    /// the room's own copy of the id, the one room frames carry, so it is compared by address.
    pub(super) fn part_for(&self, from: usize, user: &UserId, out: &mut Vec<Frame>) -> usize {
        let mut frames = 0;
        let mut run: Option<usize> = None;
        for (at, (_, about)) in self.frames.iter().enumerate().skip(from) {
            if about.as_ref().is_some_and(|about| Arc::ptr_eq(about, user)) {
                self.push_run(run.take(), at, out);
                continue;
            }
            run.get_or_insert(at);
            frames += 1;
        }
        self.push_run(run, self.frames.len(), out);
        frames
    }

    /// Frames `start..end`.
    fn push_run(&self, start: Option<usize>, end: usize, out: &mut Vec<Frame>) {
        let Some(start) = start else {
            return;
        };
        match &self.laid {
            Some((wire, ends)) => {
                let from = if start == 0 { 0 } else { ends[start - 1] };
                out.push(Frame::several(wire.slice(from..ends[end - 1]), end - start));
            }
            None => out.extend(self.frames[start..end].iter().map(|(f, _)| f.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PresenceEvent, RoomName, ServerFrame, User};

    fn presence(user: &User) -> (Frame, Option<UserId>) {
        let room = RoomName::parse("r").expect("room");
        let frame = ServerFrame::Presence {
            room: &room,
            event: PresenceEvent::Join,
            user,
        }
        .encode();
        (frame, Some(user.id.clone()))
    }

    fn bytes(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.wire().to_vec()).collect()
    }

    #[test]
    fn a_part_is_the_frames_about_others_from_its_start_in_order() {
        let users: Vec<User> = (0..5).map(|i| User::new(format!("u{i}"), "x")).collect();
        let mut held: Vec<_> = [0, 1, 2, 1, 3, 4]
            .iter()
            .map(|&i| presence(&users[i]))
            .collect();
        // A frame for everyone (a message) in the middle.
        held.insert(3, (held[0].0.clone(), None));
        for (wire, most_slices) in [
            (RoomWire::laid_out(&held), 3),
            (RoomWire::by_frame(&held), held.len()),
        ] {
            check_parts(&held, &users, &wire, most_slices);
        }
    }

    fn check_parts(held: &RoomFrames, users: &[User], wire: &RoomWire<'_>, most_slices: usize) {
        for from in 0..=held.len() {
            for user in users {
                let mut out = Vec::new();
                let frames = wire.part_for(from, &user.id, &mut out);
                let expected: Vec<Frame> = held[from..]
                    .iter()
                    .filter(|(_, about)| about.as_ref() != Some(&user.id))
                    .map(|(f, _)| f.clone())
                    .collect();
                assert_eq!(frames, expected.len(), "from {from}, {}", user.id);
                assert_eq!(bytes(&out), bytes(&expected), "from {from}, {}", user.id);
                // Laid out: one slice per run of frames between the user's own.
                assert!(out.len() <= most_slices, "{} slices", out.len());
            }
        }
    }
}
