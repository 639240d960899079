//! `/v1/audit/streams`: deliver every audit event of chosen categories, in
//! order, signed, to a team's log pipeline. Events are queued by the
//! database in the transaction that records them and sent by the webhook
//! sender, one at a time per stream; a dead delivery pauses its stream
//! until it is resumed (`PATCH … {"paused": false}`), so nothing is skipped.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Map, Value};
use strathon_schema::audit_streams::{self, NewStream, Stream, StreamChanges};
use strathon_schema::webhooks;
use uuid::Uuid;

use super::params::{object, utc_z};
use crate::audit::{self, Event, CATEGORIES};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// A destination that receives every audit event of chosen categories,
/// in order, signed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `render`
pub struct AuditStream {
    id: Uuid,
    project_id: Uuid,
    name: String,
    url: String,
    /// The webhook signing key deliveries are signed with; null: the
    /// project's current one.
    signing_key_id: Option<Uuid>,
    enabled: bool,
    /// Set when a delivery died; nothing more is sent until it is resumed.
    paused_at: Option<String>,
    pause_reason: Option<String>,
    /// The audit categories it receives; null: all.
    categories: Option<Vec<String>>,
    created_at: String,
    updated_at: String,
    /// Deliveries not yet acknowledged (not on create).
    backlog: Option<i64>,
    /// The sequence number of the newest event the endpoint acknowledged
    /// (not on create).
    delivered_through: Option<i64>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuditStreamList {
    data: Vec<AuditStream>,
}

/// `POST /v1/audit/streams`. No other field is accepted.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct AuditStreamCreate {
    /// Unique in the project.
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// Where to POST each event; checked against the SSRF guard.
    #[schema(min_length = 8, max_length = 2048)]
    url: String,
    /// A live webhook signing key of the project; absent or null: the
    /// project's current one.
    signing_key_id: Option<Uuid>,
    /// Audit categories (`api_key`, `approval`, `audit`, `budget`,
    /// `halt`, `policy`…); absent or null: all.
    #[schema(min_items = 1)]
    categories: Option<Vec<String>>,
}

/// `PATCH /v1/audit/streams/{stream_id}`: the fields to change. No other
/// field is accepted.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct AuditStreamPatch {
    #[schema(min_length = 1, max_length = 128)]
    name: Option<String>,
    #[schema(min_length = 8, max_length = 2048)]
    url: Option<String>,
    /// Null: the project's current key.
    signing_key_id: Option<Uuid>,
    /// Null: all categories.
    #[schema(min_items = 1)]
    categories: Option<Vec<String>>,
    enabled: Option<bool>,
    /// `false` resumes a paused stream (reviving its dead deliveries
    /// first); `true` holds it.
    paused: Option<bool>,
}

fn render(s: &Stream, progress: Option<&audit_streams::Progress>) -> Value {
    let mut v = json!({
        "id": s.id, "project_id": s.project_id, "name": s.name, "url": s.url,
        "signing_key_id": s.signing_key_id, "enabled": s.enabled,
        "paused_at": s.paused_at.as_ref().map(utc_z), "pause_reason": s.pause_reason,
        "categories": s.categories,
        "created_at": utc_z(&s.created_at), "updated_at": utc_z(&s.updated_at),
    });
    if let Some(p) = progress {
        v["backlog"] = json!(p.backlog);
        v["delivered_through"] = json!(p.delivered_through);
    }
    v
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("stream {id} not found"))
}

fn string(body: &Map<String, Value>, key: &str, min: usize, max: usize) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ApiError::field(
            key,
            &format!("{key} must be {min} to {max} characters"),
        )),
        Some(_) => Err(ApiError::field(key, &format!("{key} must be a string"))),
    }
}

fn categories(body: &Map<String, Value>) -> Result<Option<Option<Vec<String>>>, ApiError> {
    match body.get("categories") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::field("categories", "categories must be a list of strings"))?;
            let unknown: Vec<&String> = names.iter().filter(|c| !CATEGORIES.contains(&c.as_str())).collect();
            if !unknown.is_empty() {
                return Err(ApiError::BadRequest(
                    format!("unknown categories: {unknown:?}. Valid: {CATEGORIES:?}").replace('"', "'"),
                ));
            }
            if names.is_empty() {
                return Err(ApiError::BadRequest(
                    "categories must name at least one category, or be null for all".into(),
                ));
            }
            Ok(Some(Some(names)))
        }
        Some(_) => Err(ApiError::field("categories", "categories must be a list of strings")),
    }
}

/// Refuses a URL the sender would certainly refuse, now rather than at the
/// first event (each send is checked again on what the name resolves to).
fn checked_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    strathon_actors::webhooks::ssrf::precheck(url, state.config.ssrf_guard())
        .map(|_| ())
        .map_err(|why| ApiError::BadRequest(format!("url rejected: {why}")))
}

async fn signing_key(
    conn: &mut strathon_schema::AsyncPgConnection,
    auth: &Auth,
    body: &Map<String, Value>,
) -> Result<Option<Option<Uuid>>, ApiError> {
    match body.get("signing_key_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            let id =
                Uuid::parse_str(s).map_err(|_| ApiError::field("signing_key_id", "Input should be a valid UUID"))?;
            if !webhooks::live_key(conn, auth.project_id, id).await? {
                return Err(ApiError::BadRequest(format!(
                    "signing key {id} is not a live signing key of this project"
                )));
            }
            Ok(Some(Some(id)))
        }
        Some(_) => Err(ApiError::field("signing_key_id", "Input should be a valid UUID")),
    }
}

fn only(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(ApiError::field(extra, "Extra inputs are not permitted")),
        None => Ok(()),
    }
}

/// List audit streams
#[utoipa::path(
    tag = "Audit",
    operation_id = "list_audit_streams",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The streams, with their delivery progress.", body = AuditStreamList)),
)]
#[get("/v1/audit/streams")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let mut conn = state.pool.get().await?;
    let mut data = Vec::new();
    for s in audit_streams::list(&mut conn, auth.project_id).await? {
        let progress = audit_streams::progress(&mut conn, s.id).await?;
        data.push(render(&s, Some(&progress)));
    }
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// Read an audit stream
#[utoipa::path(
    tag = "Audit",
    operation_id = "get_audit_stream",
    security(("bearer" = ["audit:read"])),
    params(("stream_id" = Uuid, Path, description = "The stream's id.")),
    responses((status = 200, description = "The stream, with its delivery progress.", body = AuditStream)),
)]
#[get("/v1/audit/streams/{stream_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let id = Uuid::parse_str(&path).map_err(|_| not_found(&*path))?;
    let mut conn = state.pool.get().await?;
    let s = audit_streams::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let progress = audit_streams::progress(&mut conn, id).await?;
    Ok(HttpResponse::Ok().json(render(&s, Some(&progress))))
}

/// Create an audit stream
///
/// From now on every audit event of its categories is queued for it in
/// the transaction that records the event, and sent in order, signed.
#[utoipa::path(
    tag = "Audit",
    operation_id = "create_audit_stream",
    security(("bearer" = ["audit:write"])),
    request_body = AuditStreamCreate,
    responses(
        (status = 201, description = "The stream.", body = AuditStream,
            links(("GetAuditStream" = (operation_id = "get_audit_stream", parameters(("stream_id" = "$response.body#/id")))))),
        (status = 400, description = "The URL is refused (SSRF guard), an unknown or empty category list, or a signing key that is not a live key of the project."),
        (status = 409, description = "A stream of that name exists."),
    ),
)]
#[post("/v1/audit/streams")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_WRITE)?;
    let body = object(body)?;
    only(&body, &["name", "url", "signing_key_id", "categories"])?;
    let name = string(&body, "name", 1, 128)?.ok_or_else(|| ApiError::field("name", "Field required"))?;
    let url = string(&body, "url", 8, 2048)?.ok_or_else(|| ApiError::field("url", "Field required"))?;
    let categories = categories(&body)?.flatten();
    checked_url(&state, &url)?;
    let mut conn = state.pool.get().await?;
    let signing_key_id = signing_key(&mut conn, &auth, &body).await?.flatten();
    let created = conn
        .transaction(async |conn| {
            if audit_streams::name_taken(conn, auth.project_id, &name, None).await? {
                return Err(ApiError::Conflict(format!("a stream named '{name}' already exists")));
            }
            let new = NewStream {
                project_id: auth.project_id,
                name: name.clone(),
                url: url.clone(),
                signing_key_id,
                categories: categories.clone(),
            };
            let s = audit_streams::create(conn, &new).await?;
            audit::record(
                conn,
                &auth,
                Event::new("audit_stream.create", "audit_stream", s.id).after(render(&s, None)),
            )
            .await?;
            Ok::<_, ApiError>(s)
        })
        .await?;
    Ok(HttpResponse::Created().json(render(&created, None)))
}

/// Change an audit stream
///
/// Changes a stream; `{"paused": false}` resumes a paused one (reviving its
/// dead deliveries first), `{"paused": true}` holds it.
#[utoipa::path(
    tag = "Audit",
    operation_id = "update_audit_stream",
    security(("bearer" = ["audit:write"])),
    params(("stream_id" = Uuid, Path, description = "The stream's id.")),
    request_body = AuditStreamPatch,
    responses(
        (status = 200, description = "The stream as it is now.", body = AuditStream),
        (status = 400, description = "An empty body, a refused URL, an unknown or empty category list, or a signing key that is not a live key of the project."),
        (status = 409, description = "Another stream has that name."),
    ),
)]
#[patch("/v1/audit/streams/{stream_id}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_WRITE)?;
    let id = Uuid::parse_str(&path).map_err(|_| not_found(&*path))?;
    let body = object(body)?;
    only(
        &body,
        &["name", "url", "signing_key_id", "categories", "enabled", "paused"],
    )?;
    let enabled = match body.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ApiError::field("enabled", "enabled must be a boolean")),
    };
    let paused = match body.get("paused") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ApiError::field("paused", "paused must be a boolean")),
    };
    let url = string(&body, "url", 8, 2048)?;
    if let Some(url) = &url {
        checked_url(&state, url)?;
    }
    let mut conn = state.pool.get().await?;
    let changes = StreamChanges {
        name: string(&body, "name", 1, 128)?,
        url,
        signing_key_id: signing_key(&mut conn, &auth, &body).await?,
        categories: categories(&body)?,
        enabled,
    };
    if body.is_empty() {
        return Err(ApiError::BadRequest("nothing to update".into()));
    }
    let actor = auth.principal.voter();
    let updated = conn
        .transaction(async |conn| {
            let before = audit_streams::find(conn, auth.project_id, id)
                .await?
                .ok_or_else(|| not_found(id))?;
            if let Some(name) = &changes.name {
                if audit_streams::name_taken(conn, auth.project_id, name, Some(id)).await? {
                    return Err(ApiError::Conflict(format!("a stream named '{name}' already exists")));
                }
            }
            let has_changes = changes.name.is_some()
                || changes.url.is_some()
                || changes.signing_key_id.is_some()
                || changes.categories.is_some()
                || changes.enabled.is_some();
            if has_changes {
                audit_streams::update(conn, auth.project_id, id, &changes).await?;
            }
            match paused {
                Some(true) => {
                    audit_streams::pause(conn, id, &format!("paused by {actor}")).await?;
                }
                Some(false) => {
                    audit_streams::resume(conn, id).await?;
                }
                None => {}
            }
            let after = audit_streams::find(conn, auth.project_id, id)
                .await?
                .ok_or_else(|| not_found(id))?;
            audit::record(
                conn,
                &auth,
                Event::new("audit_stream.update", "audit_stream", id)
                    .before(render(&before, None))
                    .after(render(&after, None)),
            )
            .await?;
            Ok::<_, ApiError>(after)
        })
        .await?;
    let progress = audit_streams::progress(&mut conn, id).await?;
    Ok(HttpResponse::Ok().json(render(&updated, Some(&progress))))
}

/// Delete an audit stream
///
/// The deletion is itself recorded first, so the stream is told.
#[utoipa::path(
    tag = "Audit",
    operation_id = "delete_audit_stream",
    security(("bearer" = ["audit:write"])),
    params(("stream_id" = Uuid, Path, description = "The stream's id.")),
    responses((status = 204, description = "Deleted.")),
)]
#[delete("/v1/audit/streams/{stream_id}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_WRITE)?;
    let id = Uuid::parse_str(&path).map_err(|_| not_found(&*path))?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let s = audit_streams::find(conn, auth.project_id, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        // Recorded before the stream goes, so the stream itself is told.
        audit::record(
            conn,
            &auth,
            Event::new("audit_stream.delete", "audit_stream", id).before(render(&s, None)),
        )
        .await?;
        audit_streams::delete(conn, auth.project_id, id).await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
