//! Policies: the list with match counts, the editor (CEL checked as you
//! type through the API, with the error marked at its position), shadow
//! mode with its statistics, versions with a diff and rollback, simulation
//! against recent spans, conflicts, the template gallery, and import and
//! export of policy files.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use futures::TryStreamExt as _;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::client::Failure;
use super::super::format;
use super::super::frame::{self, Ctx, Frame};
use super::super::session::{self, see_other, Posted};
use super::super::DashState;
use super::{choices, done_notice, download, status_of, Choice, Errors};

const ACTIONS: [(&str, &str); 7] = [
    ("block", "block: refuse the call"),
    ("steer", "steer: return a replacement instead"),
    ("throttle", "throttle: limit calls per window"),
    ("require_approval", "require approval: wait for a human"),
    ("alert", "alert: let it run and notify"),
    ("log", "log: let it run and record"),
    ("allow", "allow: let it run, stop evaluating"),
];

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub struct Row {
    pub href: String,
    pub id: String,
    pub name: String,
    pub description: String,
    pub action: String,
    pub priority: i64,
    pub enabled: bool,
    pub shadow: bool,
    pub matches: String,
    pub last_matched: String,
}

pub struct ImportReport {
    pub created: i64,
    pub skipped: i64,
    pub errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/policies.html")]
struct ListPage {
    frame: Frame,
    rows: Vec<Row>,
    conflicts: Vec<String>,
    default_action: String,
    can_write: bool,
    import: Option<ImportReport>,
}

fn row(p: &Value) -> Row {
    let id = p["id"].as_str().unwrap_or_default().to_owned();
    Row {
        href: format!("/policies/{id}"),
        id,
        name: p["name"].as_str().unwrap_or_default().to_owned(),
        description: p["description"].as_str().unwrap_or_default().to_owned(),
        action: p["action"].as_str().unwrap_or_default().replace('_', " "),
        priority: p["priority"].as_i64().unwrap_or(0),
        enabled: p["enabled"].as_bool().unwrap_or(false),
        shadow: p["shadow"].as_bool().unwrap_or(false),
        matches: format::count(p["match_count"].as_i64().unwrap_or(0)),
        last_matched: p["last_matched_at"]
            .as_str()
            .map(format::timestamp_str)
            .unwrap_or_else(|| "never".into()),
    }
}

async fn list_page(ctx: &Ctx, st: &DashState, import: Option<ImportReport>) -> Result<String, askama::Error> {
    let (listed, conflicts) = futures::join!(ctx.get(st, "/v1/policies"), ctx.get(st, "/v1/policies/conflicts"));
    let listed = listed.unwrap_or(Value::Null);
    ListPage {
        rows: listed["policies"].as_array().into_iter().flatten().map(row).collect(),
        default_action: listed["intervention_default_action"]
            .as_str()
            .unwrap_or("allow")
            .to_owned(),
        conflicts: conflicts
            .as_ref()
            .and_then(|c| c["conflicts"].as_array())
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}: “{}” and “{}”: {}",
                    c["type"].as_str().unwrap_or("conflict"),
                    c["policy_a"]["name"].as_str().unwrap_or_default(),
                    c["policy_b"]["name"].as_str().unwrap_or_default(),
                    c["reason"].as_str().unwrap_or_default()
                )
            })
            .collect(),
        can_write: ctx.can("policies:write"),
        import,
        frame: ctx.frame("Policies", "/policies"),
    }
    .render()
}

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let page = list_page(&ctx, &st, None).await;
    ctx.respond(page)
}

/// Everything the editor shows, as text for the form.
#[derive(Default)]
pub struct Form {
    pub name: String,
    pub description: String,
    pub match_expression: String,
    pub applies_to: String,
    pub action: String,
    pub priority: String,
    pub enabled: bool,
    pub shadow: bool,
    pub message: String,
    pub replacement: String,
    pub max_calls: String,
    pub window_seconds: String,
    pub throttle_scope: String,
    pub approvers_required: String,
    pub timeout_seconds: String,
    pub webhook_url: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Form {
    fn from_policy(p: &Value) -> Form {
        let c = &p["action_config"];
        Form {
            name: text(&p["name"]),
            description: text(&p["description"]),
            match_expression: text(&p["match_expression"]),
            applies_to: p["applies_to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            action: text(&p["action"]),
            priority: text(&p["priority"]),
            enabled: p["enabled"].as_bool().unwrap_or(true),
            shadow: p["shadow"].as_bool().unwrap_or(false),
            message: text(&c["message"]),
            replacement: text(&c["replacement"]),
            max_calls: text(&c["max_calls"]),
            window_seconds: text(&c["window_seconds"]),
            throttle_scope: text(&c["scope"]),
            approvers_required: text(&c["approvers_required"]),
            timeout_seconds: text(&c["timeout_seconds"]),
            webhook_url: text(&c["webhook_url"]),
        }
    }

    fn from_posted(f: &Posted) -> Form {
        let get = |k: &str| f.get(k).unwrap_or_default().to_owned();
        Form {
            name: get("name"),
            description: get("description"),
            match_expression: f.raw("match_expression").to_owned(),
            applies_to: get("applies_to"),
            action: get("action"),
            priority: get("priority"),
            enabled: f.get("enabled").is_some(),
            shadow: f.get("shadow").is_some(),
            message: get("message"),
            replacement: f.raw("replacement").to_owned(),
            max_calls: get("max_calls"),
            window_seconds: get("window_seconds"),
            throttle_scope: get("throttle_scope"),
            approvers_required: get("approvers_required"),
            timeout_seconds: get("timeout_seconds"),
            webhook_url: get("webhook_url"),
        }
    }

    /// The API body: numbers go as numbers when they parse, and as the
    /// text typed otherwise, so the API's own message explains the problem.
    fn body(&self) -> Value {
        let number = |s: &str| -> Value {
            s.parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::from(s))
        };
        let mut config = Map::new();
        let mut put = |k: &str, v: &str, as_number: bool| {
            if !v.trim().is_empty() {
                config.insert(k.into(), if as_number { number(v.trim()) } else { Value::from(v) });
            }
        };
        match self.action.as_str() {
            "block" => put("message", &self.message, false),
            "steer" => put("replacement", &self.replacement, false),
            "throttle" => {
                put("max_calls", &self.max_calls, true);
                put("window_seconds", &self.window_seconds, true);
                put("scope", &self.throttle_scope, false);
            }
            "require_approval" => {
                put("approvers_required", &self.approvers_required, true);
                put("timeout_seconds", &self.timeout_seconds, true);
                put("webhook_url", &self.webhook_url, false);
            }
            "alert" => put("webhook_url", &self.webhook_url, false),
            _ => {}
        }
        let mut body = json!({
            "name": self.name,
            "match_expression": self.match_expression,
            "action": self.action,
            "action_config": config,
            "applies_to": self.applies_to.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "enabled": self.enabled,
            "shadow": self.shadow,
            "priority": if self.priority.trim().is_empty() { Value::from(0) } else { number(self.priority.trim()) },
        });
        if !self.description.trim().is_empty() {
            body["description"] = json!(self.description.trim());
        }
        body
    }
}

/// The editor field a policy error message is about.
pub fn field_of(message: &str) -> &'static str {
    let m = message.trim_start_matches("missing required fields: ");
    if m.starts_with("invalid match expression") || m.contains("match_expression") {
        "match_expression"
    } else if m.contains("max_calls") {
        "max_calls"
    } else if m.contains("window_seconds") {
        "window_seconds"
    } else if m.contains("action_config.scope") {
        "throttle_scope"
    } else if m.contains("approvers_required") {
        "approvers_required"
    } else if m.contains("timeout_seconds") {
        "timeout_seconds"
    } else if m.contains("webhook_url") {
        "webhook_url"
    } else if m.starts_with("priority") {
        "priority"
    } else if m.starts_with("applies_to") {
        "applies_to"
    } else if m.starts_with("action") {
        "action"
    } else {
        "name"
    }
}

/// Where a compile error points, as a line of the expression with a caret.
pub struct Marker {
    pub line: String,
    pub caret: String,
    pub at: String,
}

pub struct VersionRow {
    pub version: i64,
    pub change: String,
    pub changed_at: String,
    pub summary: String,
    pub current: bool,
}

pub struct DiffLine {
    pub class: &'static str,
    pub sign: &'static str,
    pub text: String,
}

pub struct ShadowStats {
    pub matches: String,
    pub last_matched: String,
}

#[derive(Template)]
#[template(path = "dashboard/policy.html")]
struct EditorPage {
    frame: Frame,
    id: Option<String>,
    form: Form,
    errors: Errors,
    marker: Option<Marker>,
    actions: Vec<Choice>,
    scopes: Vec<Choice>,
    can_write: bool,
    versions: Vec<VersionRow>,
    diff: Option<(i64, i64, Vec<DiffLine>)>,
    shadow: Option<ShadowStats>,
}

#[derive(Deserialize, Default)]
pub struct EditorQuery {
    done: Option<String>,
    a: Option<i64>,
    b: Option<i64>,
}

/// One version as the lines a diff compares.
fn version_text(v: &Value) -> String {
    let config = serde_json::to_string_pretty(&v["action_config"]).unwrap_or_default();
    format!(
        "name: {}\ndescription: {}\naction: {}\npriority: {}\nenabled: {}\napplies_to: {}\naction_config: {config}\nmatch_expression:\n{}\n",
        text(&v["name"]),
        text(&v["description"]),
        text(&v["action"]),
        text(&v["priority"]),
        text(&v["enabled"]),
        v["applies_to"],
        text(&v["match_expression"]),
    )
}

/// A line diff of two texts.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let (class, sign) = match c.tag() {
                similar::ChangeTag::Delete => ("del", "−"),
                similar::ChangeTag::Insert => ("ins", "+"),
                similar::ChangeTag::Equal => ("same", " "),
            };
            DiffLine {
                class,
                sign,
                text: c.value().trim_end_matches('\n').to_owned(),
            }
        })
        .collect()
}

/// The caret line under an expression's failing position.
pub fn marker(expression: &str, line: usize, column: usize) -> Option<Marker> {
    let text = expression.lines().nth(line.checked_sub(1)?)?.to_owned();
    let pad = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' });
    Some(Marker {
        caret: pad.chain(std::iter::once('^')).collect(),
        line: text,
        at: format!("line {line}, column {column}"),
    })
}

async fn editor_page(
    ctx: &Ctx,
    st: &DashState,
    id: Option<&str>,
    form: Form,
    errors: Errors,
    compare: (Option<i64>, Option<i64>),
) -> Result<String, askama::Error> {
    let (versions, stats) = match id {
        Some(id) => {
            futures::join!(
                ctx.get(st, format!("/v1/policies/{id}/versions")),
                ctx.get(st, format!("/v1/policies/{id}/shadow-stats")),
            )
        }
        None => (None, None),
    };
    let versions: Vec<Value> = versions
        .as_ref()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default();
    let newest = versions.first().and_then(|v| v["version"].as_i64());
    let diff = match compare {
        (Some(a), Some(b)) if a != b => {
            let find = |n: i64| versions.iter().find(|v| v["version"].as_i64() == Some(n));
            match (find(a.min(b)), find(a.max(b))) {
                (Some(old), Some(new)) => {
                    Some((a.min(b), a.max(b), diff_lines(&version_text(old), &version_text(new))))
                }
                _ => None,
            }
        }
        _ => None,
    };
    // A compile error gets its position marked under the expression.
    let marker = match errors.field("match_expression") {
        Some(_) if !form.match_expression.trim().is_empty() => {
            let checked = st
                .api
                .post(
                    &ctx.caller,
                    "/v1/policies/validate",
                    &json!({"match_expression": form.match_expression}),
                )
                .await
                .ok();
            checked.and_then(|c| {
                marker(
                    &form.match_expression,
                    c["error"]["line"].as_u64()? as usize,
                    c["error"]["column"].as_u64()? as usize,
                )
            })
        }
        _ => None,
    };
    EditorPage {
        frame: ctx.frame(if id.is_some() { "Policy" } else { "New policy" }, "/policies"),
        id: id.map(str::to_owned),
        actions: choices(ACTIONS, &form.action),
        scopes: choices(
            [("agent", "per agent"), ("global", "across all agents")],
            &form.throttle_scope,
        ),
        can_write: ctx.can("policies:write"),
        versions: versions
            .iter()
            .map(|v| VersionRow {
                version: v["version"].as_i64().unwrap_or(0),
                change: text(&v["change_type"]),
                changed_at: v["changed_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                summary: format!(
                    "{} · {} · priority {}{}",
                    text(&v["name"]),
                    text(&v["action"]).replace('_', " "),
                    text(&v["priority"]),
                    if v["enabled"] == false { " · disabled" } else { "" }
                ),
                current: v["version"].as_i64() == newest,
            })
            .collect(),
        diff,
        shadow: stats.map(|s| ShadowStats {
            matches: format::count(s["match_count"].as_i64().unwrap_or(0)),
            last_matched: s["last_matched_at"]
                .as_str()
                .map(format::timestamp_str)
                .unwrap_or_else(|| "never".into()),
        }),
        marker,
        form,
        errors,
    }
    .render()
}

/// Errors from a policy write, each beside the field it is about.
fn policy_errors(f: &Failure) -> Errors {
    match f {
        Failure::Rejected {
            detail: Value::String(message),
            ..
        } => Errors {
            general: None,
            fields: vec![(field_of(message).to_owned(), message.clone())],
        },
        other => Errors::from_failure(other),
    }
}

pub async fn new_page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let form = Form {
        action: "block".into(),
        priority: "0".into(),
        enabled: true,
        ..Form::default()
    };
    let page = editor_page(&ctx, &st, None, form, Errors::default(), (None, None)).await;
    ctx.respond(page)
}

pub async fn create(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let form = Form::from_posted(&posted);
    match st.api.post(&ctx.caller, "/v1/policies", &form.body()).await {
        Ok(p) => see_other(&format!(
            "/policies/{}?done=policy-created",
            p["id"].as_str().unwrap_or_default()
        )),
        Err(f) => ctx.refused(
            &f,
            editor_page(&ctx, &st, None, form, policy_errors(&f), (None, None)).await,
        ),
    }
}

/// A policy id from the URL, hex and dashes only, so it cannot bend API paths.
fn clean(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect()
}

pub async fn edit_page(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    q: web::Query<EditorQuery>,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = clean(&path);
    let Some(policy) = ctx.get(&st, format!("/v1/policies/{id}")).await else {
        return ctx.respond(
            frame::MessagePage {
                frame: ctx.frame("Policy", "/policies"),
                heading: "Policy not found".into(),
                message: "There is no such policy in this project.".into(),
            }
            .render(),
        );
    };
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let page = editor_page(
        &ctx,
        &st,
        Some(&id),
        Form::from_policy(&policy),
        Errors::default(),
        (q.a, q.b),
    )
    .await;
    ctx.respond(page)
}

pub async fn save(req: HttpRequest, st: web::Data<DashState>, path: web::Path<String>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = clean(&path);
    let form = Form::from_posted(&posted);
    let result = st
        .api
        .send(
            &ctx.caller,
            Method::PATCH,
            &format!("/v1/policies/{id}"),
            Some(&form.body()),
            &[],
        )
        .await;
    match result {
        Ok(_) => see_other(&format!("/policies/{id}?done=policy-saved")),
        Err(f) => ctx.refused(
            &f,
            editor_page(&ctx, &st, Some(&id), form, policy_errors(&f), (None, None)).await,
        ),
    }
}

/// Enable, disable, shadow on/off or delete, from the list or the editor.
pub async fn act(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (id, what) = path.into_inner();
    let id = clean(&id);
    let (method, body, done) = match what.as_str() {
        "enable" => (Method::PATCH, Some(json!({"enabled": true})), "policy-enabled"),
        "disable" => (Method::PATCH, Some(json!({"enabled": false})), "policy-disabled"),
        "shadow-on" => (Method::PATCH, Some(json!({"shadow": true})), "policy-saved"),
        "shadow-off" => (Method::PATCH, Some(json!({"shadow": false})), "policy-saved"),
        "delete" => (Method::DELETE, None, "policy-deleted"),
        _ => return see_other("/policies"),
    };
    let back = if what == "delete" {
        "/policies".to_owned()
    } else {
        posted.back("/policies")
    };
    let result = st
        .api
        .send(&ctx.caller, method, &format!("/v1/policies/{id}"), body.as_ref(), &[])
        .await;
    match result {
        Ok(_) => see_other(&with_done(&back, done)),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, list_page(&ctx, &st, None).await)
        }
    }
}

/// `path` with `done=<key>` added to its query.
fn with_done(path: &str, done: &str) -> String {
    let path = path.split('#').next().unwrap_or(path);
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}done={done}")
}

/// Rolls the policy back to an earlier version: that version's fields are
/// written as the policy's, which records a new version.
pub async fn rollback(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = clean(&path);
    let version: i64 = posted.get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let result = async {
        let v = st
            .api
            .get(&ctx.caller, &format!("/v1/policies/{id}/versions/{version}"))
            .await?;
        let body = json!({
            "name": v["name"], "description": v["description"], "match_expression": v["match_expression"],
            "action": v["action"], "action_config": v["action_config"], "applies_to": v["applies_to"],
            "enabled": v["enabled"], "priority": v["priority"],
        });
        st.api
            .send(
                &ctx.caller,
                Method::PATCH,
                &format!("/v1/policies/{id}"),
                Some(&body),
                &[],
            )
            .await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/policies/{id}?done=policy-rolled-back")),
        Err(f) => {
            let current = ctx.get(&st, format!("/v1/policies/{id}")).await.unwrap_or(Value::Null);
            let page = editor_page(
                &ctx,
                &st,
                Some(&id),
                Form::from_policy(&current),
                Errors::from_failure(&f),
                (None, None),
            )
            .await;
            ctx.refused(&f, page)
        }
    }
}

/// The editor's live check: the API's verdict on an expression, as JSON.
pub async fn check(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = json!({"match_expression": posted.raw("match_expression")});
    match st.api.post(&ctx.caller, "/v1/policies/validate", &body).await {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(f) => HttpResponse::build(status_of(&f)).json(json!({"valid": null, "error": {"message": f.message()}})),
    }
}

pub struct Simulated {
    pub scanned: String,
    pub matched: String,
    pub rate: String,
    pub truncated: bool,
    pub rows: Vec<SimRow>,
}

pub struct SimRow {
    pub href: String,
    pub name: String,
    pub agent: String,
    pub started: String,
}

#[derive(Template)]
#[template(path = "dashboard/simulate.html")]
struct SimulatePage {
    frame: Frame,
    expression: String,
    applies_to: String,
    hours: String,
    errors: Errors,
    result: Option<Simulated>,
}

pub async fn simulate_page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let page = SimulatePage {
        frame: ctx.frame("Simulate a policy", "/policies"),
        expression: String::new(),
        applies_to: String::new(),
        hours: "24".into(),
        errors: Errors::default(),
        result: None,
    };
    ctx.respond(page.render())
}

pub async fn simulate(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let expression = posted.raw("match_expression").to_owned();
    let applies_to = posted.get("applies_to").unwrap_or_default().to_owned();
    let hours = posted.get("hours").unwrap_or("24").to_owned();
    let mut body = json!({
        "match_expression": expression,
        "hours": hours.parse::<i64>().map(Value::from).unwrap_or(Value::from(hours.clone())),
    });
    let targets: Vec<&str> = applies_to.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if !targets.is_empty() {
        body["applies_to"] = json!(targets);
    }
    let (result, errors, status) = match st.api.post(&ctx.caller, "/v1/policies/simulate", &body).await {
        Ok(r) => {
            let s = &r["summary"];
            let rows = r["matches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| SimRow {
                    href: format!(
                        "/traces/{}?{}#span-panel",
                        m["trace_id"].as_str().unwrap_or_default(),
                        super::query(&[("span", m["span_id"].as_str().unwrap_or_default())])
                    ),
                    name: text(&m["name"]),
                    agent: text(&m["agent_name"]),
                    started: m["start_time"].as_str().map(format::timestamp_str).unwrap_or_default(),
                })
                .collect();
            let simulated = Simulated {
                scanned: format::count(s["scanned"].as_i64().unwrap_or(0)),
                matched: format::count(s["matched"].as_i64().unwrap_or(0)),
                rate: format!("{:.1} %", s["match_rate"].as_f64().unwrap_or(0.0) * 100.0),
                truncated: s["truncated"].as_bool().unwrap_or(false),
                rows,
            };
            (Some(simulated), Errors::default(), StatusCode::OK)
        }
        Err(f) => {
            if let Some(answer) = ctx.signed_out(&f) {
                return answer;
            }
            (None, Errors::from_failure(&f), status_of(&f))
        }
    };
    let page = SimulatePage {
        frame: ctx.frame("Simulate a policy", "/policies"),
        expression,
        applies_to,
        hours,
        errors,
        result,
    };
    frame::html(status, page.render())
}

pub struct TemplateCard {
    pub id: String,
    pub name: String,
    pub description: String,
    pub action: String,
    pub tags: Vec<String>,
    pub expression: String,
}

#[derive(Template)]
#[template(path = "dashboard/templates.html")]
struct TemplatesPage {
    frame: Frame,
    cards: Vec<TemplateCard>,
    can_write: bool,
}

async fn templates_page(ctx: &Ctx, st: &DashState) -> Result<String, askama::Error> {
    let listed = ctx.get(st, "/v1/policy-templates").await;
    TemplatesPage {
        cards: listed
            .as_ref()
            .and_then(|l| l["data"].as_array())
            .into_iter()
            .flatten()
            .map(|t| TemplateCard {
                id: text(&t["id"]),
                name: text(&t["name"]),
                description: text(&t["description"]),
                action: text(&t["action"]).replace('_', " "),
                tags: t["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                expression: text(&t["match_expression"]),
            })
            .collect(),
        can_write: ctx.can("policies:write"),
        frame: ctx.frame("Policy templates", "/policies"),
    }
    .render()
}

pub async fn templates(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let page = templates_page(&ctx, &st).await;
    ctx.respond(page)
}

pub async fn apply_template(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id: String = path
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    match st
        .api
        .post(&ctx.caller, &format!("/v1/policy-templates/{id}/apply"), &json!({}))
        .await
    {
        Ok(p) => see_other(&format!(
            "/policies/{}?done=template-applied",
            p["policy"]["id"].as_str().unwrap_or_default()
        )),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, templates_page(&ctx, &st).await)
        }
    }
}

pub async fn export(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    match st
        .api
        .raw(&ctx.caller, Method::GET, "/v1/policies/export", None, &[])
        .await
    {
        Ok(raw) => download("strathon-policies.json", "application/json", raw.body),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, list_page(&ctx, &st, None).await)
        }
    }
}

/// A policy file (what export writes) uploaded as multipart form data.
pub async fn import(req: HttpRequest, st: web::Data<DashState>, mut parts: Multipart) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (mut csrf, mut file) = (String::new(), Vec::new());
    while let Ok(Some(mut field)) = parts.try_next().await {
        let name = field.name().unwrap_or_default().to_owned();
        let mut data = Vec::new();
        while let Ok(Some(chunk)) = field.try_next().await {
            if data.len() + chunk.len() > 4 << 20 {
                ctx.notify("error", "That file is larger than 4 MiB.");
                return ctx.respond(list_page(&ctx, &st, None).await);
            }
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&data).into_owned(),
            "file" => file = data,
            _ => {}
        }
    }
    if !session::csrf_ok(&req, &csrf) {
        return frame::refusal(
            &req,
            "This form has expired or did not come from this dashboard. Go back, reload the page and try again.",
        );
    }
    let parsed: Option<Value> = serde_json::from_slice(&file).ok();
    let Some(body) = parsed.filter(|v| v["policies"].is_array()) else {
        ctx.notify(
            "error",
            "That is not a policy file: expected JSON with a \"policies\" list, as Export writes.",
        );
        return frame::html(StatusCode::BAD_REQUEST, list_page(&ctx, &st, None).await);
    };
    match st
        .api
        .post(
            &ctx.caller,
            "/v1/policies/import",
            &json!({"policies": body["policies"]}),
        )
        .await
    {
        Ok(r) => {
            let report = ImportReport {
                created: r["created"].as_i64().unwrap_or(0),
                skipped: r["skipped"].as_i64().unwrap_or(0),
                errors: r["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| (text(&e["name"]), text(&e["error"])))
                    .collect(),
            };
            ctx.respond(list_page(&ctx, &st, Some(report)).await)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, list_page(&ctx, &st, None).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_land_on_their_fields() {
        assert_eq!(
            field_of("invalid match expression: failed to compile CEL expression: ERROR"),
            "match_expression"
        );
        assert_eq!(
            field_of("throttle action_config.max_calls must be a positive integer, got None"),
            "max_calls"
        );
        assert_eq!(
            field_of("priority must be a 32-bit integer, got 4000000000"),
            "priority"
        );
        assert_eq!(field_of("name must not be empty"), "name");
    }

    #[test]
    fn the_caret_sits_under_the_column() {
        let m = marker("name == 'x' &&\n  attrs[", 2, 8).unwrap();
        assert_eq!(m.line, "  attrs[");
        assert_eq!(m.caret, "       ^");
        assert_eq!(m.at, "line 2, column 8");
        assert!(marker("x", 3, 1).is_none());
    }

    #[test]
    fn diffs_mark_changed_lines() {
        let lines = diff_lines("a\nb\nc\n", "a\nB\nc\n");
        let marks: Vec<&str> = lines.iter().map(|l| l.class).collect();
        assert_eq!(marks, ["same", "del", "ins", "same"]);
        assert_eq!(lines[2].text, "B");
    }

    #[test]
    fn forms_become_api_bodies() {
        let form = Form {
            name: "slow down".into(),
            match_expression: "true".into(),
            action: "throttle".into(),
            max_calls: "5".into(),
            window_seconds: "lots".into(),
            throttle_scope: "agent".into(),
            applies_to: "tool, send_email".into(),
            enabled: true,
            ..Form::default()
        };
        let body = form.body();
        assert_eq!(
            body["action_config"],
            json!({"max_calls": 5, "window_seconds": "lots", "scope": "agent"})
        );
        assert_eq!(body["applies_to"], json!(["tool", "send_email"]));
        assert_eq!(body["priority"], 0);
        assert!(body.get("description").is_none());
    }
}
