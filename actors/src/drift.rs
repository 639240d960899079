//! Behavioural drift (`drift_detector_task`): on the leader only, each tick
//! observes one window of every active agent's spans (the share of each tool
//! among its tool calls, and its cost per minute) and runs a two-sided CUSUM
//! per metric against the agent's baseline. A sum past the threshold is a
//! `behavioral_drift` event, sent through the durable webhook deliveries
//! with the baselines it changed, in one transaction. Baselines and each
//! project's place in time live in Postgres, so a new leader carries on.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel_async::AsyncConnection as _;
use futures::future::LocalBoxFuture;
use serde_json::{json, Value};
use strathon_schema::detectors::{self, Activity, Baseline};
use strathon_schema::{webhooks, DbPool};
use uuid::Uuid;

use crate::{Job, JobError};

pub const NAME: &str = "drift_detector_task";
/// Leadership lock ("StraDrif").
pub const LOCK_ID: i64 = 0x5374_7261_4472_6966;
/// A leader that was away observes at most this many windows at once.
const MAX_WINDOWS: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Observations that form a baseline before anything is reported.
    pub min_observations: i32,
    /// EWMA weight of a new observation once the baseline is formed.
    pub alpha: f64,
    /// CUSUM decision threshold, in standard deviations.
    pub threshold: f64,
    /// CUSUM slack per observation, in standard deviations.
    pub slack: f64,
}

/// One agent in one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Tool calls per tool.
    pub tools: BTreeMap<String, i64>,
    pub cost_per_minute: f64,
}

/// A metric that moved past the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub metric: String,
    pub observed: f64,
    pub baseline_mean: f64,
    pub baseline_sd: f64,
    pub direction: &'static str,
    pub cusum: f64,
}

pub const COST: &str = "cost";

fn tool_metric(tool: &str) -> String {
    format!("tool:{tool}")
}

/// The smallest standard deviation a metric is measured against, so a
/// perfectly steady baseline (variance 0) does not make any change infinite.
fn floor(metric: &str, mean: f64) -> f64 {
    if metric == COST {
        (0.1 * mean.abs()).max(1e-4)
    } else {
        0.05
    }
}

/// Feeds one observation to an agent's baselines (keyed by metric); returns
/// the metrics that drifted. A drifted metric's baseline restarts from the
/// new level, so one change is reported once.
pub fn observe(
    baselines: &mut BTreeMap<String, Baseline>,
    obs: &Observation,
    p: &Params,
    template: &Baseline,
) -> Vec<Shift> {
    let seen = baselines.values().map(|b| b.observations).max().unwrap_or(0);
    let calls: i64 = obs.tools.values().sum();
    let mut values: Vec<(String, f64)> = vec![(COST.to_owned(), obs.cost_per_minute)];
    if calls > 0 {
        for metric in baselines.keys().filter(|m| m.starts_with("tool:")) {
            values.push((metric.clone(), 0.0));
        }
        for (tool, n) in &obs.tools {
            let metric = tool_metric(tool);
            let share = *n as f64 / calls as f64;
            match values.iter_mut().find(|(m, _)| *m == metric) {
                Some(v) => v.1 = share,
                None => values.push((metric, share)),
            }
        }
    }
    let mut shifts = Vec::new();
    for (metric, x) in values {
        let b = baselines.entry(metric.clone()).or_insert_with(|| Baseline {
            metric: metric.clone(),
            // A tool never seen before had a share of 0 in every earlier
            // window of this agent.
            observations: if metric == COST { 0 } else { seen },
            mean: 0.0,
            variance: 0.0,
            cusum_high: 0.0,
            cusum_low: 0.0,
            ..template.clone()
        });
        if b.observations < p.min_observations {
            // Forming: the plain running mean and (population) variance.
            let n = f64::from(b.observations + 1);
            let delta = x - b.mean;
            b.mean += delta / n;
            b.variance = ((n - 1.0) * b.variance + delta * (x - b.mean)) / n;
            b.observations += 1;
            continue;
        }
        let sd = b.variance.sqrt().max(floor(&metric, b.mean));
        let z = (x - b.mean) / sd;
        b.cusum_high = (b.cusum_high + z - p.slack).max(0.0);
        b.cusum_low = (b.cusum_low - z - p.slack).max(0.0);
        b.observations = b.observations.saturating_add(1);
        if b.cusum_high > p.threshold || b.cusum_low > p.threshold {
            let up = b.cusum_high > p.threshold;
            shifts.push(Shift {
                metric: metric.clone(),
                observed: x,
                baseline_mean: b.mean,
                baseline_sd: sd,
                direction: if up { "up" } else { "down" },
                cusum: if up { b.cusum_high } else { b.cusum_low },
            });
            b.mean = x;
            b.cusum_high = 0.0;
            b.cusum_low = 0.0;
        } else {
            let diff = x - b.mean;
            b.mean += p.alpha * diff;
            b.variance = (1.0 - p.alpha) * (b.variance + p.alpha * diff * diff);
        }
    }
    shifts
}

/// What a person reads about a shift.
pub fn describe(s: &Shift) -> String {
    match s.metric.strip_prefix("tool:") {
        Some(tool) => format!(
            "share of calls to '{tool}' {} from {:.0}% to {:.0}%",
            s.direction,
            s.baseline_mean * 100.0,
            s.observed * 100.0
        ),
        None => format!(
            "cost {} from ${:.4}/min to ${:.4}/min",
            s.direction, s.baseline_mean, s.observed
        ),
    }
}

pub struct DriftDetector {
    pub pool: DbPool,
    pub interval: Duration,
    pub lag: Duration,
    pub params: Params,
}

impl Job for DriftDetector {
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
        let params = self.params;
        let window = self.interval.as_nanos() as i64;
        let lag = self.lag.as_nanos() as i64;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let until = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) - lag;
            for project in detectors::live_projects(&mut conn).await? {
                let key = format!("drift:{project}");
                let from = match detectors::cursor(&mut conn, &key).await? {
                    Some(c) => c.max(until - window * MAX_WINDOWS),
                    None => until - window,
                };
                if until <= from {
                    continue;
                }
                let minutes = (until - from) as f64 / 60e9;
                conn.transaction(async |conn| {
                    let activity = detectors::activity(conn, project, from, until).await?;
                    for (agent, obs) in observations(&activity, minutes) {
                        let template = Baseline {
                            project_id: project,
                            agent_name: agent.clone(),
                            metric: String::new(),
                            observations: 0,
                            mean: 0.0,
                            variance: 0.0,
                            cusum_high: 0.0,
                            cusum_low: 0.0,
                        };
                        let mut baselines: BTreeMap<String, Baseline> = detectors::baselines(conn, project, &agent)
                            .await?
                            .into_iter()
                            .map(|b| (b.metric.clone(), b))
                            .collect();
                        let shifts = observe(&mut baselines, &obs, &params, &template);
                        let rows: Vec<Baseline> = baselines.into_values().collect();
                        detectors::save_baselines(conn, &rows).await?;
                        if !shifts.is_empty() {
                            announce(conn, project, &agent, &shifts, from, until).await?;
                        }
                    }
                    detectors::set_cursor(conn, &key, until).await?;
                    Ok::<_, JobError>(())
                })
                .await?;
            }
            Ok(())
        })
    }
}

fn observations(activity: &[Activity], minutes: f64) -> BTreeMap<String, Observation> {
    let mut by_agent: BTreeMap<String, Observation> = BTreeMap::new();
    for a in activity {
        let obs = by_agent.entry(a.agent_name.clone()).or_default();
        if !a.tool_name.is_empty() {
            *obs.tools.entry(a.tool_name.clone()).or_default() += a.spans;
        }
        obs.cost_per_minute += a.cost_usd / minutes.max(1.0 / 60.0);
    }
    by_agent
}

async fn announce(
    conn: &mut strathon_schema::AsyncPgConnection,
    project: Uuid,
    agent: &str,
    shifts: &[Shift],
    from: i64,
    until: i64,
) -> Result<(), JobError> {
    let message = format!(
        "agent '{agent}' drifted: {}",
        shifts.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    tracing::warn!(%project, agent, %message, "behavioural drift detected");
    let payload = json!({
        "agent_name": agent,
        "severity": "medium",
        "message": message,
        "window_start": chrono::DateTime::from_timestamp_nanos(from),
        "window_end": chrono::DateTime::from_timestamp_nanos(until),
        "shifts": shifts.iter().map(|s| json!({
            "metric": s.metric, "observed": s.observed, "baseline_mean": s.baseline_mean,
            "baseline_sd": s.baseline_sd, "direction": s.direction, "cusum": s.cusum,
        })).collect::<Vec<Value>>(),
    });
    webhooks::enqueue(conn, project, "behavioral_drift", &payload).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            min_observations: 3,
            alpha: 0.3,
            threshold: 5.0,
            slack: 0.5,
        }
    }

    fn template() -> Baseline {
        Baseline {
            project_id: Uuid::nil(),
            agent_name: "a".into(),
            metric: String::new(),
            observations: 0,
            mean: 0.0,
            variance: 0.0,
            cusum_high: 0.0,
            cusum_low: 0.0,
        }
    }

    fn obs(tools: &[(&str, i64)], cost: f64) -> Observation {
        Observation {
            tools: tools.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            cost_per_minute: cost,
        }
    }

    #[test]
    fn a_new_tool_taking_over_is_reported_once() {
        let mut b = BTreeMap::new();
        for _ in 0..5 {
            assert!(observe(&mut b, &obs(&[("search", 10)], 0.5), &params(), &template()).is_empty());
        }
        let shifts = observe(&mut b, &obs(&[("delete_records", 10)], 0.5), &params(), &template());
        let metrics: Vec<(&str, &str)> = shifts.iter().map(|s| (s.metric.as_str(), s.direction)).collect();
        assert_eq!(metrics, [("tool:search", "down"), ("tool:delete_records", "up")]);
        assert_eq!(
            describe(&shifts[1]),
            "share of calls to 'delete_records' up from 0% to 100%"
        );
        // The new mix is the new normal.
        for _ in 0..5 {
            assert!(observe(&mut b, &obs(&[("delete_records", 10)], 0.5), &params(), &template()).is_empty());
        }
    }

    #[test]
    fn nothing_is_reported_while_the_baseline_forms_or_for_noise() {
        let mut b = BTreeMap::new();
        assert!(observe(&mut b, &obs(&[("x", 1)], 100.0), &params(), &template()).is_empty());
        assert!(observe(&mut b, &obs(&[("y", 1)], 0.0), &params(), &template()).is_empty());
        let mut steady = BTreeMap::new();
        for i in 0..50 {
            let jitter = if i % 2 == 0 { 0.48 } else { 0.52 };
            let found = observe(&mut steady, &obs(&[("a", 6), ("b", 4)], jitter), &params(), &template());
            assert!(found.is_empty(), "round {i}: {found:?}");
        }
    }

    #[test]
    fn a_sustained_cost_rise_is_reported() {
        let mut b = BTreeMap::new();
        for _ in 0..5 {
            observe(&mut b, &obs(&[("llm", 3)], 1.0), &params(), &template());
        }
        let shifts = observe(&mut b, &obs(&[("llm", 3)], 10.0), &params(), &template());
        assert_eq!(shifts.len(), 1);
        assert_eq!((shifts[0].metric.as_str(), shifts[0].direction), ("cost", "up"));
        assert_eq!(describe(&shifts[0]), "cost up from $1.0000/min to $10.0000/min");
    }

    #[test]
    fn activity_becomes_one_observation_per_agent() {
        let rows = [
            Activity {
                agent_name: "a".into(),
                tool_name: "".into(),
                spans: 4,
                cost_usd: 0.6,
            },
            Activity {
                agent_name: "a".into(),
                tool_name: "search".into(),
                spans: 3,
                cost_usd: 0.0,
            },
            Activity {
                agent_name: "b".into(),
                tool_name: "x".into(),
                spans: 1,
                cost_usd: 0.2,
            },
        ];
        let by_agent = observations(&rows, 2.0);
        assert_eq!(by_agent["a"], obs(&[("search", 3)], 0.3));
        assert_eq!(by_agent["b"], obs(&[("x", 1)], 0.1));
    }
}
