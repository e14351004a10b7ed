//! Per-key rate limits: a token bucket for each key, refilled at the key's rate up to its
//! burst. A request takes a token; without one it is 429, told when the next one comes.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::problem::ApiError;

/// Buckets kept at most: the least recently used go first, and come back full.
const BUCKETS: usize = 65_536;

#[derive(Clone)]
pub struct RateLimits {
    /// `None`: no limit.
    rate_per_second: Option<f64>,
    burst: f64,
    buckets: Arc<Mutex<LruCache<String, Bucket>>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimits {
    /// A bucket of `burst` tokens per key, refilled at `rate_per_second`; a rate that is not a
    /// positive number limits nothing.
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        let capacity = NonZeroUsize::new(BUCKETS).unwrap_or(NonZeroUsize::MIN);
        Self {
            rate_per_second: (rate_per_second > 0.0).then_some(rate_per_second),
            burst: f64::from(burst.max(1)),
            buckets: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until there is one.
    pub fn take(&self, key: &str) -> Result<(), ApiError> {
        let Some(rate) = self.rate_per_second else {
            return Ok(());
        };
        self.take_at(key, rate, Instant::now())
            .map_err(|wait| ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
    }

    fn take_at(&self, key: &str, rate: f64, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let full = Bucket {
            tokens: self.burst,
            at: now,
        };
        let bucket = buckets.get_or_insert_mut(key.to_owned(), || full);
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_each_key_its_own_bucket() {
        let limits = RateLimits::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limits.take_at("a", 2.0, start).is_ok());
        }
        let wait = limits.take_at("a", 2.0, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limits.take_at("b", 2.0, start).is_ok(),
            "another key is unaffected"
        );
        assert!(
            limits.take_at("a", 2.0, start + wait).is_ok(),
            "one token after 1/rate"
        );
        assert!(limits.take_at("a", 2.0, start + wait).is_err());
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(
                limits.take_at("a", 2.0, later).is_ok(),
                "refilled up to the burst"
            );
        }
        assert!(limits.take_at("a", 2.0, later).is_err());
    }
}
