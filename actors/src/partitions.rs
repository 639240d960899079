//! Spans partition maintainer: keeps last month through three months ahead
//! and drops months older than the configured retention. Leader-only.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use strathon_schema::{partitions, DbPool};

use crate::{Job, JobError};

/// "StraSpar": the advisory lock the partition maintainer leads with.
pub const LOCK_ID: i64 = 0x5374_7261_5370_6172;

pub struct SpansPartitionMaintainer {
    pub pool: DbPool,
    pub interval: Duration,
    pub retention_months: u32,
}

impl Job for SpansPartitionMaintainer {
    fn name(&self) -> &'static str {
        "spans_partition_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn leader_lock(&self) -> Option<i64> {
        Some(LOCK_ID)
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let retention = self.retention_months;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let now = chrono::Utc::now();
            let created = partitions::ensure(&mut conn, &partitions::wanted_months(now)).await?;
            let dropped = partitions::drop_expired(&mut conn, now, retention).await?;
            if !created.is_empty() || !dropped.is_empty() {
                tracing::info!(?created, ?dropped, "span partitions maintained");
            }
            Ok(())
        })
    }
}
