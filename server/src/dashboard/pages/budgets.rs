//! Budgets: cost and iteration budgets with spend bars and whether they
//! halted anything; create, edit and delete with scope, window and soft
//! limit; per budget, spend over time as an SVG chart and the forecast.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::chart::{self, Bars, Column};
use super::super::client::Failure;
use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{choices, done_notice, Choice, Errors};

pub struct Row {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub scope: String,
    pub limit: String,
    pub used: String,
    pub percent: f64,
    pub soft: bool,
    pub halted: bool,
    pub active: bool,
    pub forecast: String,
}

/// The budget form, as text.
#[derive(Default)]
pub struct Form {
    pub name: String,
    pub description: String,
    pub kind: String,
    pub scope: String,
    pub agent: String,
    pub max_spend_usd: String,
    pub budget_duration: String,
    pub window_type: String,
    pub soft_limit_ratio: String,
    pub max_repeated_calls: String,
    pub loop_window_seconds: String,
}

impl Form {
    fn from_budget(b: &Value) -> Form {
        let t = |k: &str| match &b[k] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Form {
            name: t("name"),
            description: t("description"),
            kind: t("budget_type"),
            scope: t("scope"),
            agent: t("scope_value"),
            max_spend_usd: t("max_spend_usd"),
            budget_duration: t("budget_duration"),
            window_type: t("window_type"),
            soft_limit_ratio: t("soft_limit_ratio"),
            max_repeated_calls: t("max_repeated_calls"),
            loop_window_seconds: t("loop_window_seconds"),
        }
    }

    fn from_posted(p: &Posted) -> Form {
        let g = |k: &str| p.get(k).unwrap_or_default().to_owned();
        Form {
            name: g("name"),
            description: g("description"),
            kind: g("kind"),
            scope: g("scope"),
            agent: g("agent"),
            max_spend_usd: g("max_spend_usd"),
            budget_duration: g("budget_duration"),
            window_type: g("window_type"),
            soft_limit_ratio: g("soft_limit_ratio"),
            max_repeated_calls: g("max_repeated_calls"),
            loop_window_seconds: g("loop_window_seconds"),
        }
    }

    /// The API body; `creating` adds what only creation takes (scope, kind).
    fn body(&self, creating: bool) -> Value {
        let number = |s: &str| -> Value {
            s.parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::from(s))
        };
        let mut body = json!({"name": self.name});
        if !self.description.is_empty() {
            body["description"] = json!(self.description);
        }
        if creating {
            body["scope"] = json!(if self.scope.is_empty() {
                "project"
            } else {
                self.scope.as_str()
            });
            if self.scope == "agent" {
                body["scope_value"] = json!(self.agent);
            }
        }
        if self.kind == "iteration" {
            if !self.max_repeated_calls.is_empty() {
                body["max_repeated_calls"] = number(&self.max_repeated_calls);
            }
            if !self.loop_window_seconds.is_empty() {
                body["loop_window_seconds"] = json!(self.loop_window_seconds);
            }
        } else {
            // Money goes as the decimal string typed, as the API wants it.
            if !self.max_spend_usd.is_empty() {
                body["max_spend_usd"] = json!(self.max_spend_usd);
            }
            if creating && !self.budget_duration.is_empty() {
                body["budget_duration"] = json!(self.budget_duration);
                body["window_type"] = json!(if self.window_type.is_empty() {
                    "fixed"
                } else {
                    self.window_type.as_str()
                });
            }
            if !self.soft_limit_ratio.is_empty() {
                body["soft_limit_ratio"] = json!(self.soft_limit_ratio);
            }
        }
        body
    }
}

#[derive(Template)]
#[template(path = "dashboard/budgets.html")]
struct ListPage {
    frame: Frame,
    rows: Vec<Row>,
    can_write: bool,
    form: Form,
    errors: Errors,
    kinds: Vec<Choice>,
    scopes: Vec<Choice>,
    durations: Vec<Choice>,
    windows: Vec<Choice>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn forecasts(f: &Option<Value>) -> Vec<Value> {
    f.as_ref()
        .and_then(|f| f["budget_forecasts"].as_array().cloned())
        .unwrap_or_default()
}

fn forecast_text(fc: Option<&Value>) -> String {
    match fc {
        Some(f) => match (
            f["hours_until_exhaustion"].as_f64(),
            f["projected_exhaustion_date"].as_str(),
        ) {
            (Some(h), Some(at)) => format!(
                "runs out in {} ({})",
                format::duration_ms(h * 3_600_000.0),
                format::timestamp_str(at)
            ),
            _ => "no spend in the last day".into(),
        },
        None => String::new(),
    }
}

fn row(b: &Value, forecasts: &[Value]) -> Row {
    let cost = b["budget_type"] == "cost";
    let (used, limit) = if cost {
        (format::number(&b["spent_usd"]), format::number(&b["max_spend_usd"]))
    } else {
        (
            b["current_count"].as_f64().unwrap_or(0.0),
            b["max_repeated_calls"].as_f64().unwrap_or(0.0),
        )
    };
    let id = b["id"].as_str().unwrap_or_default().to_owned();
    let soft = format::number(&b["soft_limit_ratio"]);
    Row {
        name: b["name"].as_str().unwrap_or_default().to_owned(),
        kind: if cost { "cost" } else { "iteration" }.into(),
        scope: match b["scope"].as_str() {
            Some("agent") => format!("agent {}", b["scope_value"].as_str().unwrap_or("?")),
            Some(other) => other.to_owned(),
            None => String::new(),
        },
        limit: if cost {
            format!(
                "{} per {} ({})",
                format::money(limit),
                b["budget_duration"].as_str().unwrap_or("?"),
                b["window_type"].as_str().unwrap_or("fixed")
            )
        } else {
            format!(
                "{} repeated calls per {} s",
                limit,
                b["loop_window_seconds"].as_str().unwrap_or("?")
            )
        },
        used: if cost { format::money(used) } else { format!("{used}") },
        percent: if limit > 0.0 {
            (used / limit * 100.0).clamp(0.0, 100.0).round()
        } else {
            0.0
        },
        soft: soft > 0.0 && limit > 0.0 && used >= soft * limit,
        halted: b["auto_halted"].as_bool().unwrap_or(false),
        active: b["is_active"].as_bool().unwrap_or(true),
        forecast: forecast_text(forecasts.iter().find(|f| f["budget_id"] == id.as_str())),
        id,
    }
}

fn option_lists(form: &Form) -> (Vec<Choice>, Vec<Choice>, Vec<Choice>, Vec<Choice>) {
    (
        choices(
            [("cost", "Cost (USD)"), ("iteration", "Iterations (repeated calls)")],
            &form.kind,
        ),
        choices([("project", "The whole project"), ("agent", "One agent")], &form.scope),
        choices(
            [
                ("1h", "per hour"),
                ("1d", "per day"),
                ("7d", "per week"),
                ("30d", "per 30 days"),
            ],
            &form.budget_duration,
        ),
        choices(
            [
                ("fixed", "fixed windows (reset at the end)"),
                ("rolling", "a rolling window"),
            ],
            &form.window_type,
        ),
    )
}

async fn list_page(ctx: &Ctx, st: &DashState, form: Form, errors: Errors) -> Result<String, askama::Error> {
    let (budgets, forecast) = futures::join!(
        ctx.get(st, "/v1/budgets?include_inactive=true"),
        ctx.get(st, "/v1/costs/forecast")
    );
    let fcs = forecasts(&forecast);
    let (kinds, scopes, durations, windows) = option_lists(&form);
    ListPage {
        frame: ctx.frame("Budgets", "/budgets"),
        rows: budgets
            .as_ref()
            .and_then(|b| b["budgets"].as_array())
            .into_iter()
            .flatten()
            .map(|b| row(b, &fcs))
            .collect(),
        can_write: ctx.can("budgets:write"),
        form,
        errors,
        kinds,
        scopes,
        durations,
        windows,
    }
    .render()
}

fn new_form() -> Form {
    Form {
        kind: "cost".into(),
        scope: "project".into(),
        budget_duration: "1d".into(),
        window_type: "fixed".into(),
        ..Form::default()
    }
}

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = list_page(&ctx, &st, new_form(), Errors::default()).await;
    ctx.respond(body)
}

/// Budget errors beside the fields they name.
fn budget_errors(f: &Failure) -> Errors {
    Errors::beside(f, |message| {
        [
            "max_spend_usd",
            "budget_duration",
            "window_type",
            "soft_limit_ratio",
            "max_repeated_calls",
            "loop_window_seconds",
            "description",
        ]
        .into_iter()
        .find(|k| message.contains(k))
        .unwrap_or(if message.contains("scope") { "agent" } else { "name" })
    })
}

pub async fn create(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let form = Form::from_posted(&posted);
    match st.api.post(&ctx.caller, "/v1/budgets", &form.body(true)).await {
        Ok(b) => see_other(&format!(
            "/budgets/{}?done=budget-saved",
            b["id"].as_str().or(b["budget"]["id"].as_str()).unwrap_or_default()
        )),
        Err(f) => {
            let errors = budget_errors(&f);
            ctx.refused(&f, list_page(&ctx, &st, form, errors).await)
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/budget.html")]
struct BudgetPage {
    frame: Frame,
    id: String,
    row: Row,
    form: Form,
    errors: Errors,
    can_write: bool,
    chart: Option<Bars>,
    window: String,
    burn: String,
    /// Creation-only choices do not show when editing.
    none: Vec<Choice>,
}

fn clean(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect()
}

async fn budget_page(
    ctx: &Ctx,
    st: &DashState,
    id: &str,
    form: Option<Form>,
    errors: Errors,
) -> Result<String, askama::Error> {
    let since = (Utc::now() - chrono::Duration::days(13))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let since_ns = since.timestamp_nanos_opt().unwrap_or(0);
    let (budget, spend, forecast, costs) = futures::join!(
        ctx.get(st, format!("/v1/budgets/{id}")),
        ctx.get(st, format!("/v1/budgets/{id}/spend")),
        ctx.get(st, "/v1/costs/forecast"),
        ctx.get(
            st,
            format!("/v1/costs?group_by=agent&period=day&start_after={since_ns}&limit=1000")
        ),
    );
    let budget = budget
        .map(|b| {
            if b["budget"].is_object() {
                b["budget"].clone()
            } else {
                b
            }
        })
        .unwrap_or(Value::Null);
    let fcs = forecasts(&forecast);
    let row = row(&budget, &fcs);
    // Spend per day in the budget's scope, from the cost rollup by agent.
    let agent = (budget["scope"] == "agent").then(|| budget["scope_value"].as_str().unwrap_or_default().to_owned());
    let chart = (budget["budget_type"] == "cost").then(|| {
        let mut days: std::collections::BTreeMap<String, f64> = (0..14)
            .map(|i| ((since + chrono::Duration::days(i)).format("%Y-%m-%d").to_string(), 0.0))
            .collect();
        for c in costs.as_ref().and_then(|c| c["costs"].as_array()).into_iter().flatten() {
            if agent.as_deref().is_some_and(|a| c["agent_name"] != a) {
                continue;
            }
            let day = c["period_start"]
                .as_str()
                .unwrap_or_default()
                .get(..10)
                .unwrap_or_default();
            if let Some(total) = days.get_mut(day) {
                *total += format::number(&c["total_cost_usd"]);
            }
        }
        let columns: Vec<Column> = days
            .iter()
            .map(|(day, usd)| Column {
                label: day.get(5..).unwrap_or(day).to_owned(),
                segments: vec![("bar-budget", *usd, format::money(*usd))],
            })
            .collect();
        chart::bars(
            format!("Spend per day for {}, last 14 days", row.name),
            &columns,
            format::money,
        )
    });
    let window = spend
        .as_ref()
        .map(|s| match (s["window_start"].as_str(), s["window_reset_at"].as_str()) {
            (Some(a), Some(b)) => format!("{} to {}", format::timestamp_str(a), format::timestamp_str(b)),
            (Some(a), None) => format!("since {}", format::timestamp_str(a)),
            _ => String::new(),
        })
        .unwrap_or_default();
    let burn = forecast
        .as_ref()
        .map(|f| {
            format!(
                "{} per hour over the last day (project)",
                format::money(format::number(&f["burn_rate_usd_per_hour"]))
            )
        })
        .unwrap_or_default();
    BudgetPage {
        frame: ctx.frame("Budget", "/budgets"),
        id: id.to_owned(),
        form: form.unwrap_or_else(|| Form::from_budget(&budget)),
        row,
        errors,
        can_write: ctx.can("budgets:write"),
        chart,
        window,
        burn,
        none: Vec::new(),
    }
    .render()
}

pub async fn detail(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    q: web::Query<Done>,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = budget_page(&ctx, &st, &clean(&path), None, Errors::default()).await;
    ctx.respond(body)
}

pub async fn save(req: HttpRequest, st: web::Data<DashState>, path: web::Path<String>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = clean(&path);
    let form = Form::from_posted(&posted);
    match st
        .api
        .send(
            &ctx.caller,
            Method::PATCH,
            &format!("/v1/budgets/{id}"),
            Some(&form.body(false)),
            &[],
        )
        .await
    {
        Ok(_) => see_other(&format!("/budgets/{id}?done=budget-saved")),
        Err(f) => {
            let errors = budget_errors(&f);
            ctx.refused(&f, budget_page(&ctx, &st, &id, Some(form), errors).await)
        }
    }
}

pub async fn delete(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = clean(&path);
    match st
        .api
        .send(&ctx.caller, Method::DELETE, &format!("/v1/budgets/{id}"), None, &[])
        .await
    {
        Ok(_) => see_other("/budgets?done=budget-deleted"),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, budget_page(&ctx, &st, &id, None, Errors::default()).await)
        }
    }
}
