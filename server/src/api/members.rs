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

use serde::Serialize;
use utoipa::ToSchema;

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

/// A role a member can be given: `viewer`, `operator` or `admin` (the owner
/// changes only by a transfer).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `role_field` checks the value
#[schema(rename_all = "lowercase")]
pub enum AssignableRole {
    Viewer,
    Operator,
    Admin,
}

/// A person in the current project.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    /// The user's id.
    pub id: Uuid,
    pub email: String,
    /// The display name, else the email's local part.
    pub display_name: String,
    /// `owner`, `admin`, `operator` or `viewer`.
    pub role: String,
    pub joined_at: String,
    /// The user's last sign-in.
    pub last_active: Option<String>,
    pub mfa_enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    /// By join time.
    pub data: Vec<MemberView>,
}

/// List members
///
/// The current project's people, by join time.
#[utoipa::path(
    tag = "Members",
    operation_id = "list_members",
    security(("bearer" = ["project_settings:read"])),
    responses((status = 200, description = "The members.", body = MemberList)),
)]
#[get("/v1/members")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let all = users::members(&mut conn, auth.project_id).await?;
    let data = all
        .into_iter()
        .map(|(u, role, joined)| MemberView {
            id: u.id,
            display_name: u
                .display_name
                .clone()
                .unwrap_or_else(|| u.email.split('@').next().unwrap_or("").to_owned()),
            email: u.email,
            role,
            joined_at: utc_offset(&joined),
            last_active: u.last_login_at.as_ref().map(utc_offset),
            mfa_enabled: u.mfa_enabled,
        })
        .collect();
    Ok(HttpResponse::Ok().json(MemberList { data }))
}

/// `POST /v1/members`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// Trimmed and lower-cased, then it must look like `name@host.tld`
    /// (400 `Invalid email format`).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\s*$"
    )]
    email: String,
    /// Must be below the caller's own role (a `*` key counts as owner, any
    /// other key as admin).
    role: AssignableRole,
}

#[derive(Serialize, ToSchema)]
pub struct Invited {
    /// `added` (a registered user joined at once) or `invited` (they join
    /// when they register).
    pub status: String,
    pub email: String,
    pub role: String,
}

/// Invite a member
///
/// Adds a registered user at once; anyone else gets an invitation that
/// becomes a membership when they register.
#[utoipa::path(
    tag = "Members",
    operation_id = "invite_member",
    security(("bearer" = ["project_settings:write"])),
    request_body = Invite,
    responses(
        (status = 201, description = "Added or invited.", body = Invited),
        (status = 400, description = "`Invalid email format`."),
        (status = 409, description = "`User is already a member of this project`."),
    ),
)]
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
    Ok(HttpResponse::Created().json(Invited {
        status: status.into(),
        email,
        role,
    }))
}

/// An invitation not yet taken up.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub email: String,
    pub role: String,
    pub invited_at: String,
    /// Always `pending`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    /// Oldest first.
    pub data: Vec<InvitationView>,
}

/// List pending invitations
#[utoipa::path(
    tag = "Members",
    operation_id = "list_invitations",
    security(("bearer" = ["project_settings:read"])),
    responses((status = 200, description = "The invitations.", body = InvitationList)),
)]
#[get("/v1/members/pending")]
pub async fn pending(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let data = users::invitations(&mut conn, auth.project_id)
        .await?
        .into_iter()
        .map(|(email, role, at)| InvitationView {
            email,
            role,
            invited_at: utc_offset(&at),
            status: "pending".into(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(InvitationList { data }))
}

#[derive(Serialize, ToSchema)]
pub struct InvitationRevoked {
    /// `revoked`.
    pub status: String,
    pub email: String,
}

/// Revoke an invitation
#[utoipa::path(
    tag = "Members",
    operation_id = "revoke_invitation",
    security(("bearer" = ["project_settings:write"])),
    params(("email" = String, Path, description = "The invited address (any case).")),
    responses((status = 200, description = "Revoked.", body = InvitationRevoked)),
)]
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
    Ok(HttpResponse::Ok().json(InvitationRevoked {
        status: "revoked".into(),
        email,
    }))
}

/// A new role.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `role_field` reads the body
pub struct RoleChange {
    /// Must be below the caller's own role.
    role: AssignableRole,
}

#[derive(Serialize, ToSchema)]
pub struct RoleChanged {
    /// `updated`.
    pub status: String,
    pub role: String,
}

/// Change a member's role
///
/// The caller must outrank both the member's current role and the new one;
/// nobody changes the owner's role or their own.
#[utoipa::path(
    tag = "Members",
    operation_id = "change_member_role",
    security(("bearer" = ["project_settings:write"])),
    params(("user_id" = Uuid, Path, description = "The member's user id.")),
    request_body = RoleChange,
    responses((status = 200, description = "Changed.", body = RoleChanged)),
)]
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
    Ok(HttpResponse::Ok().json(RoleChanged {
        status: "updated".into(),
        role,
    }))
}

/// Remove a member
///
/// The caller must outrank the member; nobody removes the owner or
/// themself.
#[utoipa::path(
    tag = "Members",
    operation_id = "remove_member",
    security(("bearer" = ["project_settings:write"])),
    params(("user_id" = Uuid, Path, description = "The member's user id.")),
    responses((status = 204, description = "Removed.")),
)]
#[delete("/v1/members/{user_id}")]
pub async fn remove(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let mut conn = state.pool.get().await?;
    remove_member(&mut conn, &auth, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct MemberPasswordReset {
    /// `password_reset`.
    pub status: String,
    /// A one-time password the member must change at next login.
    pub temporary_password: String,
    pub email: String,
    pub message: String,
}

/// Reset a member's password
///
/// Sets a one-time password the member must change at next login and signs
/// them out everywhere. The caller must outrank the member.
#[utoipa::path(
    tag = "Members",
    operation_id = "reset_member_password",
    security(("bearer" = ["project_settings:write"])),
    params(("user_id" = Uuid, Path, description = "The member's user id.")),
    responses((status = 200, description = "The temporary password (shown once).", body = MemberPasswordReset)),
)]
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
    Ok(HttpResponse::Ok().json(MemberPasswordReset {
        status: "password_reset".into(),
        temporary_password: temporary,
        email: user.email,
        message: "User must change password on next login".into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MemberMfaDisabled {
    /// `mfa_disabled`.
    pub status: String,
    pub email: String,
}

/// Turn off a member's MFA
///
/// For a member who lost their authenticator and recovery codes. The caller
/// must outrank the member.
#[utoipa::path(
    tag = "Members",
    operation_id = "disable_member_mfa",
    security(("bearer" = ["project_settings:write"])),
    params(("user_id" = Uuid, Path, description = "The member's user id.")),
    responses((status = 200, description = "MFA is off.", body = MemberMfaDisabled)),
)]
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
    Ok(HttpResponse::Ok().json(MemberMfaDisabled {
        status: "mfa_disabled".into(),
        email,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TransferOffered {
    /// `transfer_pending`.
    pub status: String,
    /// Accept or reject it at `/v1/ownership-transfers/{id}`.
    pub transfer_id: Uuid,
}

/// Offer ownership to an admin
///
/// Offers the project to one of its admins, who must accept. Only the owner
/// (by session) may, or a key with `*` on the current owner's behalf (the
/// CLI's `admin transfer-ownership`). A new offer replaces an open one.
#[utoipa::path(
    tag = "Members",
    operation_id = "offer_ownership",
    security(("bearer" = ["*"])),
    params(("user_id" = Uuid, Path, description = "The admin's user id.")),
    responses(
        (status = 200, description = "Offered.", body = TransferOffered),
        (status = 400, description = "The member is not an admin, or is already the owner."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(TransferOffered {
        status: "transfer_pending".into(),
        transfer_id: transfer.id,
    }))
}
