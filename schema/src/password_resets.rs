//! Emailed password-reset tokens: stored hashed, valid an hour, used once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::password_reset_tokens as tokens;

pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(tokens::table)
        .values((
            tokens::user_id.eq(user_id),
            tokens::token_hash.eq(token_hash),
            tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Uses up a live token; the user it resets, or None for an unknown,
/// expired or already used one. Every other token of that user dies too.
pub async fn redeem(conn: &mut AsyncPgConnection, token_hash: &str) -> QueryResult<Option<Uuid>> {
    let user = diesel::update(
        tokens::table
            .filter(tokens::token_hash.eq(token_hash))
            .filter(tokens::used_at.is_null())
            .filter(tokens::expires_at.gt(diesel::dsl::now)),
    )
    .set(tokens::used_at.eq(diesel::dsl::now))
    .returning(tokens::user_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    if let Some(user_id) = user {
        diesel::delete(
            tokens::table
                .filter(tokens::user_id.eq(user_id))
                .filter(tokens::used_at.is_null()),
        )
        .execute(conn)
        .await?;
    }
    Ok(user)
}
