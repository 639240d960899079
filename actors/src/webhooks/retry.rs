//! What an attempt's result means for the delivery: done, try again later
//! (exponential backoff with jitter, at most the attempt limit), or give up.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    /// Worth retrying: 429, 5xx, a timeout or a connection failure.
    Retry,
    /// The receiver refused it for good (3xx, since redirects are not
    /// followed, and other 4xx).
    Abandon,
}

/// `status` is None when no response came back.
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Succeeded,
        Some(429) | Some(500..=599) | None => Verdict::Retry,
        Some(_) => Verdict::Abandon,
    }
}

/// The stored status after `attempts` attempts ending in `verdict`.
pub fn status(verdict: Verdict, attempts: i32, max_attempts: i32) -> &'static str {
    match verdict {
        Verdict::Succeeded => "succeeded",
        Verdict::Abandon => "abandoned",
        Verdict::Retry if attempts >= max_attempts => "dlq",
        Verdict::Retry => "failed_retrying",
    }
}

/// Wait before the next attempt after `attempts` failed ones: `min · 2^(n-1)`
/// capped at `max`, then "equal jitter" (half fixed, half random, `unit` in
/// 0..1) so receivers recovering from an outage are not hit in lockstep.
/// A `Retry-After` the receiver asked for is honoured up to `max`.
pub fn backoff(attempts: i32, min: Duration, max: Duration, retry_after: Option<Duration>, unit: f64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let base = min.saturating_mul(1u32 << exp).min(max);
    let jittered = base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0));
    match retry_after {
        Some(asked) => jittered.max(asked.min(max)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_verdicts() {
        assert_eq!(verdict(Some(200)), Verdict::Succeeded);
        assert_eq!(verdict(Some(204)), Verdict::Succeeded);
        assert_eq!(verdict(Some(500)), Verdict::Retry);
        assert_eq!(verdict(Some(503)), Verdict::Retry);
        assert_eq!(verdict(Some(429)), Verdict::Retry);
        assert_eq!(verdict(None), Verdict::Retry);
        assert_eq!(verdict(Some(301)), Verdict::Abandon);
        assert_eq!(verdict(Some(404)), Verdict::Abandon);
        assert_eq!(status(Verdict::Retry, 7, 8), "failed_retrying");
        assert_eq!(status(Verdict::Retry, 8, 8), "dlq");
        assert_eq!(status(Verdict::Abandon, 1, 8), "abandoned");
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(3600));
        assert_eq!(backoff(1, min, max, None, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(1, min, max, None, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(4, min, max, None, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(40, min, max, None, 1.0), max);
        assert_eq!(backoff(40, min, max, None, 0.0), max / 2);
        assert_eq!(
            backoff(1, min, max, Some(Duration::from_secs(30)), 0.0),
            Duration::from_secs(30)
        );
        assert_eq!(backoff(1, min, max, Some(Duration::from_secs(86_400)), 0.0), max);
    }
}
