//! `/v1/projects`: the organization's projects. Creating one mints its first
//! API key (shown once); deleting one is soft and revokes its keys.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::api_keys::{self, Creation};
use strathon_schema::projects::{self, Project};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::object;
use super::params::{self, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth, Confirmed};
use crate::error::ApiError;
use crate::state::AppState;

/// A project of the caller's organization. `api_key` and `api_key_scopes`
/// are set only in the answer to its creation, `resource_counts` never here
/// (see `GET /v1/projects/{slug}`).
#[derive(Serialize, ToSchema)]
#[schema(as = Project)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// The project's first API key, shown once at creation.
    pub api_key: Option<String>,
    pub api_key_scopes: Option<Vec<String>>,
    pub created_at: String,
    pub deleted_at: Option<String>,
    pub resource_counts: Option<ResourceCounts>,
}

/// What a project holds.
#[derive(Serialize, ToSchema)]
pub struct ResourceCounts {
    /// Live keys.
    pub api_keys: i64,
    pub policies: i64,
    pub traces: i64,
}

fn view(p: &Project) -> ProjectView {
    ProjectView {
        id: p.id,
        name: p.name.clone(),
        slug: p.slug.clone(),
        api_key: None,
        api_key_scopes: None,
        created_at: super::params::utc_offset(&p.created_at),
        deleted_at: p.deleted_at.as_ref().map(super::params::utc_offset),
        resource_counts: None,
    }
}

fn render(p: &Project) -> Value {
    serde_json::to_value(view(p)).expect("a project serializes")
}

async fn caller_org(conn: &mut strathon_schema::AsyncPgConnection, auth: &Auth) -> Result<uuid::Uuid, ApiError> {
    projects::find(conn, auth.project_id)
        .await?
        .map(|p| p.org_id)
        .ok_or_else(|| ApiError::BadRequest("could not resolve organization for the calling project".into()))
}

fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    (3..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// `POST /v1/projects`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ProjectCreate {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Lower-case letters, digits and hyphens, not at either end; unique
    /// among the organization's live projects.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
    slug: String,
}

/// Create a project
///
/// In the caller's organization, with default settings and a first API key
/// (`<slug>-default-key`, the default scopes) whose raw value is in the
/// answer, once.
#[utoipa::path(
    tag = "Projects",
    operation_id = "create_project",
    security(("bearer" = ["projects:manage"])),
    request_body = ProjectCreate,
    responses(
        (status = 201, description = "The project and its first key.", body = ProjectView,
            links(("GetProject" = (operation_id = "get_project", parameters(("slug" = "$response.body#/slug")))))),
        (status = 400, description = "The slug breaks its rules, or the caller's organization cannot be resolved."),
        (status = 409, description = "A live project of the organization has that slug."),
    ),
)]
#[post("/v1/projects")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let body = object(body)?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(slug)) = (field("name"), field("slug")) else {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "missing", "loc": ["body"], "msg": "name and slug are required"}),
        ]));
    };
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_length", "loc": ["body", "name"], "msg": "name must be 1 to 200 characters"}),
        ]));
    }
    if !valid_slug(&slug) {
        return Err(ApiError::BadRequest(
            "slug must be 3-64 chars, lowercase alphanumeric + hyphens, cannot start/end with hyphen".into(),
        ));
    }
    let minted = api_keys::mint();
    let mut conn = state.pool.get().await?;
    let (project, key) = conn
        .transaction(async |conn| {
            let org = caller_org(conn, &auth).await?;
            if projects::find_by_slug(conn, org, &slug).await?.is_some() {
                return Err(ApiError::Conflict(format!("project with slug '{slug}' already exists")));
            }
            let p = projects::create(conn, org, &name, &slug).await?;
            let scopes: Vec<String> = scope::KEY_DEFAULTS.iter().map(|s| s.to_string()).collect();
            let key_name = format!("{slug}-default-key");
            let creation = Creation {
                project_id: p.id,
                name: &key_name,
                scopes: &scopes,
                expires_at: None,
                allowed_ips: None,
                rotated_from_id: None,
            };
            let k = api_keys::create(conn, creation, &minted).await?;
            audit::record(
                conn,
                &auth,
                Event::new("project.create", "project", p.id).after(render(&p)),
            )
            .await?;
            Ok((p, k))
        })
        .await?;
    let mut body = view(&project);
    body.api_key = Some(minted.raw);
    body.api_key_scopes = Some(key.scopes);
    Ok(HttpResponse::Created().json(body))
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    /// By name.
    pub data: Vec<ProjectView>,
}

/// List projects
///
/// The projects of the caller's organization, by name.
#[utoipa::path(
    tag = "Projects",
    operation_id = "list_projects",
    security(("bearer" = ["projects:manage"])),
    params(("include_deleted" = Option<bool>, Query, description = "Also list deleted projects.")),
    responses(
        (status = 200, description = "The projects.", body = ProjectList),
        (status = 400, description = "The caller's organization cannot be resolved."),
    ),
)]
#[get("/v1/projects")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let include_deleted = params::flag(&query, "include_deleted");
    let mut conn = state.pool.get().await?;
    let org = caller_org(&mut conn, &auth).await?;
    let all = projects::list(&mut conn, org, include_deleted).await?;
    Ok(HttpResponse::Ok().json(ProjectList {
        data: all.iter().map(view).collect(),
    }))
}

async fn by_slug(conn: &mut strathon_schema::AsyncPgConnection, auth: &Auth, slug: &str) -> Result<Project, ApiError> {
    let org = caller_org(conn, auth).await?;
    projects::find_by_slug(conn, org, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound("project not found".into()))
}

/// A project with what it holds.
#[derive(Serialize, ToSchema)]
pub struct ProjectDetail {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub created_at: String,
    pub resource_counts: ResourceCounts,
}

/// Read a project
#[utoipa::path(
    tag = "Projects",
    operation_id = "get_project",
    security(("bearer" = ["projects:manage"])),
    params(("slug" = String, Path, description = "The project's slug.")),
    responses(
        (status = 200, description = "The project.", body = ProjectDetail),
        (status = 400, description = "The caller's organization cannot be resolved."),
    ),
)]
#[get("/v1/projects/{slug}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let mut conn = state.pool.get().await?;
    let p = by_slug(&mut conn, &auth, &path).await?;
    let (keys, policies, traces) = projects::resource_counts(&mut conn, p.id).await?;
    Ok(HttpResponse::Ok().json(ProjectDetail {
        id: p.id,
        created_at: super::params::utc_offset(&p.created_at),
        name: p.name,
        slug: p.slug,
        resource_counts: ResourceCounts {
            api_keys: keys,
            policies,
            traces,
        },
    }))
}

/// `PATCH /v1/projects/{slug}`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ProjectRename {
    /// The new name; absent or null is `400 nothing to update`.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectRenamed {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

/// Rename a project
#[utoipa::path(
    tag = "Projects",
    operation_id = "rename_project",
    security(("bearer" = ["projects:manage"])),
    params(("slug" = String, Path, description = "The project's slug.")),
    request_body = ProjectRename,
    responses(
        (status = 200, description = "The project, renamed.", body = ProjectRenamed),
        (status = 400, description = "`nothing to update` (no name), or the caller's organization cannot be resolved."),
    ),
)]
#[patch("/v1/projects/{slug}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let body = object(body)?;
    let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ApiError::BadRequest("nothing to update".into()));
    };
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_length", "loc": ["body", "name"], "msg": "name must be 1 to 200 characters"}),
        ]));
    }
    let mut conn = state.pool.get().await?;
    let renamed = conn
        .transaction(async |conn| {
            let p = by_slug(conn, &auth, &path).await?;
            let renamed = projects::rename(conn, p.id, &name).await?;
            let event = Event::new("project.update", "project", p.id)
                .before(render(&p))
                .after(render(&renamed));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(renamed)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ProjectRenamed {
        id: renamed.id,
        name: renamed.name,
        slug: renamed.slug,
    }))
}

/// Delete a project
///
/// Soft: the project is marked deleted and its keys stop working. The last
/// live project of the organization cannot be deleted. A session must prove
/// its user again with `X-Confirm-Password` or `X-Confirm-MFA` (403
/// otherwise); an API key needs neither.
#[utoipa::path(
    tag = "Projects",
    operation_id = "delete_project",
    security(("bearer" = ["projects:manage"])),
    params(
        ("slug" = String, Path, description = "The project's slug."),
        ("X-Confirm-Password" = Option<String>, Header, description = "Sessions: the user's password."),
        ("X-Confirm-MFA" = Option<String>, Header, description = "Sessions: a current authenticator code, instead of the password."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "The caller's organization cannot be resolved."),
        (status = 409, description = "It is the organization's last live project."),
    ),
)]
#[delete("/v1/projects/{slug}")]
pub async fn delete(
    Confirmed(auth): Confirmed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let org = caller_org(conn, &auth).await?;
        if projects::list(conn, org, false).await?.len() <= 1 {
            return Err(ApiError::Conflict(
                "Cannot delete the last project. Create another project first.".into(),
            ));
        }
        let p = by_slug(conn, &auth, &path).await?;
        projects::soft_delete(conn, p.id).await?;
        audit::record(
            conn,
            &auth,
            Event::new("project.delete", "project", p.id).before(render(&p)),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        for ok in ["abc", "team-1", "a1b"] {
            assert!(super::valid_slug(ok), "{ok}");
        }
        for bad in ["ab", "-abc", "abc-", "Abc", "a_b", &"a".repeat(65)] {
            assert!(!super::valid_slug(bad), "{bad}");
        }
    }
}
