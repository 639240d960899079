//! `/v1/members`: the current project's people: who is in it, inviting by
//! email, changing roles, removing, and resetting a member's password.
//!
//! Everyone may only grant or manage roles strictly below their own; a
//! key with `*` counts as an owner, any other key as an admin.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::{ownership, users};
use uuid::Uuid;

use super::params::{email_field, object, utc_offset};
use crate::accounts::roles::ASSIGNABLE;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::login::force_reset;
use crate::membership::{may_grant, remove_member, set_role, target};
use crate::state::AppState;

fn role_field(body: &serde_json::Map<String, Value>) -> Result<String, ApiError> {
    match body.get("role").and_then(Value::as_str) {
        Some(r) if ASSIGNABLE.contains(&r) => Ok(r.to_owned()),
        Some(_) => Err(ApiError::field("role", "role must be one of: viewer, operator, admin")),
        None => Err(ApiError::field("role", "Field required")),
    }
}

/// `GET /v1/members`, by join time.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[get("/v1/members")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let all = users::members(&mut conn, auth.project_id).await?;
    let data: Vec<Value> = all
        .iter()
        .map(|(u, role, joined)| {
            json!({
                "id": u.id, "email": u.email,
                "display_name": u.display_name.clone().unwrap_or_else(|| u.email.split('@').next().unwrap_or("").to_owned()),
                "role": role, "joined_at": utc_offset(joined), "last_active": u.last_login_at.as_ref().map(utc_offset),
                "mfa_enabled": u.mfa_enabled,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// `POST /v1/members`: adds a registered user at once; anyone else gets
/// an invitation that becomes a membership when they register.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/members")]
pub async fn invite(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let body = object(body)?;
    if let Some(extra) = body.keys().find(|k| !["email", "role"].contains(&k.as_str())) {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let email = email_field(&body)?;
    let role = role_field(&body)?;
    may_grant(&auth, &role)?;
    let mut conn = state.pool.get().await?;
    let status = conn
        .transaction(async |conn| {
            let status = match users::find_by_email(conn, &email).await? {
                Some(user) => {
                    if users::member(conn, auth.project_id, user.id).await?.is_some() {
                        return Err(ApiError::Conflict("User is already a member of this project".into()));
                    }
                    users::add_member(conn, auth.project_id, user.id, &role).await?;
                    "added"
                }
                None => {
                    users::invite(conn, auth.project_id, &email, &role).await?;
                    "invited"
                }
            };
            let after = json!({"email": email, "role": role, "status": status});
            audit::record(conn, &auth, Event::new("member.invite", "member", &email).after(after)).await?;
            Ok(status)
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({ "status": status, "email": email, "role": role })))
}

/// `GET /v1/members/pending`
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[get("/v1/members/pending")]
pub async fn pending(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let data: Vec<Value> = users::invitations(&mut conn, auth.project_id)
        .await?
        .iter()
        .map(|(email, role, at)| {
            json!({"email": email, "role": role, "invited_at": utc_offset(at), "status": "pending"})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// `DELETE /v1/members/pending/{email}`
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[delete("/v1/members/pending/{email}")]
pub async fn revoke_invitation(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let email = path.into_inner().trim().to_lowercase();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        if users::revoke_invitation(conn, auth.project_id, &email).await? == 0 {
            return Err(ApiError::NotFound("Invitation not found".into()));
        }
        audit::record(conn, &auth, Event::new("member.invite_revoke", "member", &email)).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "revoked", "email": email })))
}

/// `PATCH /v1/members/{user_id}`
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[patch("/v1/members/{user_id}")]
pub async fn change_role(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let role = role_field(&object(body)?)?;
    may_grant(&auth, &role)?;
    let user_id = path.into_inner();
    let mut conn = state.pool.get().await?;
    set_role(&mut conn, &auth, user_id, &role).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "updated", "role": role })))
}

/// `DELETE /v1/members/{user_id}`
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[delete("/v1/members/{user_id}")]
pub async fn remove(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let mut conn = state.pool.get().await?;
    remove_member(&mut conn, &auth, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/members/{user_id}/reset-password`
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/members/{user_id}/reset-password")]
pub async fn reset_password(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let mut conn = state.pool.get().await?;
    let (user, _) = target(&mut conn, &auth, path.into_inner(), "reset the password of").await?;
    let temporary = force_reset(&state, &mut conn, &auth, user.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "password_reset", "temporary_password": temporary, "email": user.email,
        "message": "User must change password on next login",
    })))
}

/// `POST /v1/members/{user_id}/disable-mfa`: for a member who lost their
/// authenticator and recovery codes.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/members/{user_id}/disable-mfa")]
pub async fn disable_mfa(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let mut conn = state.pool.get().await?;
    let email = conn
        .transaction(async |conn| {
            let (user, _) = target(conn, &auth, path.into_inner(), "disable MFA for").await?;
            users::disable_mfa(conn, user.id).await?;
            audit::record(conn, &auth, Event::new("user.disable_mfa", "user", user.id)).await?;
            Ok::<_, ApiError>(user.email)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "mfa_disabled", "email": email })))
}

/// `POST /v1/members/{user_id}/transfer-ownership`: offers the project to
/// one of its admins, who must accept. A `*` key offers on the current
/// owner's behalf, so the CLI's `admin transfer-ownership` works.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/members/{user_id}/transfer-ownership")]
pub async fn transfer_ownership(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let to = path.into_inner();
    let not_owner = || ApiError::Forbidden("Only the project owner can transfer ownership".into());
    let mut conn = state.pool.get().await?;
    let from = match (auth.user_id(), auth.role.as_deref()) {
        (Some(user_id), Some("owner")) => user_id,
        (None, _) if auth.has(scope::ALL) => ownership::owner(&mut conn, auth.project_id)
            .await?
            .ok_or_else(not_owner)?,
        _ => return Err(not_owner()),
    };
    if to == from {
        return Err(ApiError::BadRequest("You are already the owner".into()));
    }
    let (_, role) = users::member(&mut conn, auth.project_id, to)
        .await?
        .ok_or_else(|| ApiError::NotFound("Member not found".into()))?;
    if role != "admin" {
        return Err(ApiError::BadRequest("Target must be an admin to become owner".into()));
    }
    let transfer = conn
        .transaction(async |conn| {
            let t = ownership::offer(conn, auth.project_id, from, to).await?;
            let after = json!({"from_user_id": from, "to_user_id": to});
            audit::record(
                conn,
                &auth,
                Event::new("ownership.offer", "ownership_transfer", t.id).after(after),
            )
            .await?;
            Ok::<_, ApiError>(t)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "transfer_pending", "transfer_id": transfer.id })))
}
