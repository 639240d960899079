//! API keys: `stra_` + 43 url-safe base64 characters, stored only as the
//! SHA-256 hex of the whole key plus its first 12 characters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ring::rand::SecureRandom as _;
use uuid::Uuid;

use crate::schema::api_keys;

pub const PREFIX_LEN: usize = 12;
/// The well-known development key, seeded only with `STRATHON_SEED_DEV_KEY=true`.
pub const DEV_KEY_RAW: &str = "stra_dev_local_default_project_do_not_use_in_production";
pub const DEV_KEY_ID: Uuid = Uuid::from_u128(0x10);
pub const DEV_KEY_NAME: &str = "Local development (seeded by STRATHON_SEED_DEV_KEY; rotate for production)";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub deprecated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_from_id: Option<Uuid>,
    pub allowed_ips: Option<Vec<String>>,
}

/// A freshly minted key: the raw value is shown once and never stored.
pub struct Minted {
    pub raw: String,
    pub prefix: String,
    pub hash: String,
}

pub fn hash(raw: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, raw.as_bytes()))
}

pub fn prefix(raw: &str) -> String {
    raw.chars().take(PREFIX_LEN).collect()
}

pub fn mint() -> Minted {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source failed");
    from_raw(format!("stra_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub fn from_raw(raw: String) -> Minted {
    Minted {
        prefix: prefix(&raw),
        hash: hash(&raw),
        raw,
    }
}

/// Finds the live key a bearer token names: not revoked, not expired.
pub async fn find_usable(conn: &mut AsyncPgConnection, raw: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::key_prefix.eq(prefix(raw)))
        .filter(api_keys::key_hash.eq(hash(raw)))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(diesel::dsl::now)),
        )
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records use, at most once a minute per key so the ingest path does not
/// turn every request into a row update.
pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE api_keys SET last_used_at = now() WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(conn)
    .await
}

pub struct NewKey<'a> {
    pub id: Option<Uuid>,
    pub project_id: Uuid,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut AsyncPgConnection, key: NewKey<'_>, minted: &Minted) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(key.id.unwrap_or_else(Uuid::new_v4)),
            api_keys::project_id.eq(key.project_id),
            api_keys::name.eq(key.name),
            api_keys::key_hash.eq(&minted.hash),
            api_keys::key_prefix.eq(&minted.prefix),
            api_keys::scopes.eq(key.scopes),
            api_keys::expires_at.eq(key.expires_at),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
}

/// Seeds the development key (scope `*`, default project) if absent and
/// re-activates it if it had been revoked.
pub async fn seed_dev_key(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<()> {
    let minted = from_raw(DEV_KEY_RAW.to_owned());
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(DEV_KEY_ID),
            api_keys::project_id.eq(project_id),
            api_keys::name.eq(DEV_KEY_NAME),
            api_keys::key_hash.eq(&minted.hash),
            api_keys::key_prefix.eq(&minted.prefix),
            api_keys::scopes.eq(vec!["*".to_string()]),
        ))
        .on_conflict(api_keys::id)
        .do_update()
        .set((
            api_keys::revoked_at.eq(None::<DateTime<Utc>>),
            api_keys::expires_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes the development key: its value is public, so it must not outlive
/// the setting that asked for it.
pub async fn remove_dev_key(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::delete(api_keys::table.find(DEV_KEY_ID)).execute(conn).await
}

/// Deletes keys revoked or expired more than 30 days ago: they can never
/// authenticate again, and a month keeps them visible in listings first.
pub async fn delete_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM api_keys WHERE least(revoked_at, expires_at) < now() - interval '30 days'")
        .execute(conn)
        .await
}

/// The project's keys, newest first.
pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid, include_revoked: bool) -> QueryResult<Vec<ApiKey>> {
    let mut q = api_keys::table.filter(api_keys::project_id.eq(project_id)).into_boxed();
    if !include_revoked {
        q = q.filter(api_keys::revoked_at.is_null());
    }
    q.order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKey::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::project_id.eq(project_id))
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .optional()
}

pub struct Creation<'a> {
    pub project_id: Uuid,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
    pub allowed_ips: Option<Vec<String>>,
    pub rotated_from_id: Option<Uuid>,
}

pub async fn create(conn: &mut AsyncPgConnection, c: Creation<'_>, minted: &Minted) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::project_id.eq(c.project_id),
            api_keys::name.eq(c.name),
            api_keys::key_hash.eq(&minted.hash),
            api_keys::key_prefix.eq(&minted.prefix),
            api_keys::scopes.eq(c.scopes),
            api_keys::expires_at.eq(c.expires_at),
            api_keys::allowed_ips.eq(c.allowed_ips),
            api_keys::rotated_from_id.eq(c.rotated_from_id),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
}

/// Marks a live, not yet rotated key as deprecated, working until `until`.
pub async fn deprecate(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    until: DateTime<Utc>,
) -> QueryResult<Option<ApiKey>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::deprecated_at.is_null())
            .find(id),
    )
    .set((
        api_keys::deprecated_at.eq(diesel::dsl::now),
        api_keys::expires_at.eq(until),
    ))
    .returning(ApiKey::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn rename_or_expire(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    name: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> QueryResult<Option<ApiKey>> {
    #[derive(AsChangeset)]
    #[diesel(table_name = api_keys)]
    struct Change<'a> {
        name: Option<&'a str>,
        expires_at: Option<DateTime<Utc>>,
    }
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .find(id),
    )
    .set(&Change { name, expires_at })
    .returning(ApiKey::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn revoke(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<ApiKey>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .find(id),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .returning(ApiKey::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Revokes every key whose hard expiry has passed (the key reaper).
pub async fn revoke_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::expires_at.le(diesel::dsl::now)),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_have_the_published_shape() {
        let key = mint();
        assert!(key.raw.starts_with("stra_"));
        assert_eq!(key.raw.len(), 48);
        assert!(key.raw[5..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(key.prefix, &key.raw[..12]);
        assert_ne!(mint().raw, key.raw);
    }

    #[test]
    fn dev_key_hash_matches_the_original_seed() {
        let dev = from_raw(DEV_KEY_RAW.to_owned());
        assert_eq!(dev.prefix, "stra_dev_loc");
        assert_eq!(
            dev.hash,
            "d167e0111ebddd7e1001ad51ded8b7f9f7887c127a626063a83e02b6e6807924"
        );
    }
}
