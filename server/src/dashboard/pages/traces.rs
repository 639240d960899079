//! Traces: the filtered, sortable list with cursor paging, and one trace as
//! a waterfall (spans nested by parent on a time axis, coloured by kind and
//! by what the firewall did) with a panel for the chosen span.

use std::collections::HashSet;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::DashState;
use super::{choices, query, state_badge, window_start, Choice, WINDOWS};

#[derive(Deserialize, Default)]
pub struct ListFilter {
    #[serde(default)]
    agent_name: String,
    #[serde(default)]
    workflow_name: String,
    #[serde(default)]
    intervention_state: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    cursor: String,
}

pub struct TraceRow {
    pub href: String,
    pub short_id: String,
    pub started: String,
    pub agent: String,
    pub workflow: String,
    pub spans: String,
    pub duration: String,
    pub cost: String,
    pub badge: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/traces.html")]
struct ListPage {
    frame: Frame,
    agent_name: String,
    workflow_name: String,
    states: Vec<Choice>,
    windows: Vec<Choice>,
    sorts: Vec<Choice>,
    rows: Vec<TraceRow>,
    next_href: Option<String>,
    first_href: Option<String>,
}

const SORTS: [(&str, &str); 7] = [
    ("", "Newest first"),
    ("started:asc", "Oldest first"),
    ("duration:desc", "Longest"),
    ("spans:desc", "Most spans"),
    ("cost:desc", "Costliest"),
    ("agent:asc", "Agent A-Z"),
    ("agent:desc", "Agent Z-A"),
];

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<ListFilter>) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let f = q.into_inner();
    let window = if f.window.is_empty() { "7d" } else { f.window.as_str() };
    let sort = SORTS.iter().map(|s| s.0).find(|s| *s == f.sort).unwrap_or("");
    let start = window_start(window).map(|t| t.to_string()).unwrap_or_default();
    let filters = [
        ("agent_name", f.agent_name.trim()),
        ("workflow_name", f.workflow_name.trim()),
        ("intervention_state", f.intervention_state.as_str()),
    ];
    let mut api_query: Vec<(&str, &str)> = filters.to_vec();
    api_query.extend([
        ("start_after", start.as_str()),
        ("sort", sort),
        ("cursor", f.cursor.as_str()),
        ("limit", "50"),
    ]);
    let answer = match ctx.project {
        Some(_) => ctx.get(&st, format!("/v1/traces?{}", query(&api_query))).await,
        None => None,
    };
    let rows = answer
        .as_ref()
        .and_then(|a| a["data"].as_array())
        .into_iter()
        .flatten()
        .map(trace_row)
        .collect();
    let mut page_query: Vec<(&str, &str)> = filters.to_vec();
    page_query.extend([("window", window), ("sort", sort)]);
    let next_href = answer.as_ref().and_then(|a| a["next_cursor"].as_str()).map(|c| {
        let mut with_cursor = page_query.clone();
        with_cursor.push(("cursor", c));
        format!("/traces?{}", query(&with_cursor))
    });
    let page = ListPage {
        frame: ctx.frame("Traces", "/traces"),
        agent_name: f.agent_name.trim().to_owned(),
        workflow_name: f.workflow_name.trim().to_owned(),
        states: choices(
            [
                ("", "Any"),
                ("running", "No intervention"),
                ("halted", "Intervened (blocked, steered, …)"),
            ],
            &f.intervention_state,
        ),
        windows: choices(WINDOWS.iter().map(|w| (w.0, w.1)), window),
        sorts: choices(SORTS, sort),
        rows,
        next_href,
        first_href: (!f.cursor.is_empty()).then(|| format!("/traces?{}", query(&page_query))),
    };
    ctx.respond(page.render())
}

fn trace_row(t: &Value) -> TraceRow {
    let id = t["trace_id"].as_str().unwrap_or_default();
    let start = t["start_time_unix_nano"].as_i64().unwrap_or(0);
    let duration = t["end_time_unix_nano"]
        .as_i64()
        .map(|end| format::duration_ms((end - start) as f64 / 1e6))
        .unwrap_or_else(|| "—".into());
    TraceRow {
        href: format!("/traces/{id}"),
        short_id: id.chars().take(12).collect(),
        started: format::timestamp_ns(start),
        agent: t["agent_name"].as_str().unwrap_or("—").to_owned(),
        workflow: t["workflow_name"].as_str().unwrap_or("—").to_owned(),
        spans: format::count(t["span_count"].as_i64().unwrap_or(0)),
        duration,
        cost: match &t["total_cost_usd"] {
            Value::Null => "—".into(),
            c => format::money_value(c),
        },
        badge: match t["intervention_state"].as_str() {
            Some("halted") => Some(("st-blocked", "intervened".to_owned())),
            other => state_badge(other),
        },
    }
}

/// One span of the tree, flattened for the waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct Flat {
    pub span_id: String,
    pub parent: Option<String>,
    pub depth: usize,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub node: Value,
}

/// Depth-first, children in start order; the synthetic root the API adds
/// when a trace has several top-level spans is left out.
pub fn flatten(root: &Value) -> Vec<Flat> {
    fn walk(n: &Value, depth: usize, out: &mut Vec<Flat>) {
        if out.len() >= 5000 || depth > 200 {
            return;
        }
        let start_ns = n["start_time"]
            .as_str()
            .and_then(format::parse_time)
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0);
        let end_ns = n["end_time"]
            .as_str()
            .and_then(format::parse_time)
            .and_then(|t| t.timestamp_nanos_opt());
        let next = match n["span_id"].as_str() {
            Some(id) => {
                let mut node = n.clone();
                node["children"] = Value::Null;
                out.push(Flat {
                    span_id: id.to_owned(),
                    parent: n["parent_span_id"].as_str().map(str::to_owned),
                    depth,
                    start_ns,
                    end_ns,
                    node,
                });
                depth + 1
            }
            None => depth,
        };
        for child in n["children"].as_array().into_iter().flatten() {
            walk(child, next, out);
        }
    }
    let mut out = Vec::new();
    match root {
        Value::Array(roots) => roots.iter().for_each(|r| walk(r, 0, &mut out)),
        Value::Object(_) => walk(root, 0, &mut out),
        _ => {}
    }
    out
}

/// The longest dependency chain: from the top-level span that ends last,
/// keep following the child that ends last. Those spans decide when the
/// trace finished; speeding up anything else would not make it end sooner.
pub fn critical_path(spans: &[Flat]) -> HashSet<String> {
    let end = |f: &Flat| f.end_ns.unwrap_or(f.start_ns);
    let mut path = HashSet::new();
    let mut current = spans.iter().filter(|f| f.depth == 0).max_by_key(|f| end(f));
    while let Some(span) = current {
        if !path.insert(span.span_id.clone()) {
            break;
        }
        current = spans
            .iter()
            .filter(|f| f.parent.as_deref() == Some(span.span_id.as_str()) && f.depth == span.depth + 1)
            .max_by_key(|f| end(f));
    }
    path
}

/// What a span is, for its colour: model call, tool call, agent step, other.
pub fn category(node: &Value) -> (&'static str, &'static str) {
    let op = node["operation_name"].as_str().unwrap_or_default();
    if node["tool_name"].is_string() {
        ("k-tool", "tool call")
    } else if node["request_model"].is_string() || matches!(op, "chat" | "completion" | "responses" | "text_completion")
    {
        ("k-llm", "model call")
    } else if op.contains("agent") || node["agent_name"].is_string() && node["parent_span_id"].is_null() {
        ("k-agent", "agent step")
    } else {
        ("k-other", "other")
    }
}

pub struct WaterfallRow {
    pub span_id: String,
    pub href: String,
    pub name: String,
    pub depth: usize,
    pub category: &'static str,
    pub category_label: &'static str,
    pub badge: Option<(&'static str, String)>,
    pub error: bool,
    pub x: f64,
    pub w: f64,
    pub offset: String,
    pub duration: String,
    pub selected: bool,
    pub critical: bool,
}

pub struct Attr {
    pub key: String,
    pub value: String,
}

pub struct Panel {
    pub name: String,
    pub facts: Vec<Attr>,
    /// Prompt, completion, tool arguments and output, when present.
    pub content: Vec<Attr>,
    pub attributes: Vec<Attr>,
    pub badge: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/trace.html")]
struct DetailPage {
    frame: Frame,
    trace_id: String,
    agent: String,
    workflow: String,
    started: String,
    duration: String,
    span_count: String,
    rows: Vec<WaterfallRow>,
    truncated: bool,
    critical: bool,
    toggle_href: String,
    panel: Option<Panel>,
    found: bool,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    span: Option<String>,
    critical: Option<String>,
}

/// Attribute keys shown as content in the span panel, with their labels.
const CONTENT: [(&str, &str); 6] = [
    ("strathon.tool.args", "Tool arguments"),
    ("strathon.tool.output", "Tool output"),
    ("strathon.tool.error", "Tool error"),
    ("gen_ai.prompt", "Prompt"),
    ("gen_ai.completion", "Completion"),
    ("strathon.policy.matched_name", "Matched policy"),
];

pub async fn detail(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    q: web::Query<DetailQuery>,
) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    // Hex only, so the id cannot bend the API path.
    let id: String = path
        .into_inner()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(32)
        .collect();
    let chosen = q
        .span
        .as_deref()
        .map(|s| s.chars().filter(char::is_ascii_hexdigit).take(16).collect::<String>())
        .filter(|s| !s.is_empty());
    let show_critical = q.critical.as_deref() == Some("1");
    let (tree, span) = futures::join!(ctx.get(&st, format!("/v1/traces/{id}/tree")), async {
        match &chosen {
            Some(s) => ctx.get(&st, format!("/v1/spans/{id}/{s}")).await,
            None => None,
        }
    });
    let trace = tree.as_ref().map(|t| t["trace"].clone()).unwrap_or(Value::Null);
    let flat = tree.as_ref().map(|t| flatten(&t["root"])).unwrap_or_default();
    let crit = critical_path(&flat);
    let t0 = flat.iter().map(|f| f.start_ns).min().unwrap_or(0);
    let t1 = flat
        .iter()
        .map(|f| f.end_ns.unwrap_or(f.start_ns))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let scale = 1000.0 / (t1 - t0) as f64;
    let base = format!("/traces/{id}");
    let rows: Vec<WaterfallRow> = flat
        .iter()
        .map(|f| {
            let end = f.end_ns.unwrap_or(f.start_ns);
            let (category, category_label) = category(&f.node);
            // Very short spans still get a visible sliver, kept inside the axis.
            let w = (((end - f.start_ns) as f64 * scale).max(6.0) * 10.0).round() / 10.0;
            let x = (((f.start_ns - t0) as f64 * scale).min(1000.0 - w) * 10.0).round() / 10.0;
            let mut link = vec![("span", f.span_id.as_str())];
            if show_critical {
                link.push(("critical", "1"));
            }
            WaterfallRow {
                href: format!("{base}?{}#span-panel", query(&link)),
                span_id: f.span_id.clone(),
                name: super::super::chart::truncate(f.node["name"].as_str().unwrap_or("(unnamed)"), 80),
                depth: f.depth.min(12),
                category,
                category_label,
                badge: state_badge(f.node["intervention_state"].as_str()),
                error: f.node["status_code"] == "ERROR",
                x,
                w,
                offset: format::duration_ms((f.start_ns - t0) as f64 / 1e6),
                duration: f
                    .end_ns
                    .map(|e| format::duration_ms((e - f.start_ns) as f64 / 1e6))
                    .unwrap_or_else(|| "open".into()),
                selected: chosen.as_deref() == Some(f.span_id.as_str()),
                critical: crit.contains(&f.span_id),
            }
        })
        .collect();
    let toggle_href = {
        let mut pairs = Vec::new();
        if let Some(s) = &chosen {
            pairs.push(("span", s.as_str()));
        }
        if !show_critical {
            pairs.push(("critical", "1"));
        }
        format!("{base}?{}", query(&pairs))
    };
    let page = DetailPage {
        frame: ctx.frame("Trace", "/traces"),
        trace_id: id,
        agent: trace["agent_name"].as_str().unwrap_or("—").to_owned(),
        workflow: trace["workflow_name"].as_str().unwrap_or("—").to_owned(),
        started: format::timestamp_ns(t0),
        duration: format::duration_ms((t1 - t0) as f64 / 1e6),
        span_count: format::count(trace["span_count"].as_i64().unwrap_or(flat.len() as i64)),
        truncated: flat.len() >= 5000,
        found: tree.is_some(),
        rows,
        critical: show_critical,
        toggle_href,
        panel: span.as_ref().map(panel),
    };
    ctx.respond(page.render())
}

fn panel(s: &Value) -> Panel {
    let text = |k: &str| s[k].as_str().map(str::to_owned);
    let mut facts = Vec::new();
    let mut fact = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            facts.push(Attr {
                key: key.to_owned(),
                value,
            });
        }
    };
    fact("Span id", text("span_id"));
    fact("Kind", text("kind"));
    fact("Status", text("status_code"));
    fact("Status message", text("status_message"));
    fact("Started", text("start_time").map(|t| format::timestamp_str(&t)));
    if let (Some(a), Some(b)) = (s["start_time_unix_nano"].as_i64(), s["end_time_unix_nano"].as_i64()) {
        fact("Duration", Some(format::duration_ms((b - a) as f64 / 1e6)));
    }
    fact("Agent", text("agent_name"));
    fact("Tool", text("tool_name"));
    fact("Operation", text("operation_name"));
    fact("Provider", text("provider_name"));
    fact("Model (requested)", text("request_model"));
    fact("Model (responded)", text("response_model"));
    fact("Input tokens", s["tokens"]["input_tokens"].as_i64().map(format::count));
    fact(
        "Output tokens",
        s["tokens"]["output_tokens"].as_i64().map(format::count),
    );
    fact(
        "Cost",
        s["cost"]["cost_usd"]
            .as_str()
            .map(|c| format::money_value(&Value::String(c.into()))),
    );
    fact("Intervention", text("intervention_state"));
    let attrs = s["attributes"].as_object();
    let content = CONTENT
        .iter()
        .filter_map(|(key, label)| {
            let v = attrs?.get(*key)?;
            Some(Attr {
                key: (*label).to_owned(),
                value: format::attribute(v),
            })
        })
        .collect();
    let mut attributes: Vec<Attr> = attrs
        .into_iter()
        .flatten()
        .map(|(k, v)| Attr {
            key: k.clone(),
            value: format::attribute(v),
        })
        .collect();
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    Panel {
        name: text("name").unwrap_or_default(),
        facts,
        content,
        attributes,
        badge: state_badge(s["intervention_state"].as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(id: &str, parent: Option<&str>, start: &str, end: &str, children: Vec<Value>) -> Value {
        json!({"span_id": id, "parent_span_id": parent, "name": id, "start_time": start, "end_time": end, "children": children})
    }

    #[test]
    fn the_waterfall_nests_by_parent_and_finds_the_chain_that_ends_last() {
        let tree = node(
            "root",
            None,
            "2026-12-04T12:00:00Z",
            "2026-12-04T12:00:10Z",
            vec![
                node(
                    "fast",
                    Some("root"),
                    "2026-12-04T12:00:01Z",
                    "2026-12-04T12:00:02Z",
                    vec![],
                ),
                node(
                    "slow",
                    Some("root"),
                    "2026-12-04T12:00:02Z",
                    "2026-12-04T12:00:09Z",
                    vec![node(
                        "leaf",
                        Some("slow"),
                        "2026-12-04T12:00:03Z",
                        "2026-12-04T12:00:08Z",
                        vec![],
                    )],
                ),
            ],
        );
        let flat = flatten(&tree);
        let order: Vec<(&str, usize)> = flat.iter().map(|f| (f.span_id.as_str(), f.depth)).collect();
        assert_eq!(order, [("root", 0), ("fast", 1), ("slow", 1), ("leaf", 2)]);
        let path = critical_path(&flat);
        assert!(path.contains("root") && path.contains("slow") && path.contains("leaf"));
        assert!(!path.contains("fast"));
    }

    #[test]
    fn a_synthetic_root_is_not_a_row() {
        let tree = json!({"span_id": null, "name": "trace", "children": [
            node("a", None, "2026-12-04T12:00:00Z", "2026-12-04T12:00:01Z", vec![]),
            node("b", None, "2026-12-04T12:00:00Z", "2026-12-04T12:00:05Z", vec![]),
        ]});
        let flat = flatten(&tree);
        assert_eq!(flat.len(), 2);
        assert!(flat.iter().all(|f| f.depth == 0));
        assert_eq!(critical_path(&flat), HashSet::from(["b".to_owned()]));
    }

    #[test]
    fn spans_are_coloured_by_what_they_are() {
        assert_eq!(category(&json!({"tool_name": "search"})).0, "k-tool");
        assert_eq!(category(&json!({"request_model": "gpt-4o"})).0, "k-llm");
        assert_eq!(category(&json!({"operation_name": "invoke_agent"})).0, "k-agent");
        assert_eq!(category(&json!({"name": "x"})).0, "k-other");
    }
}
