//! Uploads per user per minute: a token bucket per user, in a map bounded by
//! least-recent use.

use std::sync::Mutex;

use chat_ws::rate::TokenBucket;
use hashlink::LruCache;
use tokio::time::Instant;

/// Users whose buckets are remembered. The least recently seen is forgotten first; a user
/// forgotten after a quiet spell had a full bucket anyway.
const REMEMBERED_USERS: usize = 16_384;

/// `per_minute` uploads per user per minute, as many at once after a quiet minute.
#[derive(Debug)]
pub(crate) struct UploadRate {
    per_minute: u32,
    // Held for a lookup and a few sums, never across an await.
    buckets: Mutex<LruCache<String, TokenBucket>>,
}

impl UploadRate {
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(LruCache::new(REMEMBERED_USERS)),
        }
    }

    /// Takes one upload from `user`'s bucket; false when it is empty.
    pub(crate) fn take(&self, user: &str, now: Instant) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = match buckets.get_mut(user) {
            Some(bucket) => bucket,
            None => {
                buckets.insert(
                    user.to_owned(),
                    TokenBucket::per_minute(self.per_minute, now),
                );
                // Just inserted.
                buckets.get_mut(user).expect("present")
            }
        };
        bucket.try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_per_user_refilled_over_a_minute() {
        let rate = UploadRate::new(2);
        let start = Instant::now();
        assert!(rate.take("a", start));
        assert!(rate.take("a", start));
        assert!(!rate.take("a", start));
        assert!(rate.take("b", start));
        assert!(rate.take("a", start + Duration::from_secs(30)));
        assert!(!rate.take("a", start + Duration::from_secs(31)));
    }

    #[test]
    fn the_map_stays_bounded() {
        let rate = UploadRate::new(1);
        let now = Instant::now();
        for user in 0..REMEMBERED_USERS + 10 {
            rate.take(&user.to_string(), now);
        }
        assert_eq!(
            rate.buckets.lock().expect("not poisoned").len(),
            REMEMBERED_USERS
        );
    }
}
