//! Halts: operator and budget-monitor stops that SDKs obey at their next sync.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::halts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = halts)]
pub struct Halt {
    pub id: i64,
    pub project_id: Uuid,
    pub scope: String,
    pub scope_value: Option<String>,
    pub state: String,
    pub reason: String,
    pub actor: String,
    pub budget_id: Option<Uuid>,
    pub metadata: serde_json::Value,
    pub set_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = halts)]
pub struct NewHalt {
    pub project_id: Uuid,
    pub scope: String,
    pub scope_value: Option<String>,
    pub state: String,
    pub reason: String,
    pub actor: String,
    pub budget_id: Option<Uuid>,
    pub metadata: serde_json::Value,
}

pub async fn insert(conn: &mut AsyncPgConnection, halt: &NewHalt) -> QueryResult<Halt> {
    diesel::insert_into(halts::table)
        .values(halt)
        .returning(Halt::as_returning())
        .get_result(conn)
        .await
}

/// Newest first; only live halts unless `include_cleared`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    include_cleared: bool,
    limit: i64,
) -> QueryResult<Vec<Halt>> {
    let mut query = halts::table.filter(halts::project_id.eq(project_id)).into_boxed();
    if !include_cleared {
        query = query.filter(halts::cleared_at.is_null());
    }
    query
        .order((halts::set_at.desc(), halts::id.desc()))
        .limit(limit)
        .select(Halt::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: i64) -> QueryResult<Option<Halt>> {
    halts::table
        .filter(halts::project_id.eq(project_id))
        .find(id)
        .select(Halt::as_select())
        .first(conn)
        .await
        .optional()
}

/// Clears a live halt; `None` when it does not exist or was already cleared.
pub async fn clear(conn: &mut AsyncPgConnection, project_id: Uuid, id: i64) -> QueryResult<Option<Halt>> {
    diesel::update(
        halts::table
            .filter(halts::project_id.eq(project_id))
            .filter(halts::cleared_at.is_null())
            .find(id),
    )
    .set(halts::cleared_at.eq(diesel::dsl::now))
    .returning(Halt::as_returning())
    .get_result(conn)
    .await
    .optional()
}
