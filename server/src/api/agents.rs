//! `GET /v1/agents`: the agents seen in recent spans, what they use, what
//! covers them, how risky they look, and their last SDK heartbeat.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strathon_schema::{budgets, policies};

use super::params::{iso, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::policy::analysis::SENSITIVE_TOOLS;
use crate::state::AppState;

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
    let enabled: Vec<_> = all_policies.iter().filter(|p| p.enabled).collect();
    let active_budgets = budgets::list(&mut conn, auth.project_id, false, 500).await?;
    let beats = state.heartbeats.for_project(auth.project_id);
    let mut agents: Vec<Value> = activity
        .iter()
        .map(|a| {
            let covering: Vec<_> = enabled
                .iter()
                .filter(|p| p.applies_to.is_empty() || p.applies_to.contains(&a.agent_name) || p.match_expression.contains(&a.agent_name))
                .collect();
            let sensitive = a.tools_used.iter().any(|t| SENSITIVE_TOOLS.contains(&t.as_str()));
            let guarded = covering.iter().any(|p| matches!(p.action.as_str(), "block" | "throttle"));
            let has_approval = covering.iter().any(|p| p.action == "require_approval");
            let has_budget =
                active_budgets.iter().any(|b| b.scope == "project" || b.scope_value.as_deref() == Some(a.agent_name.as_str()));
            let mut factors = Vec::new();
            if covering.is_empty() {
                factors.push("no policy covers this agent");
            }
            if sensitive && !guarded {
                factors.push("sensitive tools without a block or throttle policy");
            }
            if sensitive && !has_approval {
                factors.push("sensitive tools without human approval");
            }
            if !has_budget {
                factors.push("no budget");
            }
            let risk = if covering.is_empty() || (sensitive && !guarded) {
                "high"
            } else if (sensitive && !has_approval) || !has_budget {
                "medium"
            } else {
                "low"
            };
            let beat = beats.iter().find(|(name, _)| name == &a.agent_name).map(|(_, l)| l);
            json!({
                "agent_name": a.agent_name, "first_seen": iso(a.first_seen), "last_active": iso(a.last_active),
                "total_spans": a.total_spans, "total_cost_usd": a.total_cost_usd.normalized().to_plain_string(),
                "total_tool_calls": a.total_tool_calls, "interventions": a.interventions, "tools_used": a.tools_used, "models_used": a.models_used,
                "policies_covering": covering.len(), "has_budget": has_budget, "has_approval_policy": has_approval,
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
