//! `GET /v1/incidents`: the bursts of blocked calls and errors the incident
//! detector found (each was also sent once as an `incident` event).

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use strathon_schema::detectors;
use uuid::Uuid;

use super::params::{self, utc_offset, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// A burst of blocked calls or errors.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Incident {
    id: Uuid,
    project_id: Uuid,
    /// `policy_block_spike` or `agent_error_spike`.
    trigger: String,
    /// The agent, for per-agent triggers.
    agent_name: Option<String>,
    /// `high` or `medium`.
    severity: String,
    /// Events in the window when it was last seen.
    count: i64,
    /// `count`, `threshold`, `window_seconds`.
    #[schema(value_type = Object)]
    details: Value,
    detected_at: String,
    last_seen_at: String,
    resolved_at: Option<String>,
    /// `open` or `resolved`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    data: Vec<Incident>,
}

/// List incidents
///
/// Newest first; only the open ones with `open=true`.
#[utoipa::path(
    tag = "Incidents",
    operation_id = "list_incidents",
    security(("bearer" = ["traces:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)."),
        ("open" = Option<bool>, Query, description = "Only incidents still open."),
    ),
    responses((status = 200, description = "The incidents.", body = IncidentList)),
)]
#[get("/v1/incidents")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let limit = params::limit(&query, 50, 500)?;
    let open_only = params::flag(&query, "open");
    let mut conn = state.pool.get().await?;
    let found = detectors::list_incidents(&mut conn, auth.project_id, open_only, limit).await?;
    let data = found
        .into_iter()
        .map(|i| Incident {
            id: i.id,
            project_id: i.project_id,
            trigger: i.trigger,
            agent_name: (!i.agent_name.is_empty()).then_some(i.agent_name),
            severity: i.severity,
            count: i.count,
            details: i.details,
            detected_at: utc_offset(&i.detected_at),
            last_seen_at: utc_offset(&i.last_seen_at),
            status: if i.resolved_at.is_some() { "resolved" } else { "open" },
            resolved_at: i.resolved_at.as_ref().map(utc_offset),
        })
        .collect();
    Ok(HttpResponse::Ok().json(IncidentList { data }))
}
