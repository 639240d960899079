//! `GET /v1/agents/inventory`: the agents, tools and models a project ran,
//! and how well each agent is governed, as JSON or as a CycloneDX 1.5 AI
//! bill of materials (`?format=cyclonedx`). See `crate::inventory`.

use actix_web::get;
use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::{web, HttpResponse};
use strathon_schema::{analytics, budgets, policies, projects};

use super::params::{self, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::inventory::{self, Subject};
use crate::state::AppState;

#[utoipa::path(tag = "Agents", responses((status = 200, description = "OK")))]
#[get("/v1/agents/inventory")]
pub async fn get(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let format = query
        .get("format")
        .map(|f| f.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "cyclonedx") {
        return Err(ApiError::BadRequest(format!(
            "Unsupported format '{format}'. Use 'json' or 'cyclonedx'."
        )));
    }
    let days = params::bounded_int(&query, "days", 30, 1, 365)?;
    let since = (chrono::Utc::now() - chrono::Duration::days(days))
        .timestamp_nanos_opt()
        .unwrap_or(0);
    let mut conn = state.pool.get().await?;
    let project = projects::find(&mut conn, auth.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("project not found".into()))?;
    let activity = analytics::agents(&mut conn, auth.project_id, since, 500).await?;
    let all_policies = policies::list(&mut conn, auth.project_id).await?;
    let live_budgets = budgets::list(&mut conn, auth.project_id, false, 500).await?;
    let agents: Vec<_> = activity
        .into_iter()
        .map(|a| {
            let assessed = inventory::assess(&a, &all_policies, &live_budgets);
            (a, assessed)
        })
        .collect();
    let subject = Subject {
        project_id: project.id,
        project_name: &project.name,
    };
    if format == "cyclonedx" {
        let document = inventory::cyclonedx(&subject, &agents).map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok()
            .content_type("application/vnd.cyclonedx+json; version=1.5")
            .insert_header((CONTENT_DISPOSITION, "attachment; filename=\"strathon-aibom.cdx.json\""))
            .body(document));
    }
    Ok(HttpResponse::Ok().json(inventory::json(&subject, &agents, days)))
}
