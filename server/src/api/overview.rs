//! `GET /v1/overview`: a project's headline numbers and the series behind
//! the dashboard's landing page in one call (not in the original's
//! contract; ours). It reads the hourly span rollups, so it answers in
//! milliseconds however many spans are stored.

use actix_web::get;
use actix_web::{web, HttpResponse};
use chrono::{Datelike as _, TimeZone as _, Utc};
use serde_json::json;
use strathon_schema::analytics;

use super::params::{self, decimal as dec, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(tag = "Overview", responses((status = 200, description = "OK")))]
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
    Ok(HttpResponse::Ok().json(json!({
        "window_hours": hours,
        "since": params::utc_offset(&since),
        "spans": s.spans,
        "traces": s.traces,
        "errors": s.errors,
        "interventions": {
            "blocked": s.blocked,
            "steered": s.steered,
            "throttled": s.throttled,
            "halted": s.halted,
            "approval_requested": s.approvals_requested,
        },
        "cost_usd": dec(&s.cost_usd),
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "pending_approvals": s.pending_approvals,
        "active_halts": s.active_halts,
        "spend_today_usd": dec(&s.spend_today_usd),
        "spend_month_usd": dec(&s.spend_month_usd),
        "hourly": hourly.iter().map(|h| json!({
            "hour": h.hour,
            "intervention_state": (!h.intervention_state.is_empty()).then_some(&h.intervention_state),
            "spans": h.spans,
        })).collect::<Vec<_>>(),
        "daily_spend": daily.iter().map(|d| json!({"day": d.day, "cost_usd": dec(&d.cost_usd)})).collect::<Vec<_>>(),
        "top_agents": agents.iter().map(|a| json!({
            "agent_name": a.agent_name, "spans": a.spans, "cost_usd": dec(&a.cost_usd),
        })).collect::<Vec<_>>(),
    })))
}
