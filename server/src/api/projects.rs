//! `/v1/projects`: the organization's projects. Creating one mints its first
//! API key (shown once); deleting one is soft and revokes its keys.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::api_keys::{self, Creation};
use strathon_schema::projects::{self, Project};

use super::params::object;
use super::params::{self, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth, Confirmed};
use crate::error::ApiError;
use crate::state::AppState;

fn render(p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "slug": p.slug, "api_key": null, "api_key_scopes": null,
        "created_at": super::params::utc_offset(&p.created_at), "deleted_at": p.deleted_at.as_ref().map(super::params::utc_offset), "resource_counts": null,
    })
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

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
    let mut body = render(&project);
    body["api_key"] = json!(minted.raw);
    body["api_key_scopes"] = json!(key.scopes);
    Ok(HttpResponse::Created().json(body))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
#[get("/v1/projects")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let include_deleted = params::flag(&query, "include_deleted");
    let mut conn = state.pool.get().await?;
    let org = caller_org(&mut conn, &auth).await?;
    let all = projects::list(&mut conn, org, include_deleted).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(render).collect::<Vec<_>>() })))
}

async fn by_slug(conn: &mut strathon_schema::AsyncPgConnection, auth: &Auth, slug: &str) -> Result<Project, ApiError> {
    let org = caller_org(conn, auth).await?;
    projects::find_by_slug(conn, org, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound("project not found".into()))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
#[get("/v1/projects/{slug}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECTS_MANAGE)?;
    let mut conn = state.pool.get().await?;
    let p = by_slug(&mut conn, &auth, &path).await?;
    let (keys, policies, traces) = projects::resource_counts(&mut conn, p.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": p.id, "name": p.name, "slug": p.slug, "created_at": super::params::utc_offset(&p.created_at),
        "resource_counts": {"api_keys": keys, "policies": policies, "traces": traces},
    })))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
    Ok(HttpResponse::Ok().json(json!({ "id": renamed.id, "name": renamed.name, "slug": renamed.slug })))
}

#[utoipa::path(tag = "Projects", responses((status = 200, description = "OK")))]
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
