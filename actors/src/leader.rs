//! Leadership for singleton jobs: a session-level `pg_try_advisory_lock`
//! held on a connection outside the pool for as long as we lead. If that
//! connection dies, Postgres releases the lock and another replica takes over.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::JobError;

pub struct Leadership {
    lock_id: i64,
    database_url: String,
    conn: Option<AsyncPgConnection>,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Leadership {
    pub fn new(lock_id: i64, database_url: impl Into<String>) -> Self {
        Leadership {
            lock_id,
            database_url: database_url.into(),
            conn: None,
        }
    }

    pub fn lock_id(&self) -> i64 {
        self.lock_id
    }

    /// True when this process holds the lock now; tries to take it if not.
    pub async fn ensure(&mut self) -> Result<bool, JobError> {
        if let Some(conn) = self.conn.as_mut() {
            if diesel::sql_query("SELECT 1").execute(conn).await.is_ok() {
                return Ok(true);
            }
            // The session is gone and the lock with it.
            self.conn = None;
        }
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, strathon_schema::pool::dedicated(&self.database_url))
            .await
            .map_err(|_| JobError::Other("timed out connecting for leadership".into()))??;
        let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(self.lock_id)
            .get_result(&mut conn)
            .await?;
        if row.locked {
            self.conn = Some(conn);
        }
        Ok(row.locked)
    }

    /// Gives the lock back at once (rather than when the connection drops),
    /// so another replica can lead as soon as this one stops.
    pub async fn release(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
                .bind::<BigInt, _>(self.lock_id)
                .get_result::<Locked>(conn)
                .await;
            if let Err(e) = unlocked {
                tracing::warn!(lock_id = self.lock_id, error = %e, "could not release a leader lock; it goes with the connection");
            }
        }
    }
}
