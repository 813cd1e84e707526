//! A room's events on their way to the hub, in seq order with no gap: events come from this
//! node's own script calls and from the room's channel, in any order and some twice; each
//! seq goes out once, after every seq before it. A hole is filled from the room's stream by
//! the worker (at once when the channel skipped a seq, after a short wait when only this
//! node's own answer ran ahead of the channel).

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use chat_ws::log::Event;

/// Events waiting behind a hole, at most: past it the hole is filled at once.
const MAX_WAITING: usize = 10_000;

/// A room subscribed for its local members.
#[derive(Debug)]
pub(crate) struct Feed {
    /// The latest seq handed to the hub.
    last: u64,
    /// Events past a hole, by seq.
    waiting: BTreeMap<u64, Arc<Event>>,
    /// Since when a hole is open, and whether it must be filled now.
    hole: Option<(Instant, bool)>,
}

impl Feed {
    /// A room whose events up to `last` the hub has (or never needs).
    pub(crate) fn new(last: u64) -> Self {
        Self {
            last,
            waiting: BTreeMap::new(),
            hole: None,
        }
    }

    /// The latest seq handed to the hub: a catchup reflects exactly the events up to it.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Takes an event; puts what is now in order in `ready`. `urgent`: it came from the
    /// channel, which skipped something, so the hole is to be filled at once.
    pub(crate) fn offer(&mut self, event: Arc<Event>, urgent: bool, ready: &mut Vec<Arc<Event>>) {
        if event.seq <= self.last {
            return;
        }
        if event.seq == self.last + 1 {
            self.last = event.seq;
            ready.push(event);
            self.release(ready);
            return;
        }
        self.waiting.insert(event.seq, event);
        let urgent = urgent || self.waiting.len() > MAX_WAITING;
        let hole = self.hole.get_or_insert((Instant::now(), urgent));
        hole.1 |= urgent;
    }

    /// Moves what follows `last` without a hole to `ready`.
    fn release(&mut self, ready: &mut Vec<Arc<Event>>) {
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() > self.last + 1 {
                return;
            }
            let event = entry.remove();
            if event.seq == self.last + 1 {
                self.last = event.seq;
                ready.push(event);
            }
        }
        self.hole = None;
    }

    /// The hole to fill, as the seqs `(after, before)` missing between: `None` without one.
    pub(crate) fn hole(&self) -> Option<(u64, u64)> {
        let (&next, _) = self.waiting.first_key_value()?;
        Some((self.last, next))
    }

    /// Whether the hole is due for filling: urgent, or open since before `since`.
    pub(crate) fn hole_due(&self, opened_before: Instant) -> bool {
        self.hole
            .is_some_and(|(opened, urgent)| urgent || opened <= opened_before)
    }

    /// When the hole opened, if one is open.
    pub(crate) fn hole_opened(&self) -> Option<Instant> {
        self.hole.map(|(opened, _)| opened)
    }

    /// The fill failed (Redis away): the hole waits again before the next try.
    pub(crate) fn retry_later(&mut self) {
        if let Some(hole) = self.hole.as_mut() {
            *hole = (Instant::now(), false);
        }
    }

    /// What retention dropped from the hole will never come: go on after it.
    pub(crate) fn skip_hole(&mut self, ready: &mut Vec<Arc<Event>>) {
        if let Some((_, next)) = self.hole() {
            self.last = next - 1;
            self.release(ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_ws::{
        log::Draft,
        protocol::{RoomName, User},
    };

    use super::*;

    fn event(seq: u64) -> Arc<Event> {
        let room = RoomName::parse("r").expect("room");
        let draft = Draft::message(room, User::new("u", "u"), "x".into(), None);
        Arc::new(draft.sequence(seq, 0))
    }

    fn seqs(ready: &[Arc<Event>]) -> Vec<u64> {
        ready.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_go_out_once_in_seq_order() {
        let mut feed = Feed::new(4);
        let mut ready = Vec::new();
        feed.offer(event(4), true, &mut ready);
        feed.offer(event(5), true, &mut ready);
        feed.offer(event(7), false, &mut ready);
        assert_eq!(feed.hole(), Some((5, 7)));
        assert!(!feed.hole_due(Instant::now() - std::time::Duration::from_secs(1)));
        feed.offer(event(5), true, &mut ready);
        feed.offer(event(6), true, &mut ready);
        feed.offer(event(7), true, &mut ready);
        assert_eq!(seqs(&ready), [5, 6, 7]);
        assert_eq!(feed.hole(), None);
        assert_eq!(feed.last(), 7);
    }

    #[test]
    fn a_skip_on_the_channel_is_due_at_once_and_retention_lets_it_go() {
        let mut feed = Feed::new(0);
        let mut ready = Vec::new();
        feed.offer(event(3), true, &mut ready);
        feed.offer(event(4), true, &mut ready);
        assert!(ready.is_empty());
        assert!(feed.hole_due(Instant::now() - std::time::Duration::from_secs(1)));
        // The fill found seq 2 only; 1 was dropped by retention.
        feed.offer(event(2), false, &mut ready);
        feed.skip_hole(&mut ready);
        assert_eq!(seqs(&ready), [2, 3, 4]);
        assert_eq!(feed.hole(), None);
    }
}
