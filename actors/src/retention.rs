//! Retention sweeper: deletes traces (and their spans) older than each
//! project's `trace_retention_days`, at most `batch_size` per project per
//! sweep so one sweep never holds long locks. Leader-only.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use prometheus::{IntCounter, Registry};
use strathon_schema::{settings, traces, DbPool};

use crate::{Job, JobError};

/// "StraRete": the advisory lock the retention sweeper leads with.
pub const LOCK_ID: i64 = 0x5374_7261_5265_7465;
const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

#[derive(Clone)]
pub struct RetentionMetrics {
    pub deleted: IntCounter,
    pub sweeps: IntCounter,
    pub errors: IntCounter,
}

impl RetentionMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let deleted = IntCounter::new(
            "strathon_receiver_retention_traces_deleted_total",
            "Traces deleted by retention",
        )?;
        let sweeps = IntCounter::new("strathon_receiver_retention_sweeps_total", "Completed retention sweeps")?;
        let errors = IntCounter::new(
            "strathon_receiver_retention_sweep_errors_total",
            "Failed retention sweeps",
        )?;
        registry.register(Box::new(deleted.clone()))?;
        registry.register(Box::new(sweeps.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(RetentionMetrics {
            deleted,
            sweeps,
            errors,
        })
    }
}

pub struct RetentionSweeper {
    pub pool: DbPool,
    pub interval: Duration,
    pub batch_size: i64,
    pub metrics: RetentionMetrics,
}

/// The start-time cutoff for a retention of `days`, in ns since the epoch.
pub fn cutoff_ns(now_ns: i64, days: i32) -> i64 {
    now_ns.saturating_sub(i64::from(days).saturating_mul(NANOS_PER_DAY))
}

impl Job for RetentionSweeper {
    fn name(&self) -> &'static str {
        "retention_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn leader_lock(&self) -> Option<i64> {
        Some(LOCK_ID)
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let batch = self.batch_size;
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = async {
                let mut conn = pool.get().await?;
                let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
                let mut total = 0;
                for (project_id, days) in settings::retention_targets(&mut conn).await? {
                    let cutoff = cutoff_ns(now_ns, days);
                    let n = traces::delete_older_than(&mut conn, project_id, cutoff, batch).await?;
                    // The hourly counts go with the spans they count.
                    strathon_schema::analytics::delete_rollups_before(&mut conn, project_id, cutoff).await?;
                    if n > 0 {
                        tracing::info!(%project_id, deleted = n, retention_days = days, "retention sweep deleted traces");
                    }
                    total += n;
                }
                Ok::<_, JobError>(total)
            }
            .await;
            match result {
                Ok(total) => {
                    metrics.sweeps.inc();
                    metrics.deleted.inc_by(total as u64);
                    Ok(())
                }
                Err(e) => {
                    metrics.errors.inc();
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_whole_days_back() {
        assert_eq!(cutoff_ns(10 * NANOS_PER_DAY, 3), 7 * NANOS_PER_DAY);
        assert_eq!(cutoff_ns(0, 3650), -3650 * NANOS_PER_DAY);
        assert_eq!(cutoff_ns(i64::MIN + 1, i32::MAX), i64::MIN);
    }
}
