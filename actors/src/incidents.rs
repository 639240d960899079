//! Incident detection (`incident_detector_task`): on the leader only, each
//! tick counts every project's blocked calls and each agent's error spans
//! over a sliding window. Past a threshold an incident opens and is
//! announced once as an `incident` event (durable, signed webhook
//! deliveries, queued in the transaction that opens it); it stays open, and
//! quiet, while the burst lasts, and is resolved by the first tick that
//! finds it over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use futures::future::LocalBoxFuture;
use serde_json::{json, Value};
use strathon_schema::detectors::{self, Incident};
use strathon_schema::{webhooks, DbPool};
use uuid::Uuid;

use crate::{Job, JobError};

pub const NAME: &str = "incident_detector_task";
/// Leadership lock ("StraInci").
pub const LOCK_ID: i64 = 0x5374_7261_496e_6369;

pub const BLOCK_SPIKE: &str = "policy_block_spike";
pub const ERROR_SPIKE: &str = "agent_error_spike";

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub window: Duration,
    pub blocks: i64,
    pub errors: i64,
}

pub struct IncidentDetector {
    pub pool: DbPool,
    pub interval: Duration,
    pub thresholds: Thresholds,
}

/// The event announcing an incident, with what an operator needs to act and
/// the EU AI Act's serious-incident reporting clock (article 73: 15 days, 2
/// for critical ones).
pub fn payload(i: &Incident, t: &Thresholds) -> Value {
    let days = if i.severity == "critical" { 2 } else { 15 };
    let deadline: DateTime<Utc> = i.detected_at + chrono::Duration::days(days);
    let (summary, actions): (String, Vec<&str>) = match i.trigger.as_str() {
        BLOCK_SPIKE => (
            format!("{} calls blocked by policy in {} s", i.count, t.window.as_secs()),
            vec![
                "Review the blocked calls in the traces and the matching policies",
                "Check whether an agent is being steered by injected instructions",
                "Halt the agent if the attempts continue",
            ],
        ),
        _ => (
            format!(
                "agent '{}' produced {} error spans in {} s",
                i.agent_name,
                i.count,
                t.window.as_secs()
            ),
            vec![
                "Inspect the agent's failing spans and their status messages",
                "Check the health of the tools and models the agent calls",
                "Halt the agent if the errors continue",
            ],
        ),
    };
    json!({
        "incident_id": i.id,
        "severity": i.severity,
        "trigger": i.trigger,
        "agent_name": (!i.agent_name.is_empty()).then_some(&i.agent_name),
        "detected_at": i.detected_at,
        "message": summary,
        "details": i.details,
        "eu_ai_act_reporting": {
            "article": "73",
            "deadline_days": days,
            "deadline_date": deadline.date_naive().to_string(),
            "description": "Serious incidents of high-risk AI systems must be reported to the market surveillance authority",
        },
        "recommended_actions": actions,
    })
}

impl Job for IncidentDetector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn leader_lock(&self) -> Option<i64> {
        Some(LOCK_ID)
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let t = self.thresholds;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let now = Utc::now();
            let since = (now - chrono::Duration::from_std(t.window).unwrap_or_default())
                .timestamp_nanos_opt()
                .unwrap_or(0);
            for project in detectors::live_projects(&mut conn).await? {
                conn.transaction(async |conn| check(conn, project, since, &t).await)
                    .await?;
            }
            Ok(())
        })
    }
}

async fn check(
    conn: &mut strathon_schema::AsyncPgConnection,
    project: Uuid,
    since: i64,
    t: &Thresholds,
) -> Result<(), JobError> {
    let mut bursts: Vec<(&'static str, String, &'static str, i64, i64)> = Vec::new();
    let blocked = detectors::blocked_since(conn, project, since).await?;
    if blocked >= t.blocks {
        bursts.push((BLOCK_SPIKE, String::new(), "high", blocked, t.blocks));
    }
    for (agent, errors) in detectors::erring_agents(conn, project, since, t.errors).await? {
        bursts.push((ERROR_SPIKE, agent, "medium", errors, t.errors));
    }
    let still: Vec<(String, String)> = bursts.iter().map(|b| (b.0.to_owned(), b.1.clone())).collect();
    for (trigger, agent, severity, count, threshold) in bursts {
        let details = json!({"count": count, "threshold": threshold, "window_seconds": t.window.as_secs()});
        let opened = detectors::open_incident(conn, project, trigger, &agent, severity, count, &details).await?;
        if let Some(incident) = opened {
            tracing::warn!(%project, trigger, agent, count, "incident detected");
            webhooks::enqueue(conn, project, "incident", &payload(&incident, t)).await?;
        }
    }
    for over in detectors::resolve_others(conn, project, &still).await? {
        tracing::info!(%project, trigger = %over.trigger, agent = %over.agent_name, "incident over");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_the_reporting_clock_and_advice() {
        let t = Thresholds {
            window: Duration::from_secs(300),
            blocks: 50,
            errors: 100,
        };
        let at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z").unwrap().to_utc();
        let incident = Incident {
            id: Uuid::nil(),
            project_id: Uuid::nil(),
            trigger: ERROR_SPIKE.into(),
            agent_name: "billing".into(),
            severity: "medium".into(),
            count: 120,
            details: json!({"count": 120}),
            detected_at: at,
            last_seen_at: at,
            resolved_at: None,
        };
        let p = payload(&incident, &t);
        assert_eq!(p["message"], "agent 'billing' produced 120 error spans in 300 s");
        assert_eq!(p["eu_ai_act_reporting"]["deadline_date"], "2026-12-20");
        assert_eq!(p["agent_name"], "billing");
        let block = Incident {
            trigger: BLOCK_SPIKE.into(),
            agent_name: String::new(),
            severity: "critical".into(),
            ..incident
        };
        let p = payload(&block, &t);
        assert_eq!(p["agent_name"], Value::Null);
        assert_eq!(p["eu_ai_act_reporting"]["deadline_days"], 2);
    }
}
