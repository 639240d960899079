//! Retention cleanup: removes dashboard sessions and API keys whose expiry
//! has passed. Idempotent deletes, so it runs on every replica.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use strathon_schema::{api_keys, sessions, DbPool};

use crate::{Job, JobError};

pub struct RetentionCleanup {
    pub pool: DbPool,
    pub interval: Duration,
}

impl Job for RetentionCleanup {
    fn name(&self) -> &'static str {
        "retention_cleanup_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let sessions = sessions::delete_expired(&mut conn).await?;
            let keys = api_keys::delete_expired(&mut conn).await?;
            if sessions + keys > 0 {
                tracing::info!(sessions, api_keys = keys, "removed expired credentials");
            }
            Ok(())
        })
    }
}
