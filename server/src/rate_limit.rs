//! Per-identifier token buckets, in memory and per process.
//!
//! A bucket that has refilled to capacity is indistinguishable from a new
//! one, so evicting full buckets loses nothing: memory stays proportional to
//! the callers active within one refill period, however many identifiers an
//! abuser invents.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, PartialEq)]
pub enum Decision {
    Allowed { remaining: u64 },
    Limited { retry_after_secs: u64 },
}

pub struct RateLimiter {
    capacity: f64,
    refill_per_sec: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    last_prune: Mutex<Instant>,
}

/// How often eviction runs at most; it is opportunistic on a request.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

impl RateLimiter {
    pub fn new(capacity: u32, refill_per_sec: f64) -> Self {
        RateLimiter {
            capacity: f64::from(capacity),
            refill_per_sec,
            buckets: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity as u64
    }

    pub fn check(&self, key: &str, now: Instant) -> Decision {
        self.maybe_prune(now);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_sec).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allowed {
                remaining: bucket.tokens.floor() as u64,
            }
        } else {
            let wait = (1.0 - bucket.tokens) / self.refill_per_sec;
            Decision::Limited {
                retry_after_secs: (wait.ceil() as u64).max(1),
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn maybe_prune(&self, now: Instant) {
        {
            let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            if now.saturating_duration_since(*last) < PRUNE_EVERY {
                return;
            }
            *last = now;
        }
        self.prune(now);
    }

    /// Drops every bucket that would be full by now.
    pub fn prune(&self, now: Instant) {
        let (capacity, rate) = (self.capacity, self.refill_per_sec);
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(3, 1.0);
        let t0 = Instant::now();
        assert_eq!(limiter.check("k", t0), Decision::Allowed { remaining: 2 });
        assert_eq!(limiter.check("k", t0), Decision::Allowed { remaining: 1 });
        assert_eq!(limiter.check("k", t0), Decision::Allowed { remaining: 0 });
        assert_eq!(limiter.check("k", t0), Decision::Limited { retry_after_secs: 1 });
        // Other identifiers have their own bucket.
        assert_eq!(limiter.check("other", t0), Decision::Allowed { remaining: 2 });
        assert_eq!(
            limiter.check("k", t0 + Duration::from_millis(1100)),
            Decision::Allowed { remaining: 0 }
        );
    }

    #[test]
    fn retry_after_rounds_up_the_deficit() {
        let limiter = RateLimiter::new(1, 0.25);
        let t0 = Instant::now();
        limiter.check("k", t0);
        assert_eq!(limiter.check("k", t0), Decision::Limited { retry_after_secs: 4 });
    }

    #[test]
    fn full_buckets_are_evicted_and_memory_stays_bounded() {
        let limiter = RateLimiter::new(200, 100.0);
        let t0 = Instant::now();
        for i in 0..10_000 {
            limiter.check(&format!("caller-{i}"), t0);
        }
        assert_eq!(limiter.len(), 10_000);
        // 1 token spent, refilled after 10 ms: all are full again by then.
        limiter.prune(t0 + Duration::from_millis(20));
        assert_eq!(limiter.len(), 0);
        // A drained caller is kept until it has refilled.
        for _ in 0..150 {
            limiter.check("busy", t0);
        }
        limiter.prune(t0 + Duration::from_millis(20));
        assert_eq!(limiter.len(), 1);
    }
}
