//! Dashboard users, their sessions and their project memberships.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{pending_invitations, project_members, projects, sessions, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub force_password_change: bool,
    pub failed_login_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub mfa_enabled: bool,
}

pub async fn count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn).await
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    email: &str,
    display_name: Option<&str>,
    hash: &str,
) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values((
            users::email.eq(email),
            users::display_name.eq(display_name),
            users::password_hash.eq(hash),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = lower(")
                .bind::<diesel::sql_types::Text, _>(email)
                .sql(")"),
        )
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::created_at.asc())
        .select(User::as_select())
        .load(conn)
        .await
}

/// Sets a new password hash; `force_change` makes the next login change it.
pub async fn set_password(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    hash: &str,
    force_change: bool,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::force_password_change.eq(force_change),
            users::failed_login_attempts.eq(0),
            users::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
}

pub async fn disable_mfa(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::mfa_enabled.eq(false),
            users::totp_secret.eq(None::<String>),
            users::backup_codes.eq(Vec::<String>::new()),
        ))
        .execute(conn)
        .await
}

/// The stored TOTP secret (if any) and the recovery-code hashes left.
pub async fn mfa_state(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<(Option<String>, Vec<String>)> {
    users::table
        .find(id)
        .select((users::totp_secret, users::backup_codes))
        .first(conn)
        .await
}

/// Stores a secret awaiting confirmation; MFA stays as it was until then.
pub async fn set_totp_secret(conn: &mut AsyncPgConnection, id: Uuid, stored: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::totp_secret.eq(stored), users::totp_last_step.eq(None::<i64>)))
        .execute(conn)
        .await
}

pub async fn enable_mfa(conn: &mut AsyncPgConnection, id: Uuid, code_hashes: &[String]) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::mfa_enabled.eq(true), users::backup_codes.eq(code_hashes)))
        .execute(conn)
        .await
}

/// Records a TOTP time step as used; false if it (or a later one) was
/// used already, which makes every code single-use.
pub async fn claim_totp_step(conn: &mut AsyncPgConnection, id: Uuid, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(id)
            .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Uses up one recovery code; false if it was not (or no longer) valid.
pub async fn consume_recovery_code(conn: &mut AsyncPgConnection, id: Uuid, hash: &str) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE users SET backup_codes = array_remove(backup_codes, $2) WHERE id = $1 AND $2 = ANY(backup_codes)",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Text, _>(hash)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Counts a failed login; the `lock_after`-th consecutive one locks the
/// account until `locked_until`.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lock_after: i32,
    locked_until: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE users SET failed_login_attempts = failed_login_attempts + 1, \
         locked_until = CASE WHEN failed_login_attempts + 1 >= $2 THEN $3 ELSE locked_until END WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Integer, _>(lock_after)
    .bind::<diesel::sql_types::Timestamptz, _>(locked_until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn record_login(conn: &mut AsyncPgConnection, id: Uuid, new_hash: Option<&str>) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_login_attempts.eq(0),
            users::locked_until.eq(None::<DateTime<Utc>>),
            users::last_login_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    if let Some(hash) = new_hash {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(hash))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub kind: String,
}

/// `kind` is `session`, or `mfa_challenge` for the short-lived token that
/// only `POST /v1/auth/mfa/verify` accepts.
pub async fn create_session(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    kind: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> QueryResult<Session> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::user_id.eq(user_id),
            sessions::kind.eq(kind),
            sessions::token_hash.eq(token_hash),
            sessions::expires_at.eq(expires_at),
            sessions::ip_address.eq(ip),
            sessions::user_agent.eq(user_agent),
        ))
        .returning(Session::as_returning())
        .get_result(conn)
        .await
}

/// A live session and its active user.
pub async fn find_session(conn: &mut AsyncPgConnection, token_hash: &str) -> QueryResult<Option<(Session, User)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .filter(users::is_active.eq(true))
        .select((Session::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
}

pub async fn delete_session(conn: &mut AsyncPgConnection, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash)))
        .execute(conn)
        .await
}

/// A live sign-in as its owner sees it in a session list.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// The user's live sessions (not MFA challenges), newest first.
pub async fn list_sessions(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Vec<SessionInfo>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::kind.eq("session"))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionInfo::as_select())
        .load(conn)
        .await
}

/// Ends one of the user's sessions; false when the user has no such session.
pub async fn delete_session_by_id(conn: &mut AsyncPgConnection, user_id: Uuid, id: Uuid) -> QueryResult<bool> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).find(id))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

pub async fn set_display_name(conn: &mut AsyncPgConnection, user_id: Uuid, name: &str) -> QueryResult<User> {
    diesel::update(users::table.find(user_id))
        .set(users::display_name.eq(name))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Deletes the user's sessions, except `keep` when given.
pub async fn delete_sessions(conn: &mut AsyncPgConnection, user_id: Uuid, keep: Option<Uuid>) -> QueryResult<usize> {
    let mut q = diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).into_boxed();
    if let Some(keep) = keep {
        q = q.filter(sessions::id.ne(keep));
    }
    q.execute(conn).await
}

/// Keeps at most `max - 1` of the user's sessions (oldest go), so one more fits.
pub async fn make_room(conn: &mut AsyncPgConnection, user_id: Uuid, max: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE user_id = $1 \
         ORDER BY created_at DESC OFFSET $2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<diesel::sql_types::BigInt, _>((max - 1).max(0))
    .execute(conn)
    .await
}

pub async fn add_member(conn: &mut AsyncPgConnection, project_id: Uuid, user_id: Uuid, role: &str) -> QueryResult<()> {
    diesel::insert_into(project_members::table)
        .values((
            project_members::project_id.eq(project_id),
            project_members::user_id.eq(user_id),
            project_members::role.eq(role),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's role in a live project.
pub async fn role(conn: &mut AsyncPgConnection, project_id: Uuid, user_id: Uuid) -> QueryResult<Option<String>> {
    project_members::table
        .inner_join(projects::table)
        .filter(projects::deleted_at.is_null())
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::user_id.eq(user_id))
        .select(project_members::role)
        .first(conn)
        .await
        .optional()
}

/// (project id, name, slug, role) for each live membership, by project name.
pub async fn memberships(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(Uuid, String, String, String)>> {
    project_members::table
        .inner_join(projects::table)
        .filter(projects::deleted_at.is_null())
        .filter(project_members::user_id.eq(user_id))
        .order(projects::name.asc())
        .select((projects::id, projects::name, projects::slug, project_members::role))
        .load(conn)
        .await
}

/// (project name, slug, role, joined) for each of the user's projects, for
/// their data export.
pub async fn membership_history(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(String, String, String, DateTime<Utc>)>> {
    project_members::table
        .inner_join(projects::table)
        .filter(projects::deleted_at.is_null())
        .filter(project_members::user_id.eq(user_id))
        .order(project_members::created_at.asc())
        .select((
            projects::name,
            projects::slug,
            project_members::role,
            project_members::created_at,
        ))
        .load(conn)
        .await
}

/// (user, role, joined) for each member of the project, by join time.
pub async fn members(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
) -> QueryResult<Vec<(User, String, DateTime<Utc>)>> {
    project_members::table
        .inner_join(users::table)
        .filter(project_members::project_id.eq(project_id))
        .order(project_members::created_at.asc())
        .select((User::as_select(), project_members::role, project_members::created_at))
        .load(conn)
        .await
}

/// The user and their role, if they are a member of the project.
pub async fn member(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<(User, String)>> {
    project_members::table
        .inner_join(users::table)
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::user_id.eq(user_id))
        .select((User::as_select(), project_members::role))
        .first(conn)
        .await
        .optional()
}

pub async fn set_role(conn: &mut AsyncPgConnection, project_id: Uuid, user_id: Uuid, role: &str) -> QueryResult<usize> {
    diesel::update(project_members::table.find((project_id, user_id)))
        .set(project_members::role.eq(role))
        .execute(conn)
        .await
}

pub async fn remove_member(conn: &mut AsyncPgConnection, project_id: Uuid, user_id: Uuid) -> QueryResult<usize> {
    diesel::delete(project_members::table.find((project_id, user_id)))
        .execute(conn)
        .await
}

/// Records (or re-roles) an invitation for an email with no account yet.
pub async fn invite(conn: &mut AsyncPgConnection, project_id: Uuid, email: &str, role: &str) -> QueryResult<()> {
    diesel::insert_into(pending_invitations::table)
        .values((
            pending_invitations::project_id.eq(project_id),
            pending_invitations::email.eq(email),
            pending_invitations::role.eq(role),
        ))
        .on_conflict((pending_invitations::email, pending_invitations::project_id))
        .do_update()
        .set((
            pending_invitations::role.eq(role),
            pending_invitations::created_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// (email, role, invited at) for the project's open invitations, oldest first.
pub async fn invitations(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
) -> QueryResult<Vec<(String, String, DateTime<Utc>)>> {
    pending_invitations::table
        .filter(pending_invitations::project_id.eq(project_id))
        .order(pending_invitations::created_at.asc())
        .select((
            pending_invitations::email,
            pending_invitations::role,
            pending_invitations::created_at,
        ))
        .load(conn)
        .await
}

pub async fn revoke_invitation(conn: &mut AsyncPgConnection, project_id: Uuid, email: &str) -> QueryResult<usize> {
    diesel::delete(
        pending_invitations::table
            .filter(pending_invitations::project_id.eq(project_id))
            .filter(pending_invitations::email.eq(email)),
    )
    .execute(conn)
    .await
}

/// Turns every open invitation for the email into a membership of the user.
pub async fn accept_invitations(conn: &mut AsyncPgConnection, user_id: Uuid, email: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH taken AS (DELETE FROM pending_invitations WHERE email = $1 RETURNING project_id, role) \
         INSERT INTO project_members (project_id, user_id, role) SELECT project_id, $2, role FROM taken \
         ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(email)
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .execute(conn)
    .await
}
