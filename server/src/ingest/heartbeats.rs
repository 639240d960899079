//! Agent liveness from the SDK's `strathon.heartbeat` spans, kept in memory
//! per (project, agent): heartbeats are never stored as spans.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::convert::Heartbeat;

#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub last_seen: DateTime<Utc>,
    pub code_hash: Option<String>,
    pub sdk_version: Option<String>,
    /// Set when a beat arrives with a different code hash than the last one.
    pub code_changed: bool,
}

#[derive(Default)]
pub struct Heartbeats {
    agents: Mutex<HashMap<(Uuid, String), Liveness>>,
}

impl Heartbeats {
    pub fn record(&self, project_id: Uuid, beat: &Heartbeat, at: DateTime<Utc>) {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let entry = agents
            .entry((project_id, beat.agent_name.clone()))
            .or_insert_with(|| Liveness {
                last_seen: at,
                code_hash: beat.code_hash.clone(),
                sdk_version: beat.sdk_version.clone(),
                code_changed: false,
            });
        entry.code_changed = entry.code_hash.is_some() && beat.code_hash.is_some() && entry.code_hash != beat.code_hash;
        entry.last_seen = at;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(agent: &str, hash: &str) -> Heartbeat {
        Heartbeat {
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
}
