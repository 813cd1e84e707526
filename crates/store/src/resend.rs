use std::{collections::VecDeque, hash::BuildHasher};

use foldhash::{HashMap, fast::RandomState};

/// The resend rule's window: a `send` id repeats a message among the room's last
/// `WINDOW_MESSAGES` messages or sent within the last `WINDOW_MS`.
pub(crate) const WINDOW_MESSAGES: u64 = 1_000;
pub(crate) const WINDOW_MS: u64 = 10 * 60 * 1_000;

/// One room's recent client ids → seq, for the resend rule.
///
/// Amortized O(1) per message: ids enter in seq order and leave from the front once they are
/// both more than 1,000 messages and more than 10 minutes old. The window is ten minutes of a
/// busy room's messages, so an entry keeps a 64-bit hash of the id (seeded at random, so that
/// nobody can aim a collision), not the id: about 60 bytes a message instead of 140. What it
/// finds is a candidate, which the caller checks against the stored message's own id; two ids
/// with one hash cost at worst a resend stored twice.
#[derive(Debug, Default)]
pub(crate) struct ResendIndex {
    hasher: RandomState,
    by_hash: HashMap<u64, u64>,
    /// `(seq, ts, hash)`, oldest first.
    order: VecDeque<(u64, u64, u64)>,
}

impl ResendIndex {
    /// Remembers that `client_id` was stored as `seq` at `ts` (the room's latest message).
    pub(crate) fn insert(&mut self, client_id: &str, seq: u64, ts: u64) {
        self.expire(seq, ts);
        let hash = self.hasher.hash_one(client_id);
        self.by_hash.insert(hash, seq);
        self.order.push_back((seq, ts, hash));
    }

    /// The seq of the message that may have been stored under `client_id`, if it is still
    /// inside the window at `now_ms`, given the room's latest seq `last_seq`. The caller
    /// checks the message's id.
    pub(crate) fn find(&mut self, client_id: &str, last_seq: u64, now_ms: u64) -> Option<u64> {
        self.expire(last_seq, now_ms);
        self.by_hash.get(&self.hasher.hash_one(client_id)).copied()
    }

    fn expire(&mut self, last_seq: u64, now_ms: u64) {
        while let Some(&(seq, ts, hash)) = self.order.front() {
            if in_window(seq, ts, last_seq, now_ms) {
                break;
            }
            self.order.pop_front();
            // A later message may reuse the id; only forget the entry this one made.
            if self.by_hash.get(&hash) == Some(&seq) {
                self.by_hash.remove(&hash);
            }
        }
        if self.order.capacity() > 64 && self.order.len() < self.order.capacity() / 4 {
            // After a busy spell: give the memory back.
            self.order.shrink_to(self.order.len() * 2);
            self.by_hash.shrink_to(self.by_hash.len() * 2);
        }
    }
}

/// Whether a message stored as `seq` at `ts` still counts for the resend rule, given the
/// room's latest seq and the time now.
pub(crate) fn in_window(seq: u64, ts: u64, last_seq: u64, now_ms: u64) -> bool {
    let old_by_count = last_seq.saturating_sub(seq) >= WINDOW_MESSAGES;
    let old_by_time = now_ms.saturating_sub(ts) > WINDOW_MS;
    !(old_by_count && old_by_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_recent_ids() {
        let mut index = ResendIndex::default();
        index.insert("a", 1, 0);
        assert_eq!(index.find("a", 1, 0), Some(1));
        assert_eq!(index.find("b", 1, 0), None);
    }

    #[test]
    fn keeps_ids_within_1000_messages_even_when_old() {
        let mut index = ResendIndex::default();
        index.insert("a", 1, 0);
        assert_eq!(index.find("a", 1_000, WINDOW_MS * 2), Some(1));
        assert_eq!(index.find("a", 1_001, WINDOW_MS * 2), None);
    }

    #[test]
    fn keeps_ids_within_10_minutes_even_after_many_messages() {
        let mut index = ResendIndex::default();
        index.insert("a", 1, 0);
        assert_eq!(index.find("a", 50_000, WINDOW_MS), Some(1));
        assert_eq!(index.find("a", 50_000, WINDOW_MS + 1), None);
    }
}
