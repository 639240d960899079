//! Changing who is in a project, shared by `/v1/members` and
//! `/v1/projects/{id}/members`: everyone may only grant or manage roles
//! strictly below their own; a key with `*` counts as an owner, any other
//! key as an admin.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;
use strathon_schema::users;
use uuid::Uuid;

use crate::accounts::roles::{self, can_manage};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;

pub fn caller_rank(auth: &Auth) -> u8 {
    match auth.role.as_deref() {
        Some(role) => roles::rank(role),
        None if auth.has(scope::ALL) => roles::rank("owner"),
        None => roles::rank("admin"),
    }
}

pub fn may_grant(auth: &Auth, role: &str) -> Result<(), ApiError> {
    if can_manage(caller_rank(auth), role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Cannot assign role '{role}' — must be below your own role"
        )))
    }
}

/// The member being acted on, refusing the owner and the caller themself.
pub async fn target(
    conn: &mut AsyncPgConnection,
    auth: &Auth,
    user_id: Uuid,
    verb: &str,
) -> Result<(users::User, String), ApiError> {
    let (user, role) = users::member(conn, auth.project_id, user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Member not found".into()))?;
    if role == "owner" {
        return Err(ApiError::Forbidden(format!("Cannot {verb} the project owner")));
    }
    if auth.user_id() == Some(user.id) {
        return Err(ApiError::Forbidden(format!("Cannot {verb} yourself")));
    }
    if !can_manage(caller_rank(auth), &role) {
        return Err(ApiError::Forbidden(
            "You can only manage members whose role is below your own.".into(),
        ));
    }
    Ok((user, role))
}

/// Changes a member's role (rank rules applied), audited, in one transaction.
pub async fn set_role(conn: &mut AsyncPgConnection, auth: &Auth, user_id: Uuid, role: &str) -> Result<(), ApiError> {
    conn.transaction(async |conn| {
        let (_, before) = target(conn, auth, user_id, "change the role of").await?;
        users::set_role(conn, auth.project_id, user_id, role).await?;
        let event = Event::new("member.role_change", "member", user_id)
            .before(json!({"role": before}))
            .after(json!({"role": role}));
        audit::record(conn, auth, event).await
    })
    .await
}

/// Removes a member (rank rules applied), audited, in one transaction.
pub async fn remove_member(conn: &mut AsyncPgConnection, auth: &Auth, user_id: Uuid) -> Result<(), ApiError> {
    conn.transaction(async |conn| {
        let (_, role) = target(conn, auth, user_id, "remove").await?;
        users::remove_member(conn, auth.project_id, user_id).await?;
        let event = Event::new("member.remove", "member", user_id).before(json!({"role": role}));
        audit::record(conn, auth, event).await
    })
    .await
}
