//! `GET /v1/agents`: the agents seen in recent spans, what they use, what
//! covers them, how risky they look, and their last SDK heartbeat.

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use strathon_schema::{budgets, policies};

use super::params::{iso, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// An agent: its activity in the window, its governance, its heartbeat.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    agent_name: String,
    first_seen: String,
    last_active: String,
    total_spans: i64,
    /// Decimal string, USD.
    total_cost_usd: String,
    total_tool_calls: i64,
    /// Calls the firewall blocked, steered or throttled.
    interventions: i64,
    tools_used: Vec<String>,
    models_used: Vec<String>,
    /// Enabled policies that can apply to it.
    policies_covering: usize,
    has_budget: bool,
    has_approval_policy: bool,
    /// `high`, `medium` or `low`.
    risk_score: &'static str,
    risk_factors: Vec<&'static str>,
    /// The SDK's last heartbeat (RFC 3339), if it sent any.
    last_heartbeat: Option<String>,
    sdk_version: Option<String>,
    code_changed: Option<bool>,
    /// `alive` or `silent` (heartbeats missed).
    heartbeat_state: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentList {
    agents: Vec<AgentSummary>,
    count: usize,
    lookback_days: i64,
}

/// List agents
///
/// The agents seen in spans of the last `days` days (at most 500), with
/// the tools and models they used, the policies and budgets covering them,
/// a risk assessment, and their SDK's last heartbeat.
#[utoipa::path(
    tag = "Agents",
    operation_id = "list_agents",
    security(("bearer" = ["traces:read"])),
    params(
        ("days" = Option<i64>, Query, description = "Look back this many days, 1 to 365 (default 30; other values mean 30)."),
        ("sort" = Option<String>, Query, description = "`cost`: most expensive first; otherwise most recently active first."),
    ),
    responses((status = 200, description = "The agents.", body = AgentList)),
)]
#[get("/v1/agents")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let days: i64 = query
        .get("days")
        .and_then(|d| d.parse().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(30);
    let since = (chrono::Utc::now() - chrono::Duration::days(days))
        .timestamp_nanos_opt()
        .unwrap_or(0);
    let mut conn = state.pool.get().await?;
    let activity = strathon_schema::analytics::agents(&mut conn, auth.project_id, since, 500).await?;
    let all_policies = policies::list(&mut conn, auth.project_id).await?;
    let active_budgets = budgets::list(&mut conn, auth.project_id, false, 500).await?;
    let beats = state.heartbeats.for_project(auth.project_id);
    let mut agents: Vec<AgentSummary> = activity
        .iter()
        .map(|a| {
            let x = crate::inventory::assess(a, &all_policies, &active_budgets);
            let beat = beats.iter().find(|(name, _)| name == &a.agent_name).map(|(_, l)| l);
            AgentSummary {
                agent_name: a.agent_name.clone(),
                first_seen: iso(a.first_seen),
                last_active: iso(a.last_active),
                total_spans: a.total_spans,
                total_cost_usd: a.total_cost_usd.normalized().to_plain_string(),
                total_tool_calls: a.total_tool_calls,
                interventions: a.interventions,
                tools_used: a.tools_used.clone(),
                models_used: a.models_used.clone(),
                policies_covering: x.covering,
                has_budget: x.has_budget,
                has_approval_policy: x.has_approval,
                risk_score: x.risk,
                risk_factors: x.factors,
                last_heartbeat: beat.map(|l| l.last_seen.to_rfc3339()),
                sdk_version: beat.and_then(|l| l.sdk_version.clone()),
                code_changed: beat.map(|l| l.code_changed),
                heartbeat_state: beat.map(|l| if l.missed { "silent" } else { "alive" }),
            }
        })
        .collect();
    if query.get("sort").map(String::as_str) == Some("cost") {
        let cost = |a: &AgentSummary| a.total_cost_usd.parse::<f64>().unwrap_or(0.0);
        agents.sort_by(|a, b| cost(b).total_cmp(&cost(a)));
    }
    let count = agents.len();
    Ok(HttpResponse::Ok().json(AgentList {
        agents,
        count,
        lookback_days: days,
    }))
}
