//! The send schedule: message `k` (from 0) is due `k / rate` seconds after the start.
//!
//! Deadlines are absolute, so pacing never drifts however late a wake-up is: the pacer sleeps
//! until the next message's deadline, wakes on the timer's (coarse, ~1 ms) tick, and sends
//! every message due by then in one batch. Rates are held in milli-messages per second and
//! the arithmetic is integer, so `due_by(offset(k))` always counts message `k`.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// The rate is kept in thousandths of a message per second.
const MILLI: u128 = 1_000;

/// A fixed-rate schedule of `total` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Messages per second × 1000 (so 86.4 msg/s is 86_400).
    rate_milli: u64,
    /// How many messages the schedule holds.
    total: u64,
}

impl Schedule {
    /// A schedule at `rate` msg/s that lasts `length`: every message due before its end.
    /// Rates below 0.001 msg/s are raised to that.
    pub fn new(rate: f64, length: Duration) -> Self {
        let rate_milli = ((rate * 1000.0).round() as u64).max(1);
        // Messages k with k/rate < length: ceil(length * rate).
        let num = length.as_nanos() * u128::from(rate_milli);
        let den = NANOS_PER_SEC * MILLI;
        let total = u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX);
        Self { rate_milli, total }
    }

    /// The rate in messages per second.
    pub fn rate(&self) -> f64 {
        self.rate_milli as f64 / 1000.0
    }

    /// How many messages the schedule holds.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When message `k` is due, from the start of the schedule.
    pub fn offset(&self, k: u64) -> Duration {
        let nanos = u128::from(k) * NANOS_PER_SEC * MILLI / u128::from(self.rate_milli);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many messages are due `elapsed` after the start: the count of `k < total` with
    /// `offset(k) <= elapsed`.
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        // offset(k) = floor(k * 1e12 / r) <= t  <=>  k * 1e12 < (t + 1) * r.
        let bound = (elapsed.as_nanos() + 1) * u128::from(self.rate_milli);
        let count = bound.div_ceil(NANOS_PER_SEC * MILLI);
        u64::try_from(count).unwrap_or(u64::MAX).min(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_covers_the_length() {
        assert_eq!(Schedule::new(100.0, Duration::from_secs(10)).total(), 1000);
        assert_eq!(Schedule::new(86.4, Duration::from_secs(5)).total(), 432);
        // 1.5 msg/s over 1 s: messages at 0 and 0.667 s.
        assert_eq!(Schedule::new(1.5, Duration::from_secs(1)).total(), 2);
    }

    #[test]
    fn offsets_are_evenly_spaced() {
        let s = Schedule::new(1000.0, Duration::from_secs(1));
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_millis(1));
        assert_eq!(s.offset(999), Duration::from_millis(999));
        let s = Schedule::new(3.0, Duration::from_secs(1));
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
    }

    #[test]
    fn due_by_agrees_with_offset_for_every_message() {
        for rate in [0.5, 1.0, 7.0, 86.4, 100.0, 1234.5, 1e6] {
            let s = Schedule::new(rate, Duration::from_secs(2));
            for k in (0..s.total()).step_by(97) {
                let at = s.offset(k);
                assert_eq!(s.due_by(at), k + 1, "rate {rate} k {k}");
                if at > Duration::ZERO {
                    assert_eq!(
                        s.due_by(at - Duration::from_nanos(1)),
                        k,
                        "rate {rate} k {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_late_wake_up_batches_without_drift() {
        // 10k msg/s woken on a 1 ms tick: 10 per tick, and a 5 ms stall catches up at once.
        let s = Schedule::new(10_000.0, Duration::from_secs(1));
        assert_eq!(s.due_by(Duration::from_millis(1)), 11);
        assert_eq!(s.due_by(Duration::from_millis(2)), 21);
        assert_eq!(s.due_by(Duration::from_millis(7)), 71);
        assert_eq!(s.due_by(Duration::from_secs(5)), s.total());
    }

    #[test]
    fn tiny_rates_are_clamped() {
        let s = Schedule::new(0.0, Duration::from_secs(1));
        assert_eq!(s.rate(), 0.001);
        assert_eq!(s.total(), 1);
    }
}
