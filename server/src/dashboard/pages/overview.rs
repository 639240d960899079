//! The landing page: the last day at a glance, what waits on a human,
//! spend against budgets, the busiest agents and two charts, from two API
//! calls (`/v1/overview` and `/v1/costs/forecast`). It reloads itself every
//! few seconds.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DurationRound as _, Utc};
use serde_json::Value;

use super::super::chart::{self, Bars, Column};
use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::DashState;
use super::query;

pub struct Tile {
    pub label: &'static str,
    pub value: String,
    pub href: String,
    pub class: &'static str,
}

pub struct BudgetLine {
    pub name: String,
    pub spent: String,
    pub limit: String,
    /// Spend as a share of the limit, 0-100, for the meter.
    pub percent: f64,
    pub alert: bool,
    pub exhaustion: String,
}

pub struct AgentLine {
    pub name: String,
    pub href: String,
    pub spans: String,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    frame: Frame,
    has_project: bool,
    can_budget: bool,
    tiles: Vec<Tile>,
    pending_approvals: String,
    active_halts: String,
    spend_today: String,
    spend_month: String,
    budgets: Vec<BudgetLine>,
    agents: Vec<AgentLine>,
    spans_chart: Bars,
    spend_chart: Bars,
}

const HOUR_NS: i64 = 3_600_000_000_000;

fn rows(v: &Option<Value>, key: &str) -> Vec<Value> {
    v.as_ref().and_then(|v| v[key].as_array().cloned()).unwrap_or_default()
}

pub async fn page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let now = Utc::now();
    let ns = |t: chrono::DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(0);
    let has_project = ctx.project.is_some();
    let (summary, forecast) = if has_project {
        futures::join!(
            ctx.get(&st, "/v1/overview?hours=24&days=30"),
            ctx.get(&st, "/v1/costs/forecast"),
        )
    } else {
        ctx.notify(
            "warning",
            "You are not a member of any project yet. Ask an owner or admin to invite you.",
        );
        (None, None)
    };
    let s = summary.unwrap_or(Value::Null);
    let n = |v: &Value| format::count(v.as_i64().unwrap_or(0));
    let tile = |label, value: &Value, href: String, class| Tile {
        label,
        value: n(value),
        href,
        class,
    };
    let day_filter = |state: &str| format!("/spans?{}", query(&[("window", "24h"), ("intervention_state", state)]));
    let tiles = vec![
        tile("Spans, last 24 h", &s["spans"], "/spans?window=24h".into(), ""),
        tile("Traces, last 24 h", &s["traces"], "/traces?window=24h".into(), ""),
        tile(
            "Blocked calls",
            &s["interventions"]["blocked"],
            day_filter("blocked"),
            "st-blocked",
        ),
        tile(
            "Steered calls",
            &s["interventions"]["steered"],
            day_filter("steered"),
            "st-steered",
        ),
        tile(
            "Throttled calls",
            &s["interventions"]["throttled"],
            day_filter("throttled"),
            "st-throttled",
        ),
        tile(
            "Errors",
            &s["errors"],
            format!("/spans?{}", query(&[("window", "24h"), ("status_code", "ERROR")])),
            "st-error",
        ),
    ];

    // Spans per hour, split by what the firewall did to them.
    let first_hour = now.duration_trunc(chrono::Duration::hours(1)).unwrap_or(now) - chrono::Duration::hours(23);
    let mut hours: BTreeMap<i64, [f64; 4]> = (0..24).map(|i| (ns(first_hour) + i * HOUR_NS, [0.0; 4])).collect();
    for r in s["hourly"].as_array().into_iter().flatten() {
        let Some(bucket) = r["hour"].as_i64() else { continue };
        let slot = match r["intervention_state"].as_str() {
            Some("blocked") | Some("approval_denied") => 1,
            Some("steered") | Some("steer_attempted") => 2,
            Some("throttled") | Some("halted") | Some("approval_requested") => 3,
            _ => 0,
        };
        if let Some(h) = hours.get_mut(&bucket) {
            h[slot] += r["spans"].as_f64().unwrap_or(0.0);
        }
    }
    let columns: Vec<Column> = hours
        .iter()
        .map(|(bucket, v)| Column {
            label: chrono::DateTime::from_timestamp_nanos(*bucket)
                .format("%H:00")
                .to_string(),
            segments: vec![
                ("bar-ok", v[0], format!("{} spans", v[0])),
                ("bar-blocked", v[1], format!("{} blocked", v[1])),
                ("bar-steered", v[2], format!("{} steered", v[2])),
                (
                    "bar-other",
                    v[3],
                    format!("{} throttled, halted or awaiting approval", v[3]),
                ),
            ],
        })
        .collect();
    let spans_chart = chart::bars("Spans per hour over the last 24 hours (UTC)", &columns, |v| {
        format::count(v.round() as i64)
    });

    // Spend per day, all models together.
    let first_day = now.date_naive() - chrono::Duration::days(29);
    let mut days: BTreeMap<String, f64> = (0..30)
        .map(|i| {
            (
                (first_day + chrono::Duration::days(i)).format("%Y-%m-%d").to_string(),
                0.0,
            )
        })
        .collect();
    for r in s["daily_spend"].as_array().into_iter().flatten() {
        if let Some(total) = days.get_mut(r["day"].as_str().unwrap_or_default()) {
            *total += format::number(&r["cost_usd"]);
        }
    }
    let columns: Vec<Column> = days
        .iter()
        .map(|(day, usd)| Column {
            label: day.get(5..).unwrap_or(day).to_owned(),
            segments: vec![("bar-spend", *usd, format::money(*usd))],
        })
        .collect();
    let spend_chart = chart::bars("Spend per day over the last 30 days (UTC)", &columns, format::money);

    let budgets = rows(&forecast, "budget_forecasts")
        .iter()
        .map(|b| {
            let spent = format::number(&b["current_spend_usd"]);
            let limit = format::number(&b["max_spend_usd"]);
            BudgetLine {
                name: b["budget_name"].as_str().unwrap_or_default().to_owned(),
                spent: format::money(spent),
                limit: format::money(limit),
                percent: if limit > 0.0 {
                    (spent / limit * 100.0).clamp(0.0, 100.0).round()
                } else {
                    0.0
                },
                alert: b["budget_alert"].as_bool().unwrap_or(false),
                exhaustion: b["projected_exhaustion_date"]
                    .as_str()
                    .map(format::timestamp_str)
                    .unwrap_or_else(|| "not at the current rate".into()),
            }
        })
        .collect();
    let agents = s["top_agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let name = a["agent_name"].as_str()?.to_owned();
            Some(AgentLine {
                href: format!("/traces?{}", query(&[("agent_name", &name)])),
                name,
                spans: n(&a["spans"]),
                cost: format::money_value(&a["cost_usd"]),
            })
        })
        .collect();

    let mut frame = ctx.frame("Overview", "/");
    frame.live = true;
    let page = OverviewPage {
        frame,
        has_project,
        can_budget: ctx.can("budgets:write"),
        tiles,
        pending_approvals: n(&s["pending_approvals"]),
        active_halts: n(&s["active_halts"]),
        spend_today: format::money_value(&s["spend_today_usd"]),
        spend_month: format::money_value(&s["spend_month_usd"]),
        budgets,
        agents,
        spans_chart,
        spend_chart,
    };
    ctx.respond(page.render())
}
