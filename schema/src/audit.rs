//! The audit log's rows: appending to a project's chain, reading, walking
//! the chain, and Merkle anchors.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{anchors, events};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: Uuid,
    pub sequence_no: i64,
    pub occurred_at: DateTime<Utc>,
    #[diesel(skip_insertion)]
    pub ingested_at: DateTime<Utc>,
    pub project_id: Uuid,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_display: Option<String>,
    pub on_behalf_of: Option<String>,
    pub action: String,
    pub action_category: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_parent: Option<String>,
    pub cascade_root_id: Option<Uuid>,
    pub request_id: Uuid,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub api_key_id: Option<String>,
    pub auth_method: Option<String>,
    pub before_state: Option<serde_json::Value>,
    pub after_state: Option<serde_json::Value>,
    pub diff: Option<serde_json::Value>,
    pub pii_classes: Vec<String>,
    pub schema_version: i16,
    pub prev_hash: Vec<u8>,
    pub row_hash: Vec<u8>,
    pub hmac_key_id: i16,
}

/// Serializes appends to one project's chain until the transaction ends,
/// then returns the hash to chain from (None for the first event) and the
/// next global sequence number.
pub async fn begin_append(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<(Option<Vec<u8>>, i64)> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('audit:' || $1))")
        .bind::<Text, _>(project_id.to_string())
        .execute(conn)
        .await?;
    let prev: Option<Vec<u8>> = events::table
        .filter(events::project_id.eq(project_id))
        .order(events::sequence_no.desc())
        .select(events::row_hash)
        .first(conn)
        .await
        .optional()?;
    let seq: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "nextval('audit.events_sequence_no_seq')",
    ))
    .get_result(conn)
    .await?;
    Ok((prev, seq))
}

pub async fn append(conn: &mut AsyncPgConnection, event: &Event) -> QueryResult<()> {
    diesel::insert_into(events::table).values(event).execute(conn).await?;
    Ok(())
}

pub type Filter = Box<dyn BoxableExpression<events::table, Pg, SqlType = Bool>>;

/// Events that happened at or after `t`.
pub fn occurred_since(t: DateTime<Utc>) -> Filter {
    Box::new(events::occurred_at.ge(t))
}

/// Newest first, optionally filtered, after a (occurred_at, id) position.
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    filter: Option<Filter>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let mut q = events::table.filter(events::project_id.eq(project_id)).into_boxed();
    if let Some(f) = filter {
        q = q.filter(f);
    }
    if let Some((t, id)) = after {
        q = q.filter(
            events::occurred_at
                .lt(t)
                .or(events::occurred_at.eq(t).and(events::id.lt(id))),
        );
    }
    q.order((events::occurred_at.desc(), events::id.desc()))
        .limit(limit)
        .select(Event::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Event>> {
    events::table
        .filter(events::project_id.eq(project_id))
        .filter(events::id.eq(id))
        .select(Event::as_select())
        .first(conn)
        .await
        .optional()
}

/// The project's whole chain in append order.
pub async fn chain(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Event>> {
    events::table
        .filter(events::project_id.eq(project_id))
        .order(events::sequence_no.asc())
        .select(Event::as_select())
        .load(conn)
        .await
}

/// Every project that has a chain (audit rows outlive their projects).
pub async fn chained_projects(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Uuid>> {
    events::table
        .select(events::project_id)
        .distinct()
        .order(events::project_id)
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = anchors)]
pub struct Anchor {
    pub anchor_at: DateTime<Utc>,
    pub last_sequence: i64,
    pub last_row_hash: Vec<u8>,
    pub merkle_root: Vec<u8>,
    pub event_count: i32,
    pub first_sequence: i64,
}

pub async fn last_anchor(conn: &mut AsyncPgConnection) -> QueryResult<Option<Anchor>> {
    anchors::table
        .order(anchors::anchor_at.desc())
        .select(Anchor::as_select())
        .first(conn)
        .await
        .optional()
}

/// (sequence, row hash) of every event after `sequence`, in order.
pub async fn hashes_after(conn: &mut AsyncPgConnection, sequence: i64) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    events::table
        .filter(events::sequence_no.gt(sequence))
        .order(events::sequence_no.asc())
        .select((events::sequence_no, events::row_hash))
        .load(conn)
        .await
}

/// (sequence, row hash) of events in an inclusive sequence range, in order.
pub async fn hashes_between(conn: &mut AsyncPgConnection, first: i64, last: i64) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    events::table
        .filter(events::sequence_no.between(first, last))
        .order(events::sequence_no.asc())
        .select((events::sequence_no, events::row_hash))
        .load(conn)
        .await
}

pub async fn insert_anchor(conn: &mut AsyncPgConnection, anchor: &Anchor) -> QueryResult<()> {
    diesel::insert_into(anchors::table).values(anchor).execute(conn).await?;
    Ok(())
}

pub async fn anchors_since(
    conn: &mut AsyncPgConnection,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<Anchor>> {
    let mut q = anchors::table.into_boxed();
    if let Some(t) = since {
        q = q.filter(anchors::anchor_at.ge(t));
    }
    q.order(anchors::anchor_at.desc())
        .limit(limit)
        .select(Anchor::as_select())
        .load(conn)
        .await
}
