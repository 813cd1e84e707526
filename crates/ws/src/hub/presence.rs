//! When a room's presence goes out: at most once per window, the rest held until the window
//! ends (or until anything else goes to the room, which takes it along).
//!
//! Without it every join costs a write to every member, so a room of N filling up (a
//! reconnect storm after a restart) costs N² writes. The window grows with the room so that
//! its presence costs about [`PRESENCE_WRITES_PER_SEC`] writes: 250 ms up to 25 members, 1 s
//! at 100, 2 s from 200 on.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use crate::protocol::RoomName;

const PRESENCE_WRITES_PER_SEC: f64 = 100.0;
const MIN_PRESENCE_WINDOW: Duration = Duration::from_millis(250);
/// The longest a join or leave waits (in a quiet room: any other frame takes it along).
const MAX_PRESENCE_WINDOW: Duration = Duration::from_secs(2);

/// The rooms whose presence is held back, with when each goes out, earliest first.
#[derive(Debug, Default)]
pub(super) struct PresenceClock {
    due: VecDeque<(Instant, RoomName)>,
}

/// How long a room of `members` waits between two presence writes.
pub(super) fn presence_window(members: usize) -> Duration {
    let paced = Duration::from_secs(1).mul_f64(members as f64 / PRESENCE_WRITES_PER_SEC);
    paced.clamp(MIN_PRESENCE_WINDOW, MAX_PRESENCE_WINDOW)
}

impl PresenceClock {
    /// When presence sent at `sent` to a room of `members` may go out again, if that is
    /// after `now`: then a new frame is held until that time.
    pub(super) fn held_until(
        sent: Option<Instant>,
        members: usize,
        now: Instant,
    ) -> Option<Instant> {
        let open_until = sent? + presence_window(members);
        (now < open_until).then_some(open_until)
    }

    /// Holds the room's presence until `at`.
    pub(super) fn hold(&mut self, at: Instant, room: RoomName) {
        self.due.push_back((at, room));
    }

    /// When the next held presence goes out.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.front().map(|(at, _)| *at)
    }

    /// The next room whose presence is due by `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> Option<RoomName> {
        if self.due.front().is_some_and(|(at, _)| *at <= now) {
            return self.due.pop_front().map(|(_, room)| room);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_window_grows_with_the_room_within_its_bounds() {
        assert_eq!(presence_window(1), MIN_PRESENCE_WINDOW);
        assert_eq!(presence_window(100), Duration::from_secs(1));
        assert_eq!(presence_window(100_000), MAX_PRESENCE_WINDOW);
        let mut last = Duration::ZERO;
        for members in 0..500 {
            let window = presence_window(members);
            assert!(window >= last, "shrinks at {members} members");
            last = window;
        }
    }
}
