//! `GET /v1/topology`: which agents call which tools, how often, and how
//! often those calls fail.

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strathon_schema::analytics;

use super::params::{self, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(tag = "Agents", responses((status = 200, description = "OK")))]
#[get("/v1/topology")]
pub async fn get(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let window = analytics::Window {
        after: params::time_ns(&query, "start_after")?,
        before: params::time_ns(&query, "start_before")?,
    };
    let mut conn = state.pool.get().await?;
    let (agents, edges) = analytics::topology(&mut conn, auth.project_id, window).await?;
    let mut nodes: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({"id": format!("agent:{}", a.agent_name), "type": "agent", "name": a.agent_name,
                   "span_count": a.span_count, "error_count": a.error_count})
        })
        .collect();
    // Tools are nodes through their edges: calls and failures summed over callers.
    let mut tools: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for e in &edges {
        let t = tools.entry(e.tool_name.as_str()).or_default();
        t.0 += e.call_count;
        t.1 += e.error_count;
    }
    nodes.extend(tools.iter().map(|(name, (calls, errors))| {
        json!({"id": format!("tool:{name}"), "type": "tool", "name": name, "span_count": calls, "error_count": errors})
    }));
    let edges: Vec<Value> = edges
        .iter()
        .map(|e| {
            json!({
                "source": format!("agent:{}", e.agent_name), "target": format!("tool:{}", e.tool_name),
                "call_count": e.call_count, "error_count": e.error_count,
                "avg_duration_ms": e.avg_duration_ms.map(|d| (d * 100.0).round() / 100.0),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "node_count": nodes.len(), "edge_count": edges.len(), "nodes": nodes, "edges": edges,
    })))
}
