//! Budget monitor: every few seconds, on the leader only, compares each
//! active budget's spend (cost) or tool-call count (iteration) with its
//! limit, halts what is over and lifts its own halts once back under.
//! An agent budget halts only that agent; project and model budgets halt
//! the project (the SDK knows only those two scopes).

use std::time::Duration;

use bigdecimal::{BigDecimal, ToPrimitive as _};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use futures::future::LocalBoxFuture;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use strathon_schema::budgets::{self, Budget};
use strathon_schema::halts::{self, NewHalt};
use strathon_schema::DbPool;

use crate::{Job, JobError};

/// The budget monitor's leadership lock (compatible with the original's).
pub const LOCK_ID: i64 = 6013557165336850224;
/// Most budgets evaluated per tick.
const PER_TICK: i64 = 500;

#[derive(Clone)]
pub struct BudgetMetrics {
    pub evaluations: IntCounter,
    pub evaluation_errors: IntCounter,
    pub violations: IntCounterVec,
    pub halts_created: IntCounterVec,
    pub halts_cleared: IntCounterVec,
}

impl BudgetMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let evaluations = IntCounter::new("strathon_receiver_budget_evaluations_total", "Budget evaluations")?;
        let evaluation_errors = IntCounter::new(
            "strathon_receiver_budget_evaluation_errors_total",
            "Budget evaluations that failed",
        )?;
        let violations = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_budget_violations_total",
                "Budgets found over their limit",
            ),
            &["kind"],
        )?;
        let halts_created = IntCounterVec::new(
            Opts::new("strathon_receiver_halts_created_total", "Halts created"),
            &["scope", "actor"],
        )?;
        let halts_cleared = IntCounterVec::new(
            Opts::new("strathon_receiver_halts_cleared_total", "Halts cleared"),
            &["actor", "reason"],
        )?;
        registry.register(Box::new(evaluations.clone()))?;
        registry.register(Box::new(evaluation_errors.clone()))?;
        registry.register(Box::new(violations.clone()))?;
        registry.register(Box::new(halts_created.clone()))?;
        registry.register(Box::new(halts_cleared.clone()))?;
        Ok(BudgetMetrics {
            evaluations,
            evaluation_errors,
            violations,
            halts_created,
            halts_cleared,
        })
    }
}

pub fn duration_of(window: &str) -> Option<chrono::Duration> {
    Some(match window {
        "1h" => chrono::Duration::hours(1),
        "1d" => chrono::Duration::days(1),
        "7d" => chrono::Duration::days(7),
        "30d" => chrono::Duration::days(30),
        _ => return None,
    })
}

/// The end of the fixed window containing `now`: `reset_at` rolled forward
/// by whole windows until it lies in the future.
pub fn roll_forward(reset_at: DateTime<Utc>, window: chrono::Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    if reset_at > now || window <= chrono::Duration::zero() {
        return reset_at;
    }
    let behind = (now - reset_at).num_seconds() / window.num_seconds().max(1) + 1;
    reset_at + window * behind as i32
}

/// Where a cost budget's window starts, and its (possibly advanced) reset time.
pub fn cost_window(b: &Budget, now: DateTime<Utc>) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let Some(window) = b.budget_duration.as_deref().and_then(duration_of) else {
        return (DateTime::UNIX_EPOCH, b.budget_reset_at);
    };
    if b.window_type == "rolling" {
        return (now - window, None);
    }
    let reset = roll_forward(b.budget_reset_at.unwrap_or(b.created_at + window), window, now);
    (reset - window, Some(reset))
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(0)
}

pub struct BudgetMonitor {
    pub pool: DbPool,
    pub interval: Duration,
    pub metrics: BudgetMetrics,
}

impl Job for BudgetMonitor {
    fn name(&self) -> &'static str {
        "budget_monitor_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn leader_lock(&self) -> Option<i64> {
        Some(LOCK_ID)
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let now = Utc::now();
            for budget in budgets::due(&mut conn, PER_TICK).await? {
                // One transaction per budget: readers never see its halt
                // without the spend that caused it.
                let outcome = conn
                    .transaction(async |conn| evaluate(conn, &budget, now, &metrics).await)
                    .await;
                match outcome {
                    Ok(()) => metrics.evaluations.inc(),
                    Err(e) => {
                        metrics.evaluation_errors.inc();
                        tracing::warn!(budget_id = %budget.id, error = %e, "budget evaluation failed");
                    }
                }
            }
            Ok(())
        })
    }
}

async fn evaluate(
    conn: &mut strathon_schema::AsyncPgConnection,
    b: &Budget,
    now: DateTime<Utc>,
    metrics: &BudgetMetrics,
) -> Result<(), JobError> {
    let (over, kind, reason, spent, count, reset) = if let Some(max) = &b.max_spend_usd {
        let (start, reset) = cost_window(b, now);
        let spent = budgets::spend_since(conn, b, ns(start)).await?;
        let over = &spent >= max;
        let reason = format!(
            "Cost budget '{}' exceeded: spent ${} of ${}",
            b.name,
            spent.normalized(),
            max.normalized()
        );
        (over, "cost", reason, Some(spent), None, reset)
    } else {
        let max = b.max_repeated_calls.unwrap_or(i32::MAX);
        let window = b
            .loop_window_seconds
            .as_ref()
            .and_then(BigDecimal::to_f64)
            .unwrap_or(0.0);
        let since = now - chrono::Duration::milliseconds((window * 1000.0) as i64);
        let n = budgets::tool_calls_since(conn, b, ns(since)).await?;
        let reason = format!(
            "Iteration budget '{}' exceeded: {n} calls in last {window}s, max {max}",
            b.name
        );
        (
            n >= i64::from(max),
            "iteration",
            reason,
            None,
            Some(i32::try_from(n).unwrap_or(i32::MAX)),
            b.budget_reset_at,
        )
    };
    let halted = budgets::monitor_halt_active(conn, b.id).await?;
    if over && !halted {
        let (scope, scope_value) = match b.scope.as_str() {
            "agent" => ("agent", b.scope_value.clone()),
            _ => ("project", None),
        };
        let halt = NewHalt {
            project_id: b.project_id,
            scope: scope.into(),
            scope_value,
            state: "halted".into(),
            reason,
            actor: "budget_monitor".into(),
            budget_id: Some(b.id),
            metadata: serde_json::json!({ "budget_kind": kind, "budget_id": b.id }),
        };
        // A racing replica may have inserted it first; the unique index
        // on live budget halts makes that a no-op here (a savepoint keeps
        // the failed insert from aborting the evaluation).
        let inserted = conn.transaction(async |c| halts::insert(c, &halt).await).await;
        if inserted.is_ok() {
            metrics.violations.with_label_values(&[kind]).inc();
            metrics
                .halts_created
                .with_label_values(&[scope, "budget_monitor"])
                .inc();
            tracing::warn!(budget_id = %b.id, scope, "budget exceeded; halt created");
        }
    } else if !over && halted && budgets::clear_monitor_halt(conn, b.id).await? > 0 {
        metrics
            .halts_cleared
            .with_label_values(&["budget_monitor", "under_threshold"])
            .inc();
        tracing::info!(budget_id = %b.id, "budget back under its limit; halt cleared");
    }
    budgets::record_evaluation(conn, b.id, spent.as_ref(), count, reset).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn fixed_windows_roll_forward_whole_periods() {
        let day = chrono::Duration::days(1);
        let reset = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap();
        assert_eq!(
            roll_forward(reset, day, now),
            Utc.with_ymd_and_hms(2026, 1, 4, 0, 0, 0).unwrap()
        );
        let later = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(roll_forward(later, day, now), later);
        assert_eq!(duration_of("7d"), Some(chrono::Duration::days(7)));
        assert_eq!(duration_of("2w"), None);
    }
}
