//! `/v1/circuit-breakers`: each agent's and tool's breaker, as the ingest
//! writer keeps it (shared by every replica), and an operator's reset.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::breakers::{self, Breaker, Settings};

use super::params::{object, utc_z, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

const TYPES: [&str; 2] = ["agent", "tool"];
const STATES: [&str; 3] = [breakers::CLOSED, breakers::OPEN, breakers::HALF_OPEN];

fn render(b: &Breaker, s: &Settings, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "entity_id": b.entity_id,
        "entity_type": b.entity_type,
        "state": b.state_at(now, s),
        "errors_in_window": b.errors_in_window(now, s),
        "total_trips": b.total_trips,
        "error_threshold": s.threshold,
        "window_seconds": s.window.num_seconds(),
        "cooldown_seconds": s.cooldown.num_seconds(),
        "opened_at": b.opened_at.as_ref().map(utc_z),
        "updated_at": utc_z(&b.updated_at),
    })
}

fn one_of(query: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match query.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
        Some(v) => Err(ApiError::BadRequest(
            format!("unknown {name} '{v}'. Valid: {allowed:?}").replace('"', "'"),
        )),
    }
}

/// An agent's or a tool's circuit breaker.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `render`
pub struct CircuitBreaker {
    /// The agent's or tool's name.
    entity_id: String,
    /// `agent` or `tool`.
    entity_type: String,
    /// `closed`, `open` or `half_open`, now.
    state: String,
    errors_in_window: i64,
    total_trips: i64,
    /// Errors in the window that open the breaker.
    error_threshold: i64,
    window_seconds: i64,
    cooldown_seconds: i64,
    opened_at: Option<String>,
    updated_at: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the list is built as JSON
pub struct CircuitBreakerList {
    /// Breakers listed (after the filters).
    total: i64,
    open: i64,
    half_open: i64,
    breakers: Vec<CircuitBreaker>,
}

/// `POST /v1/circuit-breakers/reset`.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct CircuitBreakerReset {
    /// The agent's or tool's name.
    #[schema(min_length = 1)]
    entity_id: String,
    /// `agent` (default) or `tool`.
    entity_type: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct CircuitBreakerResetDone {
    /// Always `reset`.
    status: String,
    entity_id: String,
    entity_type: String,
}

/// List circuit breakers
///
/// Each agent's and tool's breaker as ingest keeps it (shared by every
/// replica): a breaker opens after too many errors in its window and
/// half-opens after its cooldown.
#[utoipa::path(
    tag = "Circuit breakers",
    operation_id = "list_circuit_breakers",
    security(("bearer" = ["traces:read"])),
    params(
        ("entity_type" = Option<String>, Query, description = "Only `agent` or only `tool` breakers."),
        ("state" = Option<String>, Query, description = "Only breakers now `closed`, `open` or `half_open`."),
    ),
    responses(
        (status = 200, description = "The breakers.", body = CircuitBreakerList),
        (status = 400, description = "An unknown `entity_type` or `state`."),
    ),
)]
#[get("/v1/circuit-breakers")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let kind = one_of(&query, "entity_type", &TYPES)?;
    let wanted = one_of(&query, "state", &STATES)?;
    let settings = state.config.breakers.settings();
    let now = chrono::Utc::now();
    let mut conn = state.pool.get().await?;
    let all: Vec<Breaker> = breakers::list(&mut conn, auth.project_id)
        .await?
        .into_iter()
        .filter(|b| kind.as_deref().is_none_or(|k| b.entity_type == k))
        .filter(|b| wanted.as_deref().is_none_or(|w| b.state_at(now, &settings) == w))
        .collect();
    let count = |state: &str| all.iter().filter(|b| b.state_at(now, &settings) == state).count();
    Ok(HttpResponse::Ok().json(json!({
        "total": all.len(),
        "open": count(breakers::OPEN),
        "half_open": count(breakers::HALF_OPEN),
        "breakers": all.iter().map(|b| render(b, &settings, now)).collect::<Vec<_>>(),
    })))
}

/// Reset a circuit breaker
///
/// Closes the breaker and forgets its errors, so the agent or tool runs
/// again at once.
#[utoipa::path(
    tag = "Circuit breakers",
    operation_id = "reset_circuit_breaker",
    security(("bearer" = ["policies:write"])),
    request_body = CircuitBreakerReset,
    responses(
        (status = 200, description = "The breaker is closed.", body = CircuitBreakerResetDone),
        (status = 400, description = "`entity_type` is neither `agent` nor `tool`."),
        (status = 404, description = "No breaker for this entity."),
    ),
)]
#[post("/v1/circuit-breakers/reset")]
pub async fn reset(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let body = object(body)?;
    if let Some(extra) = body
        .keys()
        .find(|k| !["entity_id", "entity_type"].contains(&k.as_str()))
    {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let entity_id = match body.get("entity_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => return Err(ApiError::field("entity_id", "entity_id must be a non-empty string")),
        None => return Err(ApiError::field("entity_id", "Field required")),
    };
    let entity_type = match body.get("entity_type") {
        None | Some(Value::Null) => "agent".to_owned(),
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.clone(),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "entity_type must be 'agent' or 'tool', got {other}"
            )))
        }
    };
    let settings = state.config.breakers.settings();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let now = chrono::Utc::now();
        let before = breakers::list(conn, auth.project_id)
            .await?
            .into_iter()
            .find(|b| b.entity_type == entity_type && b.entity_id == entity_id);
        let after = breakers::reset(conn, auth.project_id, &entity_type, &entity_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("No circuit breaker found for {entity_type}:{entity_id}")))?;
        let mut event = Event::new(
            "circuit_breaker.reset",
            "circuit_breaker",
            format!("{entity_type}:{entity_id}"),
        )
        .after(render(&after, &settings, now));
        if let Some(b) = before {
            event = event.before(render(&b, &settings, now));
        }
        audit::record(conn, &auth, event).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "reset", "entity_id": entity_id, "entity_type": entity_type})))
}
