//! The generator's monotonic clock. Every client lives in this process, so a send stamp taken
//! by one task and a receive time taken by another are read from the same `Instant` epoch and
//! their difference is the end-to-end latency, with no clock sync involved.

use std::time::{Duration, Instant};

/// A copyable handle on the process-wide epoch; stamps are microseconds since it.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// Starts a new epoch now. One per process run: stamps from different clocks don't compare.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Microseconds since the epoch.
    pub fn now_us(&self) -> u64 {
        self.us_at(Instant::now())
    }

    /// Microseconds from the epoch to `t` (0 for instants before it).
    pub fn us_at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The instant `us` microseconds after the epoch.
    pub fn instant_at(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
