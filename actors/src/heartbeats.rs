//! Agent liveness from the SDK's `strathon.heartbeat` spans (every 30 s),
//! kept in memory per (project, agent): heartbeats are never stored. The
//! watch job (`heartbeat_watch_task`) raises `heartbeat_missed` once when an
//! agent that was beating goes quiet for longer than the timeout, and again
//! only after it has come back.
//!
//! Memory is per replica: an agent whose beats reach another replica is
//! watched there, and a restart forgets everyone until their next beat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use serde_json::json;
use strathon_schema::{webhooks, DbPool};
use uuid::Uuid;

use crate::{Job, JobError};

/// What one heartbeat span says.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    pub agent_name: String,
    pub code_hash: Option<String>,
    pub sdk_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub last_seen: DateTime<Utc>,
    pub code_hash: Option<String>,
    pub sdk_version: Option<String>,
    /// Set when a beat arrives with a different code hash than the last one.
    pub code_changed: bool,
    /// `heartbeat_missed` was raised and the agent has not beaten since.
    pub missed: bool,
}

#[derive(Default)]
pub struct Heartbeats {
    agents: Mutex<HashMap<(Uuid, String), Liveness>>,
}

impl Heartbeats {
    pub fn record(&self, project_id: Uuid, beat: &Beat, at: DateTime<Utc>) {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let entry = agents
            .entry((project_id, beat.agent_name.clone()))
            .or_insert_with(|| Liveness {
                last_seen: at,
                code_hash: beat.code_hash.clone(),
                sdk_version: beat.sdk_version.clone(),
                code_changed: false,
                missed: false,
            });
        entry.code_changed = entry.code_hash.is_some() && beat.code_hash.is_some() && entry.code_hash != beat.code_hash;
        entry.last_seen = at;
        entry.missed = false;
        entry.code_hash = beat.code_hash.clone().or(entry.code_hash.take());
        entry.sdk_version = beat.sdk_version.clone().or(entry.sdk_version.take());
    }

    pub fn for_project(&self, project_id: Uuid) -> Vec<(String, Liveness)> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<_> = agents
            .iter()
            .filter(|((p, _), _)| *p == project_id)
            .map(|((_, a), l)| (a.clone(), l.clone()))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Agents silent since before `deadline` that have not been reported.
    pub fn overdue(&self, deadline: DateTime<Utc>) -> Vec<(Uuid, String, DateTime<Utc>)> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents
            .iter()
            .filter(|(_, l)| !l.missed && l.last_seen < deadline)
            .map(|((p, a), l)| (*p, a.clone(), l.last_seen))
            .collect()
    }

    /// Marks a report as made, unless the agent beat again meanwhile.
    pub fn mark_missed(&self, project_id: Uuid, agent: &str, last_seen: DateTime<Utc>) {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = agents.get_mut(&(project_id, agent.to_owned())) {
            if l.last_seen == last_seen {
                l.missed = true;
            }
        }
    }
}

pub struct HeartbeatWatch {
    pub pool: DbPool,
    pub heartbeats: Arc<Heartbeats>,
    pub timeout: Duration,
}

impl Job for HeartbeatWatch {
    fn name(&self) -> &'static str {
        "heartbeat_watch_task"
    }

    /// A quarter of the timeout: a missed beat is reported at most 25 % late.
    fn interval(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_secs(1))
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let heartbeats = self.heartbeats.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let now = Utc::now();
            let deadline = now - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
            let overdue = heartbeats.overdue(deadline);
            if overdue.is_empty() {
                return Ok(());
            }
            let mut conn = pool.get().await?;
            for (project_id, agent, last_seen) in overdue {
                let payload = json!({
                    "agent_name": agent,
                    "last_heartbeat": last_seen,
                    "silent_seconds": (now - last_seen).num_seconds(),
                    "timeout_seconds": timeout.as_secs(),
                });
                webhooks::enqueue(&mut conn, project_id, "heartbeat_missed", &payload).await?;
                heartbeats.mark_missed(project_id, &agent, last_seen);
                tracing::warn!(%project_id, agent = %agent, "agent heartbeat missed");
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(agent: &str, hash: &str) -> Beat {
        Beat {
            agent_name: agent.into(),
            code_hash: Some(hash.into()),
            sdk_version: Some("1.4.0".into()),
        }
    }

    #[test]
    fn tracks_per_project_and_flags_code_changes() {
        let hb = Heartbeats::default();
        let (p1, p2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let t0 = Utc::now();
        hb.record(p1, &beat("a", "h1"), t0);
        hb.record(p2, &beat("a", "h9"), t0);
        hb.record(p1, &beat("a", "h1"), t0);
        assert!(!hb.for_project(p1)[0].1.code_changed);
        hb.record(p1, &beat("a", "h2"), t0);
        let seen = hb.for_project(p1);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].1.code_changed);
        assert_eq!(hb.for_project(p2)[0].1.code_hash.as_deref(), Some("h9"));
    }

    #[test]
    fn a_silent_agent_is_overdue_once_until_it_beats_again() {
        let hb = Heartbeats::default();
        let p = Uuid::from_u128(1);
        let t0 = Utc::now() - chrono::Duration::seconds(300);
        hb.record(p, &beat("quiet", "h"), t0);
        hb.record(p, &beat("lively", "h"), Utc::now());
        let deadline = Utc::now() - chrono::Duration::seconds(120);
        let overdue = hb.overdue(deadline);
        assert_eq!(overdue, vec![(p, "quiet".to_owned(), t0)]);
        hb.mark_missed(p, "quiet", t0);
        assert!(hb.overdue(deadline).is_empty(), "reported once");
        hb.record(p, &beat("quiet", "h"), Utc::now());
        assert!(!hb.for_project(p)[1].1.missed, "back again");
        // A beat between the scan and the mark wins.
        let t1 = Utc::now() - chrono::Duration::seconds(200);
        hb.record(p, &beat("late", "h"), t1);
        hb.record(p, &beat("late", "h"), Utc::now());
        hb.mark_missed(p, "late", t1);
        assert!(!hb.for_project(p)[0].1.missed);
    }
}
