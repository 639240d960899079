//! `GET /v1/agents`: the agents seen in recent spans, what they use, what
//! covers them, how risky they look, and their last SDK heartbeat.

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strathon_schema::{budgets, policies};

use super::params::{iso, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(tag = "Agents", responses((status = 200, description = "OK")))]
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
    let mut agents: Vec<Value> = activity
        .iter()
        .map(|a| {
            let x = crate::inventory::assess(a, &all_policies, &active_budgets);
            let (risk, factors, has_budget, has_approval) = (x.risk, x.factors, x.has_budget, x.has_approval);
            let beat = beats.iter().find(|(name, _)| name == &a.agent_name).map(|(_, l)| l);
            json!({
                "agent_name": a.agent_name, "first_seen": iso(a.first_seen), "last_active": iso(a.last_active),
                "total_spans": a.total_spans, "total_cost_usd": a.total_cost_usd.normalized().to_plain_string(),
                "total_tool_calls": a.total_tool_calls, "interventions": a.interventions, "tools_used": a.tools_used, "models_used": a.models_used,
                "policies_covering": x.covering, "has_budget": has_budget, "has_approval_policy": has_approval,
                "risk_score": risk, "risk_factors": factors,
                "last_heartbeat": beat.map(|l| l.last_seen.to_rfc3339()), "sdk_version": beat.and_then(|l| l.sdk_version.clone()),
                "code_changed": beat.map(|l| l.code_changed),
                "heartbeat_state": beat.map(|l| if l.missed { "silent" } else { "alive" }),
            })
        })
        .collect();
    if query.get("sort").map(String::as_str) == Some("cost") {
        agents.sort_by(|a, b| {
            let cost = |v: &Value| {
                v["total_cost_usd"]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            cost(b).total_cmp(&cost(a))
        });
    }
    let count = agents.len();
    Ok(HttpResponse::Ok().json(json!({ "agents": agents, "count": count, "lookback_days": days })))
}
