//! Checks one member's view of a room's `seq`: the protocol promises every member sees
//! seq 1, 2, 3... of a room in order, each once. Each connection keeps its own checker as a
//! local variable and reports only the anomalies.

/// How many seqs below the highest one seen are remembered, to tell a duplicate from a late
/// (reordered) arrival. Older seqs are assumed seen, so they count as duplicates.
const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// What one observed seq means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqEvent {
    /// The next seq: highest seen + 1.
    InOrder,
    /// Seqs were skipped: `missing` of them between the previous highest and this one.
    Gap { missing: u64 },
    /// A seq already seen (or older than the join).
    Duplicate,
    /// A seq below the highest seen that had not arrived yet: it fills part of an earlier gap.
    Reorder,
}

/// Per-connection seq tracker, starting from the room's seq in `joined`.
#[derive(Clone, Debug)]
pub struct SeqChecker {
    /// Highest seq seen (the join's seq before any message).
    max: u64,
    /// Bit `s % WINDOW` says whether seq `s` in `(max - WINDOW, max]` has been seen.
    seen: [u64; WORDS],
}

impl SeqChecker {
    /// A checker for a member that joined when the room's latest seq was `joined_seq`:
    /// the next message it should see is `joined_seq + 1`.
    pub fn new(joined_seq: u64) -> Self {
        // Everything up to the join counts as seen: it was sequenced before we were a member.
        Self {
            max: joined_seq,
            seen: [u64::MAX; WORDS],
        }
    }

    /// The highest seq seen so far.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Classifies `seq` and remembers it.
    pub fn observe(&mut self, seq: u64) -> SeqEvent {
        if seq > self.max {
            let missing = seq - self.max - 1;
            // Clear the slots of the skipped seqs (they may hold bits from WINDOW seqs ago).
            for s in (self.max + 1)..seq.min(self.max + 1 + WINDOW) {
                self.set(s, false);
            }
            self.set(seq, true);
            self.max = seq;
            if missing == 0 {
                SeqEvent::InOrder
            } else {
                SeqEvent::Gap { missing }
            }
        } else if self.max - seq >= WINDOW || self.get(seq) {
            SeqEvent::Duplicate
        } else {
            self.set(seq, true);
            SeqEvent::Reorder
        }
    }

    fn get(&self, seq: u64) -> bool {
        let bit = seq % WINDOW;
        self.seen[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, seq: u64, on: bool) {
        let bit = seq % WINDOW;
        let word = &mut self.seen[(bit / 64) as usize];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_from_the_join() {
        let mut c = SeqChecker::new(57);
        for s in 58..3000 {
            assert_eq!(c.observe(s), SeqEvent::InOrder);
        }
        assert_eq!(c.max(), 2999);
    }

    #[test]
    fn gap_then_late_arrival_is_a_reorder() {
        let mut c = SeqChecker::new(0);
        assert_eq!(c.observe(1), SeqEvent::InOrder);
        assert_eq!(c.observe(4), SeqEvent::Gap { missing: 2 });
        assert_eq!(c.observe(3), SeqEvent::Reorder);
        assert_eq!(c.observe(2), SeqEvent::Reorder);
        assert_eq!(c.observe(5), SeqEvent::InOrder);
        // Arrived once already: now a duplicate.
        assert_eq!(c.observe(3), SeqEvent::Duplicate);
    }

    #[test]
    fn duplicates() {
        let mut c = SeqChecker::new(10);
        assert_eq!(c.observe(11), SeqEvent::InOrder);
        assert_eq!(c.observe(11), SeqEvent::Duplicate);
        // Older than the join.
        assert_eq!(c.observe(10), SeqEvent::Duplicate);
        assert_eq!(c.observe(3), SeqEvent::Duplicate);
    }

    #[test]
    fn slots_are_cleared_when_the_window_wraps() {
        let mut c = SeqChecker::new(0);
        for s in 1..=WINDOW {
            c.observe(s);
        }
        // Skip exactly one window's worth: seq WINDOW+1 .. 2*WINDOW-1 reuse old slots.
        assert_eq!(
            c.observe(2 * WINDOW + 5),
            SeqEvent::Gap {
                missing: WINDOW + 4
            }
        );
        assert_eq!(c.observe(2 * WINDOW), SeqEvent::Reorder);
        assert_eq!(c.observe(2 * WINDOW), SeqEvent::Duplicate);
        // Too old to remember: assumed seen.
        assert_eq!(c.observe(WINDOW + 2), SeqEvent::Duplicate);
    }
}
