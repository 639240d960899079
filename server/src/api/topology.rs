//! `GET /v1/topology`: which agents call which tools, how often, and how
//! often those calls fail.

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use strathon_schema::analytics;

use super::params::{self, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// An agent or a tool.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TopologyNode {
    /// `agent:<name>` or `tool:<name>`.
    id: String,
    /// `agent` or `tool`.
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    /// An agent's spans; a tool's calls.
    span_count: i64,
    error_count: i64,
}

/// An agent calling a tool.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TopologyEdge {
    /// The agent node's id.
    source: String,
    /// The tool node's id.
    target: String,
    call_count: i64,
    error_count: i64,
    /// Mean duration of the calls that ended, in milliseconds.
    avg_duration_ms: Option<f64>,
}

/// The agent → tool graph.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Topology {
    node_count: usize,
    edge_count: usize,
    nodes: Vec<TopologyNode>,
    edges: Vec<TopologyEdge>,
}

/// The agent → tool graph
///
/// Which agents called which tools in the window (by the hour), how often,
/// and how often those calls failed: at most 500 agents and 2000 edges.
#[utoipa::path(
    tag = "Agents",
    operation_id = "get_topology",
    security(("bearer" = ["traces:read"])),
    params(
        ("start_after" = Option<String>, Query, description = "Only spans from this hour on: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("start_before" = Option<String>, Query, description = "Only spans up to this hour: nanoseconds since the epoch, or an ISO 8601 timestamp."),
    ),
    responses(
        (status = 200, description = "The graph.", body = Topology),
        (status = 400, description = "A time bound is neither nanoseconds nor ISO 8601."),
    ),
)]
#[get("/v1/topology")]
pub async fn get(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let window = analytics::Window {
        after: params::time_ns(&query, "start_after")?,
        before: params::time_ns(&query, "start_before")?,
    };
    let mut conn = state.pool.get().await?;
    let (agents, edges) = analytics::topology(&mut conn, auth.project_id, window).await?;
    let mut nodes: Vec<TopologyNode> = agents
        .iter()
        .map(|a| TopologyNode {
            id: format!("agent:{}", a.agent_name),
            kind: "agent",
            name: a.agent_name.clone(),
            span_count: a.span_count,
            error_count: a.error_count,
        })
        .collect();
    // Tools are nodes through their edges: calls and failures summed over callers.
    let mut tools: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for e in &edges {
        let t = tools.entry(e.tool_name.as_str()).or_default();
        t.0 += e.call_count;
        t.1 += e.error_count;
    }
    nodes.extend(tools.iter().map(|(name, (calls, errors))| TopologyNode {
        id: format!("tool:{name}"),
        kind: "tool",
        name: (*name).to_owned(),
        span_count: *calls,
        error_count: *errors,
    }));
    let edges: Vec<TopologyEdge> = edges
        .iter()
        .map(|e| TopologyEdge {
            source: format!("agent:{}", e.agent_name),
            target: format!("tool:{}", e.tool_name),
            call_count: e.call_count,
            error_count: e.error_count,
            avg_duration_ms: e.avg_duration_ms.map(|d| (d * 100.0).round() / 100.0),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Topology {
        node_count: nodes.len(),
        edge_count: edges.len(),
        nodes,
        edges,
    }))
}
