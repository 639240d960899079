//! `/v1/projects/{slug}/members`: the original's project-addressed member
//! API, for scripts that name a project by slug. Sessions get the project
//! from the URL; a key may only name its own project. The rank rules are
//! those of `/v1/members`, whose operations these share.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::{projects, users};
use uuid::Uuid;

use serde::Serialize;
use utoipa::ToSchema;

use super::params::email_field;
use super::params::object;
use super::params::utc_offset;
use crate::accounts::roles;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::membership::{caller_rank, may_grant, remove_member, set_role};
use crate::state::AppState;

const ROLES: [&str; 4] = ["owner", "admin", "operator", "viewer"];

/// The slug must name the caller's project.
async fn check_slug(conn: &mut diesel_async::AsyncPgConnection, auth: &Auth, slug: &str) -> Result<(), ApiError> {
    match projects::find(conn, auth.project_id).await? {
        Some(p) if p.slug == slug => Ok(()),
        _ => Err(ApiError::NotFound(format!("Project not found: {slug}"))),
    }
}

/// Managing members takes an owner or admin (a `*` key counts as owner).
fn require_manager(auth: &Auth) -> Result<(), ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    if caller_rank(auth) < roles::rank("admin") {
        return Err(ApiError::Forbidden("Only owners and admins can manage members".into()));
    }
    Ok(())
}

fn role_of(body: &serde_json::Map<String, Value>) -> Result<String, ApiError> {
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("role", "Field required"))?;
    if !ROLES.contains(&role) {
        return Err(ApiError::BadRequest(format!(
            "Invalid role: {role}. Valid: {}",
            ROLES.join(", ")
        )));
    }
    if role == "owner" {
        return Err(ApiError::Forbidden(
            "Owner role can only be assigned by transferring ownership".into(),
        ));
    }
    Ok(role.to_owned())
}

/// A member of the project, in the original's slug-addressed shape.
#[derive(Serialize, ToSchema)]
pub struct ProjectMemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    /// `owner`, `admin`, `operator` or `viewer`.
    pub role: String,
    /// When they joined; `invited_at` and `accepted_at` repeat it.
    pub created_at: String,
    pub invited_at: String,
    pub accepted_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectMemberList {
    pub count: usize,
    /// By join time.
    pub members: Vec<ProjectMemberView>,
}

/// List a project's members
///
/// The slug must name the caller's project (a session without
/// `X-Project-Id` gets its project from it).
#[utoipa::path(
    tag = "Projects",
    operation_id = "list_project_members",
    security(("bearer" = ["project_settings:read"])),
    params(("slug" = String, Path, description = "The caller's project's slug.")),
    responses((status = 200, description = "The members.", body = ProjectMemberList)),
)]
#[get("/v1/projects/{slug}/members")]
pub async fn list(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    check_slug(&mut conn, &auth, &path).await?;
    let members: Vec<ProjectMemberView> = users::members(&mut conn, auth.project_id)
        .await?
        .into_iter()
        .map(|(u, role, joined)| ProjectMemberView {
            user_id: u.id,
            email: u.email,
            display_name: u.display_name,
            role,
            created_at: utc_offset(&joined),
            invited_at: utc_offset(&joined),
            accepted_at: utc_offset(&joined),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ProjectMemberList {
        count: members.len(),
        members,
    }))
}

/// A role as this API names them; `owner` is refused (403: ownership
/// changes only by a transfer).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `role_of` checks the value
#[schema(rename_all = "lowercase")]
pub enum ProjectRole {
    Owner,
    Admin,
    Operator,
    Viewer,
}

/// `POST /v1/projects/{slug}/members`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ProjectMemberAdd {
    /// A registered user's email (trimmed, any case).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\s*$"
    )]
    email: String,
    /// Must be below the caller's own role.
    role: ProjectRole,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectMemberAdded {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub project_slug: String,
}

/// Add a member to a project
///
/// Adds a registered user (unknown emails are invited through
/// `POST /v1/members`). Takes an owner or admin (a `*` key counts as owner,
/// any other key as admin).
#[utoipa::path(
    tag = "Projects",
    operation_id = "add_project_member",
    security(("bearer" = ["project_settings:write"])),
    params(("slug" = String, Path, description = "The caller's project's slug.")),
    request_body = ProjectMemberAdd,
    responses(
        (status = 201, description = "Added.", body = ProjectMemberAdded),
        (status = 400, description = "`Invalid email format`, or an unknown role."),
        (status = 409, description = "The user is already a member."),
    ),
)]
#[post("/v1/projects/{slug}/members")]
pub async fn add(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&auth)?;
    let body = object(body)?;
    let email = email_field(&body)?;
    let role = role_of(&body)?;
    may_grant(&auth, &role)?;
    let slug = path.into_inner();
    let mut conn = state.pool.get().await?;
    check_slug(&mut conn, &auth, &slug).await?;
    let user = conn
        .transaction(async |conn| {
            let user = users::find_by_email(conn, &email)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("No registered user with email: {email}")))?;
            if users::member(conn, auth.project_id, user.id).await?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "User {email} is already a member of this project"
                )));
            }
            users::add_member(conn, auth.project_id, user.id, &role).await?;
            let after = json!({"email": email, "role": role, "status": "added"});
            audit::record(conn, &auth, Event::new("member.invite", "member", &email).after(after)).await?;
            Ok(user)
        })
        .await?;
    Ok(HttpResponse::Created().json(ProjectMemberAdded {
        user_id: user.id,
        email: user.email,
        display_name: user.display_name,
        role,
        project_slug: slug,
    }))
}

/// `PATCH /v1/projects/{slug}/members/{user_id}`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `role_of` reads the body
pub struct ProjectRoleChange {
    /// Must be below the caller's own role.
    role: ProjectRole,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectRoleChanged {
    pub user_id: Uuid,
    pub role: String,
    pub project_slug: String,
}

/// Change a project member's role
///
/// The caller (an owner or admin) must outrank both the member's current
/// role and the new one; nobody changes the owner's role or their own.
#[utoipa::path(
    tag = "Projects",
    operation_id = "change_project_member_role",
    security(("bearer" = ["project_settings:write"])),
    params(
        ("slug" = String, Path, description = "The caller's project's slug."),
        ("user_id" = Uuid, Path, description = "The member's user id."),
    ),
    request_body = ProjectRoleChange,
    responses(
        (status = 200, description = "Changed.", body = ProjectRoleChanged),
        (status = 400, description = "An unknown role."),
    ),
)]
#[patch("/v1/projects/{slug}/members/{user_id}")]
pub async fn change_role(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&auth)?;
    let role = role_of(&object(body)?)?;
    may_grant(&auth, &role)?;
    let (slug, user_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    check_slug(&mut conn, &auth, &slug).await?;
    set_role(&mut conn, &auth, user_id, &role).await?;
    Ok(HttpResponse::Ok().json(ProjectRoleChanged {
        user_id,
        role,
        project_slug: slug,
    }))
}

/// Remove a project member
///
/// The caller (an owner or admin) must outrank the member; nobody removes
/// the owner or themself.
#[utoipa::path(
    tag = "Projects",
    operation_id = "remove_project_member",
    security(("bearer" = ["project_settings:write"])),
    params(
        ("slug" = String, Path, description = "The caller's project's slug."),
        ("user_id" = Uuid, Path, description = "The member's user id."),
    ),
    responses((status = 204, description = "Removed.")),
)]
#[delete("/v1/projects/{slug}/members/{user_id}")]
pub async fn remove(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    require_manager(&auth)?;
    let (slug, user_id) = path.into_inner();
    let mut conn = state.pool.get().await?;
    check_slug(&mut conn, &auth, &slug).await?;
    remove_member(&mut conn, &auth, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
