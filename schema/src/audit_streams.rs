//! Audit streams: where a project's audit events are delivered, in order.
//! The deliveries themselves are `webhook_deliveries` rows queued by a
//! trigger on `audit.events` (see the `audit_streams` migration).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{streams, webhook_deliveries as deliveries};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = streams)]
pub struct Stream {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub url: String,
    pub signing_key_id: Option<Uuid>,
    pub enabled: bool,
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<String>,
    pub categories: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = streams)]
pub struct NewStream {
    pub project_id: Uuid,
    pub name: String,
    pub url: String,
    pub signing_key_id: Option<Uuid>,
    pub categories: Option<Vec<String>>,
}

/// A partial update; `None` leaves the column alone. `categories` is
/// `Some(None)` to stream every category again.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = streams)]
pub struct StreamChanges {
    pub name: Option<String>,
    pub url: Option<String>,
    pub signing_key_id: Option<Option<Uuid>>,
    pub categories: Option<Option<Vec<String>>>,
    pub enabled: Option<bool>,
}

/// How far a stream has got.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct Progress {
    /// Deliveries not yet acknowledged (queued, retrying or dead).
    #[diesel(sql_type = BigInt)]
    pub backlog: i64,
    /// The sequence number of the latest event the endpoint acknowledged.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub delivered_through: Option<i64>,
}

pub async fn create(conn: &mut AsyncPgConnection, s: &NewStream) -> QueryResult<Stream> {
    diesel::insert_into(streams::table)
        .values(s)
        .returning(Stream::as_returning())
        .get_result(conn)
        .await
}

pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Stream>> {
    streams::table
        .filter(streams::project_id.eq(project_id))
        .order((streams::created_at.asc(), streams::id.asc()))
        .select(Stream::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Stream>> {
    streams::table
        .filter(streams::project_id.eq(project_id))
        .find(id)
        .select(Stream::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn progress(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Progress> {
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE status <> 'succeeded') AS backlog,
                max(stream_seq) FILTER (WHERE status = 'succeeded') AS delivered_through
         FROM webhook_deliveries WHERE stream_id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    changes: &StreamChanges,
) -> QueryResult<Option<Stream>> {
    diesel::update(streams::table.filter(streams::project_id.eq(project_id)).find(id))
        .set(changes)
        .returning(Stream::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Holds a stream's deliveries (its queue keeps filling). Pausing twice
/// keeps the first reason.
pub async fn pause(conn: &mut AsyncPgConnection, id: Uuid, reason: &str) -> QueryResult<usize> {
    diesel::update(streams::table.find(id).filter(streams::paused_at.is_null()))
        .set((
            streams::paused_at.eq(diesel::dsl::now),
            streams::pause_reason.eq(reason),
        ))
        .execute(conn)
        .await
}

/// Resumes a paused stream: its dead-lettered or abandoned deliveries are
/// due again from a fresh attempt count, and the rest follow them in order.
/// Returns how many dead deliveries were revived.
pub async fn resume(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::update(streams::table.find(id))
        .set((
            streams::paused_at.eq(None::<DateTime<Utc>>),
            streams::pause_reason.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    diesel::update(
        deliveries::table
            .filter(deliveries::stream_id.eq(id))
            .filter(deliveries::status.eq_any(["dlq", "abandoned"])),
    )
    .set((
        deliveries::status.eq("pending"),
        deliveries::attempts.eq(0),
        deliveries::next_attempt_at.eq(diesel::dsl::now),
        deliveries::last_error.eq(None::<String>),
    ))
    .execute(conn)
    .await
}

pub async fn delete(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<usize> {
    diesel::delete(streams::table.filter(streams::project_id.eq(project_id)).find(id))
        .execute(conn)
        .await
}

/// The key a stream's deliveries are signed with, if it names one.
pub async fn signing_key(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Uuid>> {
    streams::table
        .find(id)
        .select(streams::signing_key_id)
        .first::<Option<Uuid>>(conn)
        .await
        .optional()
        .map(Option::flatten)
}

/// Whether `name` is taken in the project by another stream.
pub async fn name_taken(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let row: Taken = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM audit.streams
                        WHERE project_id = $1 AND name = $2 AND id IS DISTINCT FROM $3) AS taken",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<Text, _>(name)
    .bind::<Nullable<SqlUuid>, _>(except)
    .get_result(conn)
    .await?;
    Ok(row.taken)
}
