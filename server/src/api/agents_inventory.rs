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

/// An agent in the inventory.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `inventory::json`
pub struct InventoryAgent {
    agent_name: String,
    first_seen: String,
    last_active: String,
    total_spans: i64,
    /// Decimal string, USD.
    total_cost_usd: String,
    total_tool_calls: i64,
    interventions: i64,
    tools: Vec<String>,
    models: Vec<String>,
    policies_covering: i64,
    has_budget: bool,
    has_approval_policy: bool,
    /// `high`, `medium` or `low`.
    risk_score: String,
    risk_factors: Vec<String>,
}

/// A tool or model, and the agents that used it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `inventory::json`
pub struct InventoryItem {
    name: String,
    agents: Vec<String>,
}

/// The agents, tools and models a project ran.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `inventory::json`
pub struct Inventory {
    generated_at: String,
    project_id: uuid::Uuid,
    project_name: String,
    lookback_days: i64,
    agent_count: i64,
    agents: Vec<InventoryAgent>,
    tools: Vec<InventoryItem>,
    models: Vec<InventoryItem>,
}

/// The agent inventory
///
/// The agents, tools and models the project ran in the last `days` days,
/// and how well each agent is governed; as JSON, or with
/// `format=cyclonedx` as a CycloneDX 1.5 AI bill of materials (a file
/// download).
#[utoipa::path(
    tag = "Agents",
    operation_id = "get_agent_inventory",
    security(("bearer" = ["traces:read"])),
    params(
        ("format" = Option<String>, Query, description = "`json` (default) or `cyclonedx` (any case)."),
        ("days" = Option<i64>, Query, minimum = 1, maximum = 365, description = "Look back this many days (default 30)."),
    ),
    responses(
        (status = 200, description = "The inventory.", content(
            (Inventory = "application/json"),
            (Object = "application/vnd.cyclonedx+json"),
        )),
        (status = 400, description = "`format` is neither `json` nor `cyclonedx`."),
    ),
)]
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
