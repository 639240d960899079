//! The MCP gateway's throttle buckets: one token bucket per throttle policy
//! and scope key, taken from atomically in Postgres, so the limit holds
//! across replicas.

use diesel::prelude::*;
use diesel::sql_types::{Double, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(QueryableByName)]
struct Tokens {
    #[diesel(sql_type = Double)]
    tokens: f64,
}

/// Takes a token: `Ok(())` when the call may go, `Err(seconds)` until the
/// next token when the bucket is empty. The bucket holds `capacity` tokens
/// and refills `rate` per second; a new bucket starts full.
pub async fn take_token(
    conn: &mut AsyncPgConnection,
    policy_id: Uuid,
    scope_key: &str,
    capacity: f64,
    rate: f64,
) -> QueryResult<Result<(), f64>> {
    let taken: Option<Tokens> = diesel::sql_query(
        "INSERT INTO gateway_throttle_buckets AS b (policy_id, scope_key, tokens, refilled_at)
         VALUES ($1, $2, $3 - 1, now())
         ON CONFLICT (policy_id, scope_key) DO UPDATE SET
             tokens = least($3, b.tokens + extract(epoch FROM now() - b.refilled_at) * $4) - 1,
             refilled_at = now()
         WHERE least($3, b.tokens + extract(epoch FROM now() - b.refilled_at) * $4) >= 1
         RETURNING tokens",
    )
    .bind::<SqlUuid, _>(policy_id)
    .bind::<Text, _>(scope_key)
    .bind::<Double, _>(capacity)
    .bind::<Double, _>(rate)
    .get_result(conn)
    .await
    .optional()?;
    if taken.is_some() {
        return Ok(Ok(()));
    }
    let left: Tokens = diesel::sql_query(
        "SELECT least($3, tokens + extract(epoch FROM now() - refilled_at) * $4)::float8 AS tokens
         FROM gateway_throttle_buckets WHERE policy_id = $1 AND scope_key = $2",
    )
    .bind::<SqlUuid, _>(policy_id)
    .bind::<Text, _>(scope_key)
    .bind::<Double, _>(capacity)
    .bind::<Double, _>(rate)
    .get_result(conn)
    .await?;
    Ok(Err(((1.0 - left.tokens) / rate).max(0.0)))
}
