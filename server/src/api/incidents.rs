//! `GET /v1/incidents`: the bursts of blocked calls and errors the incident
//! detector found (each was also sent once as an `incident` event).

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde_json::json;
use strathon_schema::detectors;

use super::params::{self, utc_offset, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(tag = "Incidents", responses((status = 200, description = "OK")))]
#[get("/v1/incidents")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let limit = params::limit(&query, 50, 500)?;
    let open_only = params::flag(&query, "open");
    let mut conn = state.pool.get().await?;
    let found = detectors::list_incidents(&mut conn, auth.project_id, open_only, limit).await?;
    let data: Vec<_> = found
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "project_id": i.project_id, "trigger": i.trigger,
                "agent_name": (!i.agent_name.is_empty()).then_some(&i.agent_name),
                "severity": i.severity, "count": i.count, "details": i.details,
                "detected_at": utc_offset(&i.detected_at), "last_seen_at": utc_offset(&i.last_seen_at),
                "resolved_at": i.resolved_at.as_ref().map(utc_offset),
                "status": if i.resolved_at.is_some() { "resolved" } else { "open" },
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}
