//! Agents: every agent seen in the window with its liveness, activity,
//! spend and interventions, and the agent → tool graph.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::super::chart::{self, Graph, GraphEdge, GraphNode};
use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::DashState;
use super::{choices, query, Choice};

pub struct Row {
    pub name: String,
    pub traces_href: String,
    pub last_seen: String,
    pub last_seen_at: String,
    pub heartbeat: String,
    pub heartbeat_class: &'static str,
    pub calls: String,
    pub spans: String,
    pub spend: String,
    pub interventions: String,
    pub risk: String,
    pub risk_class: &'static str,
    pub risk_factors: String,
}

#[derive(Template)]
#[template(path = "dashboard/agents.html")]
struct AgentsPage {
    frame: Frame,
    days: Vec<Choice>,
    rows: Vec<Row>,
    graph: Option<Graph>,
}

#[derive(Deserialize)]
pub struct Filter {
    days: Option<String>,
}

pub async fn page(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Filter>) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let days = q
        .days
        .as_deref()
        .filter(|d| ["1", "7", "30", "90"].contains(d))
        .unwrap_or("30");
    let since = (Utc::now() - chrono::Duration::days(days.parse().unwrap_or(30)))
        .timestamp_nanos_opt()
        .unwrap_or(0);
    let (agents, topology) = if ctx.project.is_some() {
        futures::join!(
            ctx.get(&st, format!("/v1/agents?days={days}")),
            ctx.get(&st, format!("/v1/topology?start_after={since}")),
        )
    } else {
        (None, None)
    };
    let now = Utc::now();
    let rows = agents
        .as_ref()
        .and_then(|a| a["agents"].as_array())
        .into_iter()
        .flatten()
        .map(|a| row(a, now))
        .collect();
    let page = AgentsPage {
        frame: ctx.frame("Agents", "/agents"),
        days: choices(
            [
                ("1", "Last day"),
                ("7", "Last 7 days"),
                ("30", "Last 30 days"),
                ("90", "Last 90 days"),
            ],
            days,
        ),
        rows,
        graph: topology.as_ref().and_then(graph),
    };
    ctx.respond(page.render())
}

fn row(a: &Value, now: chrono::DateTime<Utc>) -> Row {
    let name = a["agent_name"].as_str().unwrap_or_default().to_owned();
    let last = a["last_active"].as_str().and_then(format::parse_time);
    let beat = a["last_heartbeat"].as_str().and_then(format::parse_time);
    let (heartbeat, heartbeat_class) = match (a["heartbeat_state"].as_str(), beat) {
        (Some("silent"), Some(t)) => (format!("silent since {}", format::ago(t, now)), "st-blocked"),
        (_, Some(t)) => (format!("alive, {}", format::ago(t, now)), "st-ok"),
        _ => ("no heartbeats".to_owned(), "muted"),
    };
    let risk = a["risk_score"].as_str().unwrap_or("low").to_owned();
    Row {
        traces_href: format!("/traces?{}", query(&[("agent_name", &name), ("window", "30d")])),
        name,
        last_seen: last.map(|t| format::ago(t, now)).unwrap_or_default(),
        last_seen_at: last.map(format::timestamp).unwrap_or_default(),
        heartbeat,
        heartbeat_class,
        calls: format::count(a["total_tool_calls"].as_i64().unwrap_or(0)),
        spans: format::count(a["total_spans"].as_i64().unwrap_or(0)),
        spend: format::money_value(&a["total_cost_usd"]),
        interventions: format::count(a["interventions"].as_i64().unwrap_or(0)),
        risk_class: match risk.as_str() {
            "high" => "st-blocked",
            "medium" => "st-steered",
            _ => "st-ok",
        },
        risk_factors: a["risk_factors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        risk,
    }
}

/// The topology answer as a two-column graph (at most 30 agents and 30 tools).
fn graph(t: &Value) -> Option<Graph> {
    let nodes = t["nodes"].as_array()?;
    let pick = |kind: &str| -> Vec<GraphNode> {
        nodes
            .iter()
            .filter(|n| n["type"] == kind)
            .take(30)
            .map(|n| GraphNode {
                name: n["name"].as_str().unwrap_or_default().to_owned(),
                calls: n["span_count"].as_i64().unwrap_or(0),
                errors: n["error_count"].as_i64().unwrap_or(0),
            })
            .collect()
    };
    let (agents, tools) = (pick("agent"), pick("tool"));
    let index = |list: &[GraphNode], prefix: &str| -> BTreeMap<String, usize> {
        list.iter()
            .enumerate()
            .map(|(i, n)| (format!("{prefix}{}", n.name), i))
            .collect()
    };
    let (ai, ti) = (index(&agents, "agent:"), index(&tools, "tool:"));
    let edges: Vec<GraphEdge> = t["edges"]
        .as_array()?
        .iter()
        .filter_map(|e| {
            Some(GraphEdge {
                agent: *ai.get(e["source"].as_str()?)?,
                tool: *ti.get(e["target"].as_str()?)?,
                calls: e["call_count"].as_i64().unwrap_or(0),
                errors: e["error_count"].as_i64().unwrap_or(0),
            })
        })
        .collect();
    (!edges.is_empty()).then(|| chart::graph(&agents, &tools, &edges))
}
