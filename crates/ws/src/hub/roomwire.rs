//! A room's held presence laid end to end for one flush, so each member gets its part as a
//! slice or two of one buffer instead of a clone of every frame: a room of 5,000 filling up
//! holds a thousand frames per window, and cloning each for each member was a fifth of the
//! hub's time.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::protocol::{Frame, UserId};

/// The held frames, oldest first, each with the user it is about (who does not get it).
pub(super) type Held = [(Frame, UserId)];

/// The held frames of a room, ready to be handed out to members.
pub(super) struct HeldWire<'a> {
    held: &'a Held,
    /// The frames' bytes end to end, and where each frame ends in them; `None`: handed out
    /// frame by frame.
    laid: Option<(Bytes, Vec<usize>)>,
}

impl<'a> HeldWire<'a> {
    /// For a flush of the whole room: the frames laid end to end once.
    pub(super) fn laid_out(held: &'a Held) -> Self {
        let mut wire = BytesMut::with_capacity(held.iter().map(|(f, _)| f.len()).sum());
        let mut ends = Vec::with_capacity(held.len());
        for (frame, _) in held {
            wire.extend_from_slice(frame.wire());
            ends.push(wire.len());
        }
        Self {
            held,
            laid: Some((wire.freeze(), ends)),
        }
    }

    /// For one member (an answer, a departure): frame by frame, since laying the list out for
    /// each member of a leave storm would copy it once per departure.
    pub(super) fn by_frame(held: &'a Held) -> Self {
        Self { held, laid: None }
    }

    /// How many frames are held.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// Appends to `out` the frames from the `from`th on that are not about `user` (laid out:
    /// as one slice per run of consecutive ones); returns how many frames that is. `user` is
    /// the room's own copy of the id, the one held frames carry, so it is compared by address.
    pub(super) fn part_for(&self, from: usize, user: &UserId, out: &mut Vec<Frame>) -> usize {
        let mut frames = 0;
        let mut run: Option<usize> = None;
        for (at, (_, about)) in self.held.iter().enumerate().skip(from) {
            if Arc::ptr_eq(about, user) {
                self.push_run(run.take(), at, out);
                continue;
            }
            run.get_or_insert(at);
            frames += 1;
        }
        self.push_run(run, self.held.len(), out);
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
                out.push(Frame::raw(wire.slice(from..ends[end - 1])));
            }
            None => out.extend(self.held[start..end].iter().map(|(f, _)| f.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PresenceEvent, RoomName, ServerFrame, User};

    fn presence(user: &User) -> (Frame, UserId) {
        let room = RoomName::parse("r").expect("room");
        let frame = ServerFrame::Presence {
            room: &room,
            event: PresenceEvent::Join,
            user,
        }
        .encode();
        (frame, user.id.clone())
    }

    fn bytes(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.wire().to_vec()).collect()
    }

    #[test]
    fn a_part_is_the_frames_about_others_from_its_start_in_order() {
        let users: Vec<User> = (0..5).map(|i| User::new(format!("u{i}"), "x")).collect();
        let held: Vec<_> = [0, 1, 2, 1, 3, 4]
            .iter()
            .map(|&i| presence(&users[i]))
            .collect();
        for (wire, most_slices) in [
            (HeldWire::laid_out(&held), 3),
            (HeldWire::by_frame(&held), held.len()),
        ] {
            check_parts(&held, &users, &wire, most_slices);
        }
    }

    fn check_parts(held: &Held, users: &[User], wire: &HeldWire<'_>, most_slices: usize) {
        for from in 0..=held.len() {
            for user in users {
                let mut out = Vec::new();
                let frames = wire.part_for(from, &user.id, &mut out);
                let expected: Vec<Frame> = held[from..]
                    .iter()
                    .filter(|(_, about)| *about != user.id)
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
