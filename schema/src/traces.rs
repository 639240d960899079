use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Deletes at most `limit` of the project's traces that started before
/// `cutoff_ns`, oldest first; their spans go with them (FK cascade).
pub async fn delete_older_than(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    cutoff_ns: i64,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM traces t USING ( \
             SELECT id FROM traces \
             WHERE project_id = $1 AND start_time_unix_nano < $2 \
             ORDER BY start_time_unix_nano LIMIT $3 \
         ) doomed \
         WHERE t.project_id = $1 AND t.id = doomed.id",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(cutoff_ns)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}
