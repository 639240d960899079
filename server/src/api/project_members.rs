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

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
#[get("/v1/projects/{slug}/members")]
pub async fn list(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    check_slug(&mut conn, &auth, &path).await?;
    let members: Vec<Value> = users::members(&mut conn, auth.project_id)
        .await?
        .iter()
        .map(|(u, role, joined)| {
            json!({
                "user_id": u.id, "email": u.email, "display_name": u.display_name, "role": role,
                "created_at": utc_offset(joined), "invited_at": utc_offset(joined), "accepted_at": utc_offset(joined),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": members.len(), "members": members })))
}

/// Adds a registered user (unknown emails are invited through `/v1/members`).
#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
    Ok(HttpResponse::Created().json(json!({
        "user_id": user.id, "email": user.email, "display_name": user.display_name, "role": role, "project_slug": slug,
    })))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
    Ok(HttpResponse::Ok().json(json!({ "user_id": user_id, "role": role, "project_slug": slug })))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
