//! The live measurements that every client task writes into while a phase runs: counters as
//! atomics, latencies in HDR histograms (one per runtime worker, so a multi-thread runtime
//! does not serialise on one lock, and a current-thread one keeps a single histogram's hot
//! buckets in cache), and rare events (close codes, error codes) in a small map. A phase
//! resets it, runs, then takes a [`Snapshot`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;

use crate::clock::Clock;

/// Latencies are recorded in microseconds up to an hour, to 3 significant digits.
const MAX_LATENCY_US: u64 = 3_600_000_000;
const SIG_FIGS: u8 = 3;

/// Counters that start again from zero in each phase.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages written by senders whose stamp is inside the measured window.
    pub published: AtomicU64,
    /// Of those, changes (`edit`, `react`) to a message sent before.
    pub changes: AtomicU64,
    /// Deliveries those messages should make: each counts the members of its room.
    pub expected: AtomicU64,
    /// Deliveries received whose stamp is inside the window (the latencies recorded).
    pub received: AtomicU64,
    /// Every `message` frame received, measured or not (progress only).
    pub frames: AtomicU64,
    /// Gap events and the seqs they skipped, duplicates and late (reordered) arrivals.
    pub gaps: AtomicU64,
    pub missing: AtomicU64,
    pub duplicates: AtomicU64,
    pub reorders: AtomicU64,
    /// Scheduled messages the pacer could not hand to their sender (its queue was full or
    /// the sender was gone): offered but never published.
    pub not_dispatched: AtomicU64,
    /// Sends that failed to be written to the socket.
    pub send_errors: AtomicU64,
}

/// Shared by all client tasks and the phase driver.
#[derive(Debug)]
pub struct Live {
    /// The epoch stamps and receive times share.
    pub clock: Clock,
    /// The measured window, in clock microseconds: `[start, end)`.
    window_start: AtomicU64,
    window_end: AtomicU64,
    /// This phase's counters.
    pub counters: Counters,
    /// Joined members per room (not decremented on disconnect: a member that left still
    /// counts as expected, so what it misses shows up as loss).
    members: Vec<AtomicU64>,
    /// Latency shards; clients pick one by index.
    hist: Vec<Mutex<Histogram<u64>>>,
    /// Close codes, errors frames and disconnect causes, by label.
    events: Mutex<BTreeMap<String, u64>>,
}

/// What a phase measured, read after it ended.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub published: u64,
    pub changes: u64,
    pub expected: u64,
    pub received: u64,
    pub gaps: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub reorders: u64,
    pub not_dispatched: u64,
    pub send_errors: u64,
    pub latency: Histogram<u64>,
    pub events: BTreeMap<String, u64>,
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // Holds: the bounds are constants that hdrhistogram accepts (low 1, high >= 2 * low,
    // significant figures <= 5); the unit tests build one.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIG_FIGS).expect("constant histogram bounds")
}

impl Live {
    /// Empty measurements for `rooms` rooms, with no window open yet, for a runtime of
    /// `workers` threads. One histogram per worker: with sixteen on one thread, their hot
    /// buckets did not fit in the cache and recording was 7% of the generator's CPU.
    pub fn new(clock: Clock, rooms: usize, workers: usize) -> Self {
        Self {
            clock,
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            counters: Counters::default(),
            members: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            hist: (0..workers.max(1))
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            events: Mutex::new(BTreeMap::new()),
        }
    }

    /// Zeroes the counters, histograms and events and opens the window `[start_us, end_us)`.
    /// Call before the phase's first send: late deliveries of an earlier phase fall outside.
    pub fn begin(&self, start_us: u64, end_us: u64) {
        // Close the window first, so a late delivery of the last phase cannot land in the
        // counters between their reset and the new window.
        self.window_start.store(u64::MAX, Relaxed);
        self.window_end.store(u64::MAX, Relaxed);
        let c = &self.counters;
        for a in [
            &c.published,
            &c.changes,
            &c.expected,
            &c.received,
            &c.frames,
            &c.gaps,
            &c.missing,
            &c.duplicates,
            &c.reorders,
            &c.not_dispatched,
            &c.send_errors,
        ] {
            a.store(0, Relaxed);
        }
        for h in &self.hist {
            lock(h).reset();
        }
        lock(&self.events).clear();
        self.window_start.store(start_us, Relaxed);
        self.window_end.store(end_us, Relaxed);
    }

    /// Whether a message stamped `stamp_us` is measured.
    pub fn in_window(&self, stamp_us: u64) -> bool {
        stamp_us >= self.window_start.load(Relaxed) && stamp_us < self.window_end.load(Relaxed)
    }

    /// Records one measured delivery's latency for client `client`.
    pub fn record_latency(&self, client: usize, latency_us: u64) {
        lock(&self.hist[client % self.hist.len()]).saturating_record(latency_us.max(1));
        self.counters.received.fetch_add(1, Relaxed);
    }

    /// Counts one more joined member of `room`.
    pub fn add_member(&self, room: usize) {
        if let Some(m) = self.members.get(room) {
            m.fetch_add(1, Relaxed);
        }
    }

    /// Joined members of `room`.
    pub fn members(&self, room: usize) -> u64 {
        self.members.get(room).map_or(0, |m| m.load(Relaxed))
    }

    /// Counts one event (`close 1000`, `error rate_limited`, `eof`...).
    pub fn event(&self, label: impl Into<String>) {
        *lock(&self.events).entry(label.into()).or_insert(0) += 1;
    }

    /// Reads everything measured since [`Live::begin`].
    pub fn snapshot(&self) -> Snapshot {
        let mut latency = new_histogram();
        for h in &self.hist {
            // Same bounds on both sides, so adding cannot fail.
            let _ = latency.add(&*lock(h));
        }
        let c = &self.counters;
        Snapshot {
            published: c.published.load(Relaxed),
            changes: c.changes.load(Relaxed),
            expected: c.expected.load(Relaxed),
            received: c.received.load(Relaxed),
            gaps: c.gaps.load(Relaxed),
            missing: c.missing.load(Relaxed),
            duplicates: c.duplicates.load(Relaxed),
            reorders: c.reorders.load(Relaxed),
            not_dispatched: c.not_dispatched.load(Relaxed),
            send_errors: c.send_errors.load(Relaxed),
            latency,
            events: lock(&self.events).clone(),
        }
    }
}

/// Locks a mutex, going on with the data if a panicking task poisoned it: the data are plain
/// counts, and a panic is reported by its task anyway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_and_reset() {
        let live = Live::new(Clock::new(), 2, 3);
        live.begin(100, 200);
        assert!(!live.in_window(99));
        assert!(live.in_window(100));
        assert!(!live.in_window(200));
        for (i, lat) in [10, 20, 30, 4000].into_iter().enumerate() {
            live.record_latency(i, lat);
        }
        live.event("close 1000");
        live.event("close 1000");
        live.add_member(1);
        let s = live.snapshot();
        assert_eq!(s.received, 4);
        assert_eq!(s.latency.len(), 4);
        // Within the 3-digit bucket of 4000.
        assert!((4000..4005).contains(&s.latency.max()));
        assert_eq!(s.events.get("close 1000"), Some(&2));
        assert_eq!(
            (live.members(0), live.members(1), live.members(9)),
            (0, 1, 0)
        );
        live.begin(300, 400);
        let s = live.snapshot();
        assert_eq!((s.received, s.latency.len(), s.events.len()), (0, 0, 0));
        // Members are kept across phases.
        assert_eq!(live.members(1), 1);
    }
}
