use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::sessions;

/// Deletes dashboard sessions past their expiry.
pub async fn delete_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await
}
