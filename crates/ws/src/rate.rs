//! A token bucket, the rate limit of a connection's frames and of a user's uploads.

use tokio::time::Instant;

/// A token bucket: `burst` at once, refilled at `per_sec` per second.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// Full at `now`.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        Self::with_rate(f64::from(per_sec.max(1)), burst, now)
    }

    /// `per_minute` per minute, as many at once after a quiet minute; full at `now`.
    pub fn per_minute(per_minute: u32, now: Instant) -> Self {
        Self::with_rate(f64::from(per_minute.max(1)) / 60.0, per_minute, now)
    }

    fn with_rate(per_sec: f64, burst: u32, now: Instant) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            per_sec,
            tokens: f64::from(burst.max(1)),
            refilled: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert_eq!(
            (0..4)
                .map(|_| bucket.try_take(start))
                .filter(|ok| *ok)
                .count(),
            3
        );
        // 100 ms at 10/s refills exactly one token.
        let later = start + Duration::from_millis(100);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn never_holds_more_than_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 2, start);
        let much_later = start + Duration::from_secs(60);
        assert_eq!(
            (0..5)
                .map(|_| bucket.try_take(much_later))
                .filter(|ok| *ok)
                .count(),
            2
        );
    }

    #[test]
    fn per_minute_refills_over_a_minute() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_minute(2, start);
        assert!(bucket.try_take(start));
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_secs(30)));
        assert!(!bucket.try_take(start + Duration::from_secs(31)));
    }
}
