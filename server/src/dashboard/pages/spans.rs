//! Span search with every filter `GET /v1/spans` takes; each result links
//! to its place in its trace's waterfall.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;

use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::DashState;
use super::{choices, query, state_badge, window_start, Choice, WINDOWS};

/// Text filters passed to the API as they are, with their labels.
const TEXT_FILTERS: [(&str, &str); 9] = [
    ("agent_name", "Agent"),
    ("tool_name", "Tool"),
    ("request_model", "Model"),
    ("operation_name", "Operation"),
    ("workflow_name", "Workflow"),
    ("agent_id", "Agent id"),
    ("response_model", "Responding model"),
    ("provider_name", "Provider"),
    ("conversation_id", "Conversation"),
];

pub struct TextFilter {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
}

pub struct SpanRow {
    pub href: String,
    pub started: String,
    pub name: String,
    pub agent: String,
    pub tool: String,
    pub model: String,
    pub duration: String,
    pub badge: Option<(&'static str, String)>,
    pub error: bool,
}

#[derive(Template)]
#[template(path = "dashboard/spans.html")]
struct SpansPage {
    frame: Frame,
    q: String,
    main_filters: Vec<TextFilter>,
    more_filters: Vec<TextFilter>,
    attributes: String,
    kinds: Vec<Choice>,
    statuses: Vec<Choice>,
    states: Vec<Choice>,
    windows: Vec<Choice>,
    sorts: Vec<Choice>,
    rows: Vec<SpanRow>,
    next_href: Option<String>,
    first_href: Option<String>,
}

const SORTS: [(&str, &str); 6] = [
    ("", "Newest first"),
    ("started:asc", "Oldest first"),
    ("duration:desc", "Longest"),
    ("name:asc", "Name"),
    ("operation:asc", "Operation"),
    ("status:desc", "Status"),
];

pub async fn page(req: HttpRequest, st: web::Data<DashState>, q: web::Query<BTreeMap<String, String>>) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let p = q.into_inner();
    let get = |k: &str| p.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let window = match get("window") {
        w if w.is_empty() => "24h".to_owned(),
        w => w,
    };
    let sort = SORTS.iter().map(|s| s.0).find(|s| *s == get("sort")).unwrap_or("");
    let attributes = get("attributes");
    // What the page's own links keep (everything but the cursor).
    let mut kept: Vec<(String, String)> = TEXT_FILTERS
        .iter()
        .map(|(k, _)| k.to_string())
        .chain(["q", "kind", "status_code", "intervention_state"].map(String::from))
        .map(|k| {
            let v = get(&k);
            (k, v)
        })
        .collect();
    kept.extend([
        ("attributes".into(), attributes.clone()),
        ("window".into(), window.clone()),
        ("sort".into(), sort.to_owned()),
    ]);
    let start = window_start(&window).map(|t| t.to_string()).unwrap_or_default();
    let mut api: Vec<(String, String)> = kept
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "attributes" | "window"))
        .cloned()
        .collect();
    api.extend(
        attributes
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (format!("attr.{}", k.trim()), v.trim().to_owned())),
    );
    api.extend([
        ("start_after".into(), start),
        ("cursor".into(), get("cursor")),
        ("limit".into(), "50".into()),
    ]);
    let pairs = |list: &[(String, String)]| -> String {
        query(&list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>())
    };
    let answer = match ctx.project {
        Some(_) => ctx.get(&st, format!("/v1/spans?{}", pairs(&api))).await,
        None => None,
    };
    let rows: Vec<SpanRow> = answer
        .as_ref()
        .and_then(|a| a["data"].as_array())
        .into_iter()
        .flatten()
        .map(span_row)
        .collect();
    let next_href = answer.as_ref().and_then(|a| a["next_cursor"].as_str()).map(|c| {
        let mut with = kept.clone();
        with.push(("cursor".into(), c.to_owned()));
        format!("/spans?{}", pairs(&with))
    });
    let filters = |list: &[(&'static str, &'static str)]| -> Vec<TextFilter> {
        list.iter()
            .map(|(name, label)| TextFilter {
                name,
                label,
                value: get(name),
            })
            .collect()
    };
    let page = SpansPage {
        frame: ctx.frame("Spans", "/spans"),
        q: get("q"),
        main_filters: filters(&TEXT_FILTERS[..5]),
        more_filters: filters(&TEXT_FILTERS[5..]),
        attributes,
        kinds: choices(
            [
                ("", "Any"),
                ("INTERNAL", "Internal"),
                ("CLIENT", "Client"),
                ("SERVER", "Server"),
                ("PRODUCER", "Producer"),
                ("CONSUMER", "Consumer"),
                ("UNSPECIFIED", "Unspecified"),
            ],
            &get("kind"),
        ),
        statuses: choices(
            [("", "Any"), ("OK", "OK"), ("ERROR", "Error"), ("UNSET", "Unset")],
            &get("status_code"),
        ),
        states: choices(
            [
                ("", "Any"),
                ("blocked", "Blocked"),
                ("steered", "Steered"),
                ("throttled", "Throttled"),
                ("approval_requested", "Approval requested"),
                ("approval_granted", "Approval granted"),
                ("approval_denied", "Approval denied"),
                ("halted", "Halted"),
            ],
            &get("intervention_state"),
        ),
        windows: choices(WINDOWS.iter().map(|w| (w.0, w.1)), &window),
        sorts: choices(SORTS, sort),
        rows,
        next_href,
        first_href: (!get("cursor").is_empty()).then(|| format!("/spans?{}", pairs(&kept))),
    };
    ctx.respond(page.render())
}

fn span_row(s: &Value) -> SpanRow {
    let text = |k: &str| s[k].as_str().unwrap_or("—").to_owned();
    let trace = s["trace_id"].as_str().unwrap_or_default();
    let span = s["span_id"].as_str().unwrap_or_default();
    let duration = match (s["start_time_unix_nano"].as_i64(), s["end_time_unix_nano"].as_i64()) {
        (Some(a), Some(b)) => format::duration_ms((b - a) as f64 / 1e6),
        _ => "—".into(),
    };
    SpanRow {
        href: format!("/traces/{trace}?{}#span-panel", query(&[("span", span)])),
        started: s["start_time"].as_str().map(format::timestamp_str).unwrap_or_default(),
        name: super::super::chart::truncate(s["name"].as_str().unwrap_or("(unnamed)"), 80),
        agent: text("agent_name"),
        tool: text("tool_name"),
        model: text("request_model"),
        duration,
        badge: state_badge(s["intervention_state"].as_str()),
        error: s["status_code"] == "ERROR",
    }
}
