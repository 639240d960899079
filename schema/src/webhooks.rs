//! Outbound webhooks: the keys that sign them and the durable delivery rows.
//!
//! Rows are queued by database triggers in the transaction that records the
//! event (see the `webhooks` migration); this module reads them, hands due
//! ones to a sender under a lease, and records each attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Interval, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{webhook_deliveries as deliveries, webhook_signing_keys as keys};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = keys)]
pub struct SigningKey {
    pub id: Uuid,
    pub project_id: Uuid,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub secret_sealed: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn create_key(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    prefix: &str,
    secret_hash: &[u8],
    secret_sealed: &str,
) -> QueryResult<SigningKey> {
    diesel::insert_into(keys::table)
        .values((
            keys::project_id.eq(project_id),
            keys::prefix.eq(prefix),
            keys::secret_hash.eq(secret_hash),
            keys::secret_sealed.eq(secret_sealed),
        ))
        .returning(SigningKey::as_returning())
        .get_result(conn)
        .await
}

/// Active keys first, then newest first.
pub async fn list_keys(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    include_revoked: bool,
) -> QueryResult<Vec<SigningKey>> {
    let mut query = keys::table.filter(keys::project_id.eq(project_id)).into_boxed();
    if !include_revoked {
        query = query.filter(keys::revoked_at.is_null());
    }
    query
        .order((keys::revoked_at.is_not_null(), keys::created_at.desc(), keys::id.desc()))
        .select(SigningKey::as_select())
        .load(conn)
        .await
}

/// Revokes a key of the project; revoking twice keeps the first time.
pub async fn revoke_key(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<SigningKey>> {
    diesel::update(keys::table.filter(keys::project_id.eq(project_id)).find(id))
        .set(
            keys::revoked_at.eq(diesel::dsl::sql::<Nullable<diesel::sql_types::Timestamptz>>(
                "coalesce(revoked_at, now())",
            )),
        )
        .returning(SigningKey::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The sealed secrets of the project's live keys, oldest first; only
/// `only`'s when it names a live key of the project.
pub async fn active_secrets(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    only: Option<Uuid>,
) -> QueryResult<Vec<String>> {
    let live = keys::table
        .filter(keys::project_id.eq(project_id))
        .filter(keys::revoked_at.is_null());
    if let Some(id) = only {
        let one: Vec<String> = live
            .filter(keys::id.eq(id))
            .select(keys::secret_sealed)
            .load(conn)
            .await?;
        if !one.is_empty() {
            return Ok(one);
        }
    }
    live.order(keys::created_at.asc())
        .select(keys::secret_sealed)
        .load(conn)
        .await
}

/// Whether `id` is a live signing key of the project.
pub async fn live_key(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<bool> {
    keys::table
        .filter(keys::project_id.eq(project_id))
        .filter(keys::revoked_at.is_null())
        .find(id)
        .select(keys::id)
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|k| k.is_some())
}

pub const STATUSES: [&str; 5] = ["pending", "succeeded", "failed_retrying", "dlq", "abandoned"];
/// The states an operator may send again.
pub const REPLAYABLE: [&str; 2] = ["abandoned", "dlq"];

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: Uuid,
    pub project_id: Uuid,
    pub event: String,
    pub policy_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub webhook_id: String,
    pub url: String,
    pub payload: serde_json::Value,
    /// `standard`, or `slack` / `discord` for chat channels.
    pub format: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The audit stream this delivery belongs to, and its place in it.
    pub stream_id: Option<Uuid>,
    pub stream_seq: Option<i64>,
}

/// Newest first, after the `(created_at, id)` cursor when given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    status: Option<&str>,
    policy_id: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut query = deliveries::table
        .filter(deliveries::project_id.eq(project_id))
        .into_boxed();
    if let Some(s) = status {
        query = query.filter(deliveries::status.eq(s.to_owned()));
    }
    if let Some(p) = policy_id {
        query = query.filter(deliveries::policy_id.eq(p));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            deliveries::created_at
                .lt(at)
                .or(deliveries::created_at.eq(at).and(deliveries::id.lt(id))),
        );
    }
    query
        .order((deliveries::created_at.desc(), deliveries::id.desc()))
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)
        .await
}

pub async fn get(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Delivery>> {
    deliveries::table
        .filter(deliveries::project_id.eq(project_id))
        .find(id)
        .select(Delivery::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sends a dead or abandoned delivery again from scratch, now; `None` when
/// it is in any other state (the caller has read it already).
pub async fn replay(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Delivery>> {
    diesel::update(
        deliveries::table
            .filter(deliveries::project_id.eq(project_id))
            .filter(deliveries::status.eq_any(REPLAYABLE))
            .find(id),
    )
    .set((
        deliveries::status.eq("pending"),
        deliveries::attempts.eq(0),
        deliveries::next_attempt_at.eq(diesel::dsl::now),
        deliveries::last_error.eq(None::<String>),
        deliveries::last_response_status.eq(None::<i32>),
    ))
    .returning(Delivery::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Takes up to `limit` due deliveries for one sender: each is pushed `lease`
/// into the future, so no other sender (or replica) takes it meanwhile, and
/// a sender that dies mid-send only delays it. A first attempt fixes the
/// row's attempt limit from the current setting. An audit stream's delivery
/// is due only once every earlier one of its stream has succeeded, and only
/// while the stream is enabled and not paused: streams go out in order, one
/// at a time.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i32,
    lease: Duration,
    max_attempts: i32,
) -> QueryResult<Vec<Delivery>> {
    diesel::sql_query(
        "UPDATE webhook_deliveries d
         SET next_attempt_at = now() + $2,
             max_attempts = CASE WHEN d.attempts = 0 THEN $3 ELSE d.max_attempts END
         WHERE d.id IN (
             SELECT w.id FROM webhook_deliveries w
             WHERE w.status IN ('pending', 'failed_retrying') AND w.next_attempt_at <= now()
               AND (w.stream_id IS NULL OR (
                   NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                               WHERE e.stream_id = w.stream_id AND e.stream_seq < w.stream_seq
                                 AND e.status <> 'succeeded')
                   AND EXISTS (SELECT 1 FROM audit.streams s
                               WHERE s.id = w.stream_id AND s.enabled AND s.paused_at IS NULL)))
             ORDER BY w.next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING d.*",
    )
    .bind::<Integer, _>(limit)
    .bind::<Interval, _>(diesel::data_types::PgInterval::from_microseconds(
        lease.as_micros().min(i64::MAX as u128) as i64,
    ))
    .bind::<Integer, _>(max_attempts)
    .load(conn)
    .await
}

/// What one attempt ended in.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub status: &'static str,
    pub attempts: i32,
    /// When to try again (`failed_retrying` only).
    pub retry_at: Option<DateTime<Utc>>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
}

pub async fn record(conn: &mut AsyncPgConnection, id: Uuid, attempt: &Attempt) -> QueryResult<()> {
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::status.eq(attempt.status),
            deliveries::attempts.eq(attempt.attempts),
            deliveries::next_attempt_at.eq(attempt.retry_at.unwrap_or_else(Utc::now)),
            deliveries::last_attempt_at.eq(diesel::dsl::now),
            deliveries::last_response_status.eq(attempt.response_status),
            deliveries::last_error.eq(attempt.error.as_deref()),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Queues an event that no table row records (e.g. an agent going quiet),
/// through the same fan-out the triggers use.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    event: &str,
    payload: &serde_json::Value,
) -> QueryResult<()> {
    diesel::sql_query("SELECT strathon_enqueue_webhook($1, $2, $3, NULL, NULL)")
        .bind::<SqlUuid, _>(project_id)
        .bind::<Text, _>(event)
        .bind::<Jsonb, _>(payload)
        .execute(conn)
        .await
        .map(|_| ())
}
