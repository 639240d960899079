//! `/v1/api_keys`: list, create (the raw key shown once), rotate with a grace
//! period, rename or set expiry, revoke. Every operation stays inside the
//! caller's project: another project's key id is simply not found.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Map, Value};
use strathon_schema::api_keys::{self, ApiKey, Creation};

use super::params::object;
use super::params::{self, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth, Confirmed};
use crate::error::ApiError;
use crate::state::AppState;

pub fn render(k: &ApiKey) -> Value {
    json!({
        "id": k.id, "project_id": k.project_id, "name": k.name, "key_prefix": k.key_prefix, "scopes": k.scopes,
        "created_at": super::params::utc_z(&k.created_at), "last_used_at": k.last_used_at.as_ref().map(super::params::utc_z),
        "revoked_at": k.revoked_at.as_ref().map(super::params::utc_z), "deprecated_at": k.deprecated_at.as_ref().map(super::params::utc_z),
        "expires_at": k.expires_at.as_ref().map(super::params::utc_z), "rotated_from_id": k.rotated_from_id, "allowed_ips": k.allowed_ips,
    })
}

fn with_secret(k: &ApiKey, raw: &str) -> Value {
    let mut body = render(k);
    body["key"] = json!(raw);
    body
}

fn timestamp(body: &Map<String, Value>, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.to_utc()))
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| Some(t.and_utc())))
            .map_err(|_| ApiError::field(key, "Input should be a valid datetime")),
        Some(_) => Err(ApiError::field(key, "Input should be a valid datetime")),
    }
}

#[utoipa::path(tag = "API keys", responses((status = 200, description = "OK")))]
#[get("/v1/api_keys")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_READ)?;
    let include_revoked = params::flag(&query, "include_revoked");
    let mut conn = state.pool.get().await?;
    let keys: Vec<Value> = api_keys::list(&mut conn, auth.project_id, include_revoked)
        .await?
        .iter()
        .map(render)
        .collect();
    // `data` repeats the list for the CLI's `admin revoke-all-keys`.
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys, "data": keys })))
}

#[utoipa::path(tag = "API keys", responses((status = 200, description = "OK")))]
#[post("/v1/api_keys")]
pub async fn create(
    Confirmed(auth): Confirmed,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_WRITE)?;
    let body = object(body)?;
    if let Some(extra) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "scopes" | "expires_at" | "allowed_ips"))
    {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "name must be 1 to 200 characters"));
    }
    let scopes: Vec<String> = match body.get("scopes") {
        None | Some(Value::Null) => scope::KEY_DEFAULTS.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) => {
            let scopes: Vec<String> = items.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            if scopes.len() != items.len() {
                return Err(ApiError::field("scopes", "scopes must be a list of strings"));
            }
            scopes
        }
        Some(_) => return Err(ApiError::field("scopes", "scopes must be a list of strings")),
    };
    if scopes.is_empty() {
        return Err(ApiError::BadRequest("scopes must be a non-empty list".into()));
    }
    let unknown: Vec<&String> = scopes.iter().filter(|s| !scope::KNOWN.contains(&s.as_str())).collect();
    if !unknown.is_empty() {
        return Err(ApiError::BadRequest(
            format!("unknown scope(s): {unknown:?}. Known scopes: {:?}", scope::KNOWN).replace('"', "'"),
        ));
    }
    let allowed_ips = match body.get("allowed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        Some(_) => return Err(ApiError::field("allowed_ips", "allowed_ips must be a list of strings")),
    };
    let expires_at = timestamp(&body, "expires_at")?;
    let minted = api_keys::mint();
    let mut conn = state.pool.get().await?;
    let key = conn
        .transaction(async |conn| {
            let creation = Creation {
                project_id: auth.project_id,
                name: &name,
                scopes: &scopes,
                expires_at,
                allowed_ips,
                rotated_from_id: None,
            };
            let k = api_keys::create(conn, creation, &minted).await?;
            audit::record(
                conn,
                &auth,
                Event::new("api_key.create", "api_key", k.id).after(render(&k)),
            )
            .await?;
            Ok::<_, ApiError>(k)
        })
        .await?;
    Ok(HttpResponse::Created().json(with_secret(&key, &minted.raw)))
}

#[utoipa::path(tag = "API keys", responses((status = 200, description = "OK")))]
#[post("/v1/api_keys/{key_id}/rotate")]
pub async fn rotate(
    Confirmed(auth): Confirmed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<Value>>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_WRITE)?;
    let id = super::params::path_uuid(&path, "key_id")?;
    let grace = match body
        .map(|b| b.into_inner())
        .as_ref()
        .and_then(|b| b.get("grace_period_hours").cloned())
    {
        None | Some(Value::Null) => 72,
        Some(v) => match v.as_i64() {
            Some(h) if h >= 1 => h,
            _ => return Err(ApiError::BadRequest("grace_period_hours must be >= 1".into())),
        },
    };
    let minted = api_keys::mint();
    let mut conn = state.pool.get().await?;
    let new_key = conn
        .transaction(async |conn| {
            let until = chrono::Utc::now() + chrono::Duration::hours(grace);
            let old = api_keys::deprecate(conn, auth.project_id, id, until)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound("api key not found, already revoked, or already deprecated".into())
                })?;
            let name = format!("{} (rotated)", old.name);
            let creation = Creation {
                project_id: auth.project_id,
                name: &name,
                scopes: &old.scopes,
                expires_at: None,
                allowed_ips: old.allowed_ips.clone(),
                rotated_from_id: Some(old.id),
            };
            let k = api_keys::create(conn, creation, &minted).await?;
            audit::record(
                conn,
                &auth,
                Event::new("api_key.rotate", "api_key", old.id)
                    .before(render(&old))
                    .after(render(&k)),
            )
            .await?;
            Ok::<_, ApiError>(k)
        })
        .await?;
    Ok(HttpResponse::Created().json(with_secret(&new_key, &minted.raw)))
}

#[utoipa::path(tag = "API keys", responses((status = 200, description = "OK")))]
#[patch("/v1/api_keys/{key_id}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_WRITE)?;
    let id = super::params::path_uuid(&path, "key_id")?;
    let body = object(body)?;
    if let Some(extra) = body.keys().find(|k| !matches!(k.as_str(), "name" | "expires_at")) {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let name = body.get("name").and_then(Value::as_str).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.is_empty() || n.chars().count() > 200) {
        return Err(ApiError::field("name", "name must be 1 to 200 characters"));
    }
    let expires_at = timestamp(&body, "expires_at")?;
    if name.is_none() && expires_at.is_none() {
        return Err(ApiError::BadRequest(
            "provide at least one field to update: name, expires_at".into(),
        ));
    }
    let mut conn = state.pool.get().await?;
    let key = conn
        .transaction(async |conn| {
            let k = api_keys::rename_or_expire(conn, auth.project_id, id, name.as_deref(), expires_at)
                .await?
                .ok_or_else(|| ApiError::NotFound("api key not found or revoked".into()))?;
            audit::record(
                conn,
                &auth,
                Event::new("api_key.update", "api_key", id).after(render(&k)),
            )
            .await?;
            Ok::<_, ApiError>(k)
        })
        .await?;
    Ok(HttpResponse::Ok().json(render(&key)))
}

#[utoipa::path(tag = "API keys", responses((status = 200, description = "OK")))]
#[delete("/v1/api_keys/{key_id}")]
pub async fn revoke(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_WRITE)?;
    let id = super::params::path_uuid(&path, "key_id")?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let k = api_keys::revoke(conn, auth.project_id, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("api key not found or already revoked".into()))?;
        audit::record(
            conn,
            &auth,
            Event::new("api_key.revoke", "api_key", id).after(render(&k)),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
