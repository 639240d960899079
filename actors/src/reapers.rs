//! Reapers: expire pending approvals past their deadline, and revoke API
//! keys past their hard expiry (auth already refuses them; revoking makes
//! the state visible in listings). Idempotent, so every replica runs them.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use strathon_schema::{api_keys, approvals, DbPool};

use crate::{Job, JobError};

pub struct ApprovalReaper {
    pub pool: DbPool,
    pub interval: Duration,
}

impl Job for ApprovalReaper {
    fn name(&self) -> &'static str {
        "approval_reaper_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            for a in approvals::expire_due(&mut conn).await? {
                tracing::info!(approval_id = %a.id, project_id = %a.project_id, "approval expired unanswered");
            }
            Ok(())
        })
    }
}

pub struct KeyReaper {
    pub pool: DbPool,
    pub interval: Duration,
}

impl Job for KeyReaper {
    fn name(&self) -> &'static str {
        "key_reaper_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let n = api_keys::revoke_expired(&mut conn).await?;
            if n > 0 {
                tracing::info!(revoked = n, "revoked API keys past their expiry");
            }
            Ok(())
        })
    }
}
