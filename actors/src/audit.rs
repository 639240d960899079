//! Audit upkeep: monthly partitions of `audit.events` (this month and three
//! ahead, never dropped) and Merkle anchors sealing every new event.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use strathon_schema::{audit, partitions, DbPool};

use crate::{Job, JobError};

/// "StraAnch": one sealer across replicas.
pub const ANCHOR_LOCK_ID: i64 = 0x5374_7261_416e_6368;

pub struct AuditPartitionMaintainer {
    pub pool: DbPool,
    pub interval: Duration,
}

impl Job for AuditPartitionMaintainer {
    fn name(&self) -> &'static str {
        "audit_partition_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let created = partitions::ensure_audit(&mut conn, &partitions::audit_months(chrono::Utc::now())).await?;
            if !created.is_empty() {
                tracing::info!(?created, "audit partitions created");
            }
            Ok(())
        })
    }
}

/// Seals the events appended since the last anchor under one Merkle root
/// (RFC 6962), computed by `merkle_root`.
pub struct AnchorSealer {
    pub pool: DbPool,
    pub interval: Duration,
    pub merkle_root: fn(&[Vec<u8>]) -> [u8; 32],
}

impl Job for AnchorSealer {
    fn name(&self) -> &'static str {
        "audit_anchor_task"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn leader_lock(&self) -> Option<i64> {
        Some(ANCHOR_LOCK_ID)
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let root = self.merkle_root;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let after = audit::last_anchor(&mut conn)
                .await?
                .map(|a| a.last_sequence)
                .unwrap_or(0);
            let fresh = audit::hashes_after(&mut conn, after).await?;
            let (Some((first, _)), Some((last, last_hash))) = (fresh.first().cloned(), fresh.last().cloned()) else {
                return Ok(());
            };
            let leaves: Vec<Vec<u8>> = fresh.into_iter().map(|(_, h)| h).collect();
            let anchor = audit::Anchor {
                anchor_at: chrono::Utc::now(),
                last_sequence: last,
                last_row_hash: last_hash,
                merkle_root: root(&leaves).to_vec(),
                event_count: leaves.len() as i32,
                first_sequence: first,
            };
            audit::insert_anchor(&mut conn, &anchor).await?;
            tracing::info!(events = anchor.event_count, last_sequence = last, "audit anchor sealed");
            Ok(())
        })
    }
}
