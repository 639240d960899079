//! The heartbeat registry: what each actor last did, read by `/ready`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::Recipient;
use serde::Serialize;

use crate::supervisor::{Ping, Stop};

#[derive(Clone, Default)]
pub struct Registry {
    entries: Arc<Mutex<BTreeMap<&'static str, Entry>>>,
    stops: Arc<Mutex<Vec<Recipient<Stop>>>>,
}

struct Entry {
    interval: Duration,
    started: Instant,
    last_ok: Option<Instant>,
    last_error: Option<String>,
    restarts: u64,
    /// Set by a panic, cleared by the next good tick.
    crashed: bool,
    leader: Option<bool>,
    disabled: bool,
    ping: Option<Recipient<Ping>>,
}

/// One `/ready` check for an actor.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
    #[serde(skip_serializing_if = "is_zero")]
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Check {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }

    fn failed(reason: impl Into<String>) -> Check {
        Check {
            status: "failed",
            reason: Some(reason.into()),
            disabled: None,
            leader: None,
            restarts: 0,
            last_error: None,
        }
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, Entry>> {
        // A poisoned lock only means a reader panicked mid-read; the map is
        // still consistent, so keep serving it.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, name: &'static str, interval: Duration, ping: Recipient<Ping>) {
        self.lock().insert(
            name,
            Entry {
                interval,
                started: Instant::now(),
                last_ok: None,
                last_error: None,
                restarts: 0,
                crashed: false,
                leader: None,
                disabled: false,
                ping: Some(ping),
            },
        );
    }

    /// A job switched off by configuration: reported as ok and disabled,
    /// never as failing forever.
    pub fn register_disabled(&self, name: &'static str) {
        self.lock().insert(
            name,
            Entry {
                interval: Duration::MAX,
                started: Instant::now(),
                last_ok: None,
                last_error: None,
                restarts: 0,
                crashed: false,
                leader: None,
                disabled: true,
                ping: None,
            },
        );
    }

    pub fn register_stop(&self, stop: Recipient<Stop>) {
        self.stops.lock().unwrap_or_else(|p| p.into_inner()).push(stop);
    }

    /// Stops every job actor: each finishes its tick in progress and gives
    /// back its leader lock. Returns how many had not finished by `timeout`.
    pub async fn stop_all(&self, timeout: Duration) -> usize {
        let stops: Vec<_> = self.stops.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let waits = stops.into_iter().map(|stop| async move {
            let (done, finished) = tokio::sync::oneshot::channel();
            if stop.send(Stop(done)).await.is_err() {
                return true;
            }
            tokio::time::timeout(timeout, finished).await.is_ok()
        });
        futures::future::join_all(waits)
            .await
            .into_iter()
            .filter(|ok| !ok)
            .count()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.lock().keys().copied().collect()
    }

    pub fn record_ok(&self, name: &str, leader: Option<bool>) {
        if let Some(e) = self.lock().get_mut(name) {
            e.last_ok = Some(Instant::now());
            e.last_error = None;
            e.crashed = false;
            e.leader = leader;
        }
    }

    pub fn record_error(&self, name: &str, error: String) {
        if let Some(e) = self.lock().get_mut(name) {
            e.last_error = Some(error);
        }
    }

    pub fn record_panic(&self, name: &str, message: String) {
        if let Some(e) = self.lock().get_mut(name) {
            e.crashed = true;
            e.last_error = Some(format!("panicked: {message}"));
        }
    }

    pub fn record_restart(&self, name: &str) {
        if let Some(e) = self.lock().get_mut(name) {
            e.restarts += 1;
        }
    }

    /// Judges an actor: dead (no answer to `Ping` within `timeout`), crashed
    /// (panicked and no good tick since) or stale (no good tick for three
    /// intervals) fail; anything else is ok.
    pub async fn check(&self, name: &str, timeout: Duration) -> Check {
        let (ping, verdict) = {
            let entries = self.lock();
            let Some(entry) = entries.get(name) else {
                return Check::failed(format!("{name} is not running"));
            };
            (entry.ping.clone(), judge(entry, Instant::now()))
        };
        if verdict.ok() {
            if let Some(ping) = ping {
                match tokio::time::timeout(timeout, ping.send(Ping)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Check::failed(format!("{name} actor is dead")),
                    Err(_) => {
                        return Check::failed(format!("{name} did not answer a ping within {}ms", timeout.as_millis()))
                    }
                }
            }
        }
        verdict
    }
}

fn judge(e: &Entry, now: Instant) -> Check {
    let mut check = Check {
        status: "ok",
        reason: None,
        disabled: e.disabled.then_some(true),
        leader: e.leader,
        restarts: e.restarts,
        last_error: e.last_error.clone(),
    };
    if e.disabled {
        return check;
    }
    let since = e.last_ok.unwrap_or(e.started);
    if e.crashed {
        check.status = "failed";
        check.reason = Some("restarted after a panic; no successful tick yet".into());
    } else if now.duration_since(since) > e.interval.saturating_mul(3) {
        check.status = "failed";
        check.reason = Some(format!(
            "stale: no successful tick for {}s",
            now.duration_since(since).as_secs()
        ));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(interval_s: u64) -> Entry {
        Entry {
            interval: Duration::from_secs(interval_s),
            started: Instant::now(),
            last_ok: None,
            last_error: None,
            restarts: 0,
            crashed: false,
            leader: None,
            disabled: false,
            ping: None,
        }
    }

    #[test]
    fn fresh_actor_is_ok_until_three_intervals_pass() {
        let e = entry(10);
        assert!(judge(&e, e.started + Duration::from_secs(29)).ok());
        let stale = judge(&e, e.started + Duration::from_secs(31));
        assert_eq!(stale.status, "failed");
        assert!(stale.reason.unwrap().starts_with("stale"));
    }

    #[test]
    fn crash_fails_until_a_good_tick() {
        let mut e = entry(10);
        e.crashed = true;
        e.restarts = 1;
        let c = judge(&e, Instant::now());
        assert_eq!(c.status, "failed");
        assert_eq!(c.restarts, 1);
        e.crashed = false;
        e.last_ok = Some(Instant::now());
        assert!(judge(&e, Instant::now()).ok());
    }

    #[test]
    fn disabled_is_ok_and_says_so() {
        let mut e = entry(10);
        e.disabled = true;
        let c = judge(&e, e.started + Duration::from_secs(3600));
        assert!(c.ok());
        assert_eq!(c.disabled, Some(true));
    }
}
