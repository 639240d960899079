//! `/v1/api_keys`: list, create (the raw key shown once), rotate with a grace
//! period, rename or set expiry, revoke. Every operation stays inside the
//! caller's project: another project's key id is simply not found.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{Map, Value};
use strathon_schema::api_keys::{self, ApiKey, Creation};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::object;
use super::params::{self, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth, Confirmed};
use crate::error::ApiError;
use crate::state::AppState;

/// An API key (never its secret, except once in `NewApiKey`).
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// The raw key's first 12 characters, to recognize it.
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Set when the key was rotated; it works until `expires_at`.
    pub deprecated_at: Option<String>,
    pub expires_at: Option<String>,
    /// The key this one replaced.
    pub rotated_from_id: Option<Uuid>,
    /// Only these client addresses may use it (exact match).
    pub allowed_ips: Option<Vec<String>>,
}

fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        project_id: k.project_id,
        name: k.name.clone(),
        key_prefix: k.key_prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: super::params::utc_z(&k.created_at),
        last_used_at: k.last_used_at.as_ref().map(super::params::utc_z),
        revoked_at: k.revoked_at.as_ref().map(super::params::utc_z),
        deprecated_at: k.deprecated_at.as_ref().map(super::params::utc_z),
        expires_at: k.expires_at.as_ref().map(super::params::utc_z),
        rotated_from_id: k.rotated_from_id,
        allowed_ips: k.allowed_ips.clone(),
    }
}

pub fn render(k: &ApiKey) -> Value {
    serde_json::to_value(view(k)).expect("a key serializes")
}

/// A key just minted, with its raw value: shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The raw key (`stra_…`) to send as `Authorization: Bearer <key>`.
    pub key: String,
}

fn with_secret(k: &ApiKey, raw: &str) -> NewApiKey {
    NewApiKey {
        api_key: view(k),
        key: raw.to_owned(),
    }
}

/// A century: the longest grace a rotation may give the old key.
const MAX_GRACE_HOURS: i64 = 876_000;

/// An ISO 8601 time in years 1 to 9999 (as the original's validation
/// took them; a year chrono reads beyond them, such as `-200000`, would
/// reach the database and fail there).
fn timestamp(body: &Map<String, Value>, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    use chrono::Datelike as _;
    let invalid = || ApiError::field(key, "Input should be a valid datetime");
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.to_utc())
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
            .ok()
            .filter(|t| (1..=9999).contains(&t.year()))
            .map(Some)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub api_keys: Vec<ApiKeyView>,
    /// The same list, for the CLI's `admin revoke-all-keys`.
    pub data: Vec<ApiKeyView>,
}

/// List API keys
///
/// The project's keys, newest first; revoked ones too with
/// `include_revoked`.
#[utoipa::path(
    tag = "API keys",
    operation_id = "list_api_keys",
    security(("bearer" = ["api_keys:read"])),
    params(("include_revoked" = Option<bool>, Query, description = "Also list revoked keys.")),
    responses((status = 200, description = "The keys.", body = ApiKeyList)),
)]
#[get("/v1/api_keys")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::API_KEYS_READ)?;
    let include_revoked = params::flag(&query, "include_revoked");
    let mut conn = state.pool.get().await?;
    let keys = api_keys::list(&mut conn, auth.project_id, include_revoked).await?;
    // `data` repeats the list for the CLI's `admin revoke-all-keys`.
    Ok(HttpResponse::Ok().json(ApiKeyList {
        api_keys: keys.iter().map(view).collect(),
        data: keys.iter().map(view).collect(),
    }))
}

/// A scope a key may hold.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `create` checks the names against `scope::KNOWN`
pub enum KeyScope {
    #[schema(rename = "*")]
    All,
    #[schema(rename = "traces:write")]
    TracesWrite,
    #[schema(rename = "traces:read")]
    TracesRead,
    #[schema(rename = "policies:read")]
    PoliciesRead,
    #[schema(rename = "policies:write")]
    PoliciesWrite,
    #[schema(rename = "api_keys:read")]
    ApiKeysRead,
    #[schema(rename = "api_keys:write")]
    ApiKeysWrite,
    #[schema(rename = "webhook_signing_keys:read")]
    WebhookSigningKeysRead,
    #[schema(rename = "webhook_signing_keys:write")]
    WebhookSigningKeysWrite,
    #[schema(rename = "webhook_deliveries:read")]
    WebhookDeliveriesRead,
    #[schema(rename = "webhook_deliveries:write")]
    WebhookDeliveriesWrite,
    #[schema(rename = "halts:read")]
    HaltsRead,
    #[schema(rename = "halts:write")]
    HaltsWrite,
    #[schema(rename = "budgets:read")]
    BudgetsRead,
    #[schema(rename = "budgets:write")]
    BudgetsWrite,
    #[schema(rename = "model_prices:read")]
    ModelPricesRead,
    #[schema(rename = "model_prices:write")]
    ModelPricesWrite,
    #[schema(rename = "project_settings:read")]
    ProjectSettingsRead,
    #[schema(rename = "project_settings:write")]
    ProjectSettingsWrite,
    #[schema(rename = "audit:read")]
    AuditRead,
    #[schema(rename = "audit:write")]
    AuditWrite,
    #[schema(rename = "audit:admin")]
    AuditAdmin,
    #[schema(rename = "data:export")]
    DataExport,
    #[schema(rename = "projects:manage")]
    ProjectsManage,
}

/// `POST /v1/api_keys`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Absent or null: `traces:write`, `policies:read`, `halts:read`. An
    /// empty list is `400 scopes must be a non-empty list`; an unknown name
    /// is a 400 listing the known ones.
    scopes: Option<Vec<KeyScope>>,
    /// ISO 8601, years 1 to 9999; a time without an offset is UTC.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// Only these client addresses may use the key (exact match).
    allowed_ips: Option<Vec<String>>,
}

/// Create an API key
///
/// The raw key is in the answer, once. A session must prove its user again
/// with `X-Confirm-Password` or `X-Confirm-MFA` (403 otherwise); an API key
/// needs neither.
#[utoipa::path(
    tag = "API keys",
    operation_id = "create_api_key",
    security(("bearer" = ["api_keys:write"])),
    params(
        ("X-Confirm-Password" = Option<String>, Header, description = "Sessions: the user's password."),
        ("X-Confirm-MFA" = Option<String>, Header, description = "Sessions: a current authenticator code, instead of the password."),
    ),
    request_body = ApiKeyCreate,
    responses(
        (status = 201, description = "The key, with its raw value.", body = NewApiKey,
            links(
                ("UpdateApiKey" = (operation_id = "update_api_key", parameters(("key_id" = "$response.body#/id")))),
                ("RotateApiKey" = (operation_id = "rotate_api_key", parameters(("key_id" = "$response.body#/id")))),
                ("RevokeApiKey" = (operation_id = "revoke_api_key", parameters(("key_id" = "$response.body#/id")))),
            )),
        (status = 400, description = "`scopes` is empty or names an unknown scope."),
    ),
)]
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

/// `POST /v1/api_keys/{key_id}/rotate` (the body is optional).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ApiKeyRotate {
    /// How long the old key keeps working: at least 1 (400 otherwise),
    /// default 72.
    #[schema(maximum = 876000)]
    grace_period_hours: Option<i64>,
}

/// Rotate an API key
///
/// Mints a successor with the same name (`… (rotated)`), scopes and allowed
/// addresses; the old key is deprecated and works until the grace period
/// ends. The raw new key is in the answer, once. A session must prove its
/// user again with `X-Confirm-Password` or `X-Confirm-MFA`.
#[utoipa::path(
    tag = "API keys",
    operation_id = "rotate_api_key",
    security(("bearer" = ["api_keys:write"])),
    params(
        ("key_id" = Uuid, Path, description = "The key's id."),
        ("X-Confirm-Password" = Option<String>, Header, description = "Sessions: the user's password."),
        ("X-Confirm-MFA" = Option<String>, Header, description = "Sessions: a current authenticator code, instead of the password."),
    ),
    request_body = Option<ApiKeyRotate>,
    responses(
        (status = 201, description = "The new key, with its raw value.", body = NewApiKey),
        (status = 400, description = "`invalid key_id` (not a UUID), or `grace_period_hours must be >= 1`."),
        (status = 404, description = "No such live key in the project, or it was rotated already."),
    ),
)]
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
            // Beyond this the deprecation time would overflow (a 500).
            Some(h) if h > MAX_GRACE_HOURS => {
                return Err(ApiError::field(
                    "grace_period_hours",
                    &format!("grace_period_hours must be at most {MAX_GRACE_HOURS}"),
                ))
            }
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

/// `PATCH /v1/api_keys/{key_id}`: at least one of the fields.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
#[serde(deny_unknown_fields)]
pub struct ApiKeyUpdate {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// ISO 8601, years 1 to 9999; a time without an offset is UTC.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// Rename an API key or set its expiry
#[utoipa::path(
    tag = "API keys",
    operation_id = "update_api_key",
    security(("bearer" = ["api_keys:write"])),
    params(("key_id" = Uuid, Path, description = "The key's id.")),
    request_body = ApiKeyUpdate,
    responses(
        (status = 200, description = "The key.", body = ApiKeyView),
        (status = 400, description = "`invalid key_id` (not a UUID), or neither field was given."),
        (status = 404, description = "No such live key in the project."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(view(&key)))
}

/// Revoke an API key
///
/// The key stops working at once.
#[utoipa::path(
    tag = "API keys",
    operation_id = "revoke_api_key",
    security(("bearer" = ["api_keys:write"])),
    params(("key_id" = Uuid, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "`invalid key_id` (not a UUID)."),
        (status = 404, description = "No such live key in the project."),
    ),
)]
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
