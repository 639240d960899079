//! `GET /v1/overview`: a project's headline numbers and the series behind
//! the dashboard's landing page in one call (not in the original's
//! contract; ours). It reads the hourly span rollups, so it answers in
//! milliseconds however many spans are stored.

use actix_web::get;
use actix_web::{web, HttpResponse};
use chrono::{Datelike as _, TimeZone as _, Utc};
use serde::Serialize;
use strathon_schema::analytics;

use super::params::{self, decimal as dec, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// Spans the firewall acted on, by what it did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewInterventions {
    blocked: i64,
    steered: i64,
    throttled: i64,
    halted: i64,
    approval_requested: i64,
}

/// Spans in one hour with one intervention state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewHour {
    /// The hour's start, in nanoseconds since the epoch.
    hour: i64,
    /// Null for spans the firewall let through untouched.
    intervention_state: Option<String>,
    spans: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewDay {
    /// `YYYY-MM-DD` (UTC).
    day: String,
    /// Decimal string, USD.
    cost_usd: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewAgent {
    agent_name: String,
    spans: i64,
    /// Decimal string, USD.
    cost_usd: String,
}

/// A project's headline numbers and the series behind the dashboard.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    window_hours: i64,
    /// The window's start.
    since: String,
    spans: i64,
    traces: i64,
    errors: i64,
    interventions: OverviewInterventions,
    /// Decimal string, USD, in the window.
    cost_usd: String,
    input_tokens: i64,
    output_tokens: i64,
    pending_approvals: i64,
    active_halts: i64,
    /// Decimal string, USD, since midnight UTC.
    spend_today_usd: String,
    /// Decimal string, USD, since the month began (UTC).
    spend_month_usd: String,
    hourly: Vec<OverviewHour>,
    /// Spend per day over the last `days` days.
    daily_spend: Vec<OverviewDay>,
    /// The five agents with the most spans in the window.
    top_agents: Vec<OverviewAgent>,
}

/// The project at a glance
///
/// Spans, traces, errors, interventions and cost of the last `hours` hours
/// (from hourly rollups), what waits on a person, spend today and this
/// month, spans per hour, spend per day over `days` days, and the top
/// five agents.
#[utoipa::path(
    tag = "Overview",
    operation_id = "get_overview",
    security(("bearer" = ["traces:read"])),
    params(
        ("hours" = Option<i64>, Query, minimum = 1, maximum = 2160, description = "The window, in hours (default 24)."),
        ("days" = Option<i64>, Query, minimum = 1, maximum = 366, description = "Days of `daily_spend` (default 30)."),
    ),
    responses((status = 200, description = "The numbers.", body = Overview)),
)]
#[get("/v1/overview")]
pub async fn get(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let hours = params::bounded_int(&query, "hours", 24, 1, 24 * 90)?;
    let days = params::bounded_int(&query, "days", 30, 1, 366)?;
    let now = Utc::now();
    let ns = |t: chrono::DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(0);
    let since = now - chrono::Duration::hours(hours);
    let day = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(day);
    let mut conn = state.pool.get().await?;
    let project = auth.project_id;
    let s = analytics::summary(&mut conn, project, ns(since), ns(day), ns(month)).await?;
    let hourly = analytics::hourly(&mut conn, project, ns(since)).await?;
    let spend_from = now - chrono::Duration::days(days - 1);
    let daily = analytics::daily_spend(
        &mut conn,
        project,
        ns(spend_from.date_naive().and_time(Default::default()).and_utc()),
    )
    .await?;
    let agents = analytics::top_agents(&mut conn, project, ns(since), 5).await?;
    Ok(HttpResponse::Ok().json(Overview {
        window_hours: hours,
        since: params::utc_offset(&since),
        spans: s.spans,
        traces: s.traces,
        errors: s.errors,
        interventions: OverviewInterventions {
            blocked: s.blocked,
            steered: s.steered,
            throttled: s.throttled,
            halted: s.halted,
            approval_requested: s.approvals_requested,
        },
        cost_usd: dec(&s.cost_usd),
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        pending_approvals: s.pending_approvals,
        active_halts: s.active_halts,
        spend_today_usd: dec(&s.spend_today_usd),
        spend_month_usd: dec(&s.spend_month_usd),
        hourly: hourly
            .into_iter()
            .map(|h| OverviewHour {
                hour: h.hour,
                intervention_state: (!h.intervention_state.is_empty()).then_some(h.intervention_state),
                spans: h.spans,
            })
            .collect(),
        daily_spend: daily
            .iter()
            .map(|d| OverviewDay {
                day: d.day.clone(),
                cost_usd: dec(&d.cost_usd),
            })
            .collect(),
        top_agents: agents
            .iter()
            .map(|a| OverviewAgent {
                agent_name: a.agent_name.clone(),
                spans: a.spans,
                cost_usd: dec(&a.cost_usd),
            })
            .collect(),
    }))
}
