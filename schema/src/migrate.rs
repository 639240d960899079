//! Embedded migrations, applied under a session advisory lock so that several
//! replicas starting together apply each migration exactly once.

use diesel::migration::MigrationSource;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection as _, QueryResult, QueryableByName};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Advisory lock key for schema changes ("strathon:migrate" folded to i64).
pub const MIGRATION_LOCK_ID: i64 = 0x5374_7261_4d69_6772;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("could not connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Versions embedded in this binary, oldest first.
pub fn embedded_versions() -> Vec<String> {
    let mut versions: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .unwrap_or_default()
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    versions
}

/// The newest embedded version: what a fully migrated database reports.
pub fn head_version() -> Option<String> {
    embedded_versions().pop()
}

/// Applies every pending migration and returns the versions it applied.
pub async fn run_pending(database_url: &str) -> Result<Vec<String>, MigrateError> {
    let url = database_url.to_owned();
    // diesel_migrations is synchronous; the wrapper drives the async
    // connection on its own small runtime inside a blocking thread.
    tokio::task::spawn_blocking(move || run_pending_blocking(&url))
        .await
        .map_err(|e| MigrateError::Migration(format!("migration task failed: {e}")))?
}

fn run_pending_blocking(url: &str) -> Result<Vec<String>, MigrateError> {
    with_lock(url, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(|v| v.to_string()).collect())
            .map_err(|e| MigrateError::Migration(e.to_string()))
    })
}

/// Every embedded migration: `(version, name)`, oldest first, e.g.
/// `("20261129000001", "2026-11-29-000001_foundation")`.
pub fn embedded() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .unwrap_or_default()
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    all.sort();
    all
}

/// An applied migration and when it ran.
#[derive(Debug, Clone, QueryableByName)]
pub struct Applied {
    #[diesel(sql_type = Text)]
    pub version: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    pub run_on: chrono::NaiveDateTime,
}

/// The applied migrations, oldest first (the table diesel keeps).
pub async fn applied(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Applied>> {
    diesel::sql_query("SELECT version, run_on FROM __diesel_schema_migrations ORDER BY version")
        .load(conn)
        .await
}

/// Reverts, newest first, every applied migration newer than `target` (a
/// version) and returns the versions reverted. Runs under the migration
/// lock, like applying.
pub async fn revert_to(database_url: &str, target: &str) -> Result<Vec<String>, MigrateError> {
    let url = database_url.to_owned();
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || {
        with_lock(&url, |conn| {
            let mut reverted = Vec::new();
            loop {
                let newest = diesel::RunQueryDsl::get_result::<VersionRow>(
                    diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations"),
                    conn,
                )?;
                match newest.version {
                    Some(v) if v > target => {
                        let done = conn
                            .revert_last_migration(MIGRATIONS)
                            .map_err(|e| MigrateError::Migration(e.to_string()))?;
                        reverted.push(done.to_string());
                    }
                    _ => return Ok(reverted),
                }
            }
        })
    })
    .await
    .map_err(|e| MigrateError::Migration(format!("migration task failed: {e}")))?
}

/// Runs `work` on a fresh connection while holding the migration lock.
fn with_lock<T>(
    url: &str,
    work: impl FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)?;
    let lock = diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK_ID);
    diesel::RunQueryDsl::execute(lock, &mut conn)?;
    let result = work(&mut conn);
    // The lock is session-scoped, so it would also go away with the
    // connection; unlocking explicitly lets a waiting replica go at once.
    let unlock = diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(MIGRATION_LOCK_ID);
    let _ = diesel::RunQueryDsl::execute(unlock, &mut conn);
    result
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

/// The newest applied version, `None` on an empty migrations table. Fails
/// when the migrations table does not exist (a database never migrated).
pub async fn current_version(conn: &mut AsyncPgConnection) -> QueryResult<Option<String>> {
    let row: VersionRow = diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
        .get_result(conn)
        .await?;
    Ok(row.version)
}

/// Number of applied migrations (used to show each ran exactly once).
pub async fn applied_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result(conn)
        .await?;
    Ok(row.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_the_newest_embedded_version() {
        let versions = embedded_versions();
        assert!(!versions.is_empty(), "migrations must be embedded");
        assert_eq!(head_version().as_deref(), versions.last().map(String::as_str));
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
