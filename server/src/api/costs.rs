//! `GET /v1/costs` (spend per day or week, by agent and model) and
//! `GET /v1/costs/forecast` (burn rate and when budgets run out).

use actix_web::get;
use actix_web::{web, HttpResponse};
use bigdecimal::{BigDecimal, ToPrimitive as _, Zero as _};
use serde_json::{json, Value};
use strathon_schema::analytics::{self, CostKey, Period};
use strathon_schema::budgets;

use super::params::{self, decimal as dec, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// Spend of one period and group.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: rows are built as JSON
pub struct CostRow {
    /// The start of the UTC day or ISO week (a Monday), `YYYY-MM-DD HH:MM:SS`.
    period_start: String,
    span_count: i64,
    /// Decimal string, USD.
    total_cost_usd: String,
    total_input_tokens: i64,
    total_output_tokens: i64,
    /// With `group_by=agent` or `agent_model`.
    agent_name: Option<String>,
    /// With `group_by=model` or `agent_model`.
    model: Option<String>,
    /// With `group_by=agent_model`: `<agent>/<model>` (`-` for none).
    agent_model: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct CostReport {
    group_by: String,
    period: String,
    /// Newest period first, then the costliest.
    costs: Vec<CostRow>,
}

/// Spend over time
///
/// Spend per UTC day or ISO week, by agent, model, or both.
#[utoipa::path(
    tag = "Costs",
    operation_id = "list_costs",
    security(("bearer" = ["traces:read"])),
    params(
        ("group_by" = Option<String>, Query, description = "`model` (default), `agent` or `agent_model`."),
        ("period" = Option<String>, Query, description = "`day` (default) or `week`."),
        ("start_after" = Option<String>, Query, description = "Only spans that started after this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("start_before" = Option<String>, Query, description = "Only spans that started before this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many rows (default 100)."),
    ),
    responses(
        (status = 200, description = "The spend.", body = CostReport),
        (status = 400, description = "An unknown `group_by` or `period`, or a time bound that is neither nanoseconds nor ISO 8601."),
    ),
)]
#[get("/v1/costs")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let group_by = query.get("group_by").map(String::as_str).unwrap_or("model");
    let key = match group_by {
        "agent" => CostKey::Agent,
        "model" => CostKey::Model,
        "agent_model" => CostKey::AgentModel,
        _ => {
            return Err(ApiError::BadRequest(
                "group_by must be one of ['agent', 'agent_model', 'model']".into(),
            ))
        }
    };
    let period_name = query.get("period").map(String::as_str).unwrap_or("day");
    let period = match period_name {
        "day" => Period::Day,
        "week" => Period::Week,
        _ => return Err(ApiError::BadRequest("period must be one of ['day', 'week']".into())),
    };
    let window = analytics::Window {
        after: params::time_ns(&query, "start_after")?,
        before: params::time_ns(&query, "start_before")?,
    };
    let limit = params::limit(&query, 100, 1000)?;
    let mut conn = state.pool.get().await?;
    let rows = analytics::costs(&mut conn, auth.project_id, key, period, window, limit).await?;
    let costs: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut row = json!({
                "period_start": r.period_start, "span_count": r.span_count,
                "total_cost_usd": dec(&r.total_cost_usd),
                "total_input_tokens": r.total_input_tokens, "total_output_tokens": r.total_output_tokens,
            });
            match key {
                CostKey::Agent => row["agent_name"] = json!(r.agent_name),
                CostKey::Model => row["model"] = json!(r.model),
                CostKey::AgentModel => {
                    row["agent_name"] = json!(r.agent_name);
                    row["model"] = json!(r.model);
                    row["agent_model"] = json!(format!(
                        "{}/{}",
                        r.agent_name.as_deref().unwrap_or("-"),
                        r.model.as_deref().unwrap_or("-")
                    ));
                }
            }
            row
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "group_by": group_by, "period": period_name, "costs": costs })))
}

/// When a cost budget runs out at the current burn rate.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: forecasts are built as JSON
pub struct BudgetForecast {
    budget_id: uuid::Uuid,
    budget_name: String,
    /// Decimal string, USD.
    max_spend_usd: String,
    /// USD, four decimals.
    current_spend_usd: String,
    /// USD, four decimals.
    remaining_usd: String,
    /// Null when nothing is being spent (or the date is beyond reckoning).
    hours_until_exhaustion: Option<f64>,
    /// RFC 3339; null when nothing is being spent.
    projected_exhaustion_date: Option<String>,
    /// Whether it runs out within `alert_threshold_hours`.
    budget_alert: bool,
}

/// A budget projected to run out within the threshold.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: alerts are built as JSON
pub struct BudgetAlert {
    budget_id: uuid::Uuid,
    budget_name: String,
    /// Always `warning`.
    severity: String,
    message: String,
    projected_exhaustion_date: Option<String>,
}

/// The last day's burn rate projected forward.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct CostForecast {
    burn_rate_usd_per_hour: f64,
    total_cost_last_24h: f64,
    projected_daily_cost: f64,
    projected_weekly_cost: f64,
    projected_monthly_cost: f64,
    /// One per active cost budget.
    budget_forecasts: Vec<BudgetForecast>,
    budget_alerts: Vec<BudgetAlert>,
    alert_threshold_hours: i64,
}

/// Forecast spend
///
/// The last 24 hours' burn rate projected over a day, a week and a month,
/// and when each active cost budget runs out at that rate.
#[utoipa::path(
    tag = "Costs",
    operation_id = "get_cost_forecast",
    security(("bearer" = ["traces:read"])),
    params(
        ("alert_threshold_hours" = Option<i64>, Query, description = "Alert on budgets that run out within this many hours (default 24; a value that is not an integer means 24)."),
    ),
    responses((status = 200, description = "The forecast.", body = CostForecast)),
)]
#[get("/v1/costs/forecast")]
pub async fn forecast(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let threshold: i64 = query
        .get("alert_threshold_hours")
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let now = chrono::Utc::now();
    let day_ago = (now - chrono::Duration::hours(24)).timestamp_nanos_opt().unwrap_or(0);
    let mut conn = state.pool.get().await?;
    let last_day = strathon_schema::analytics::cost_since(&mut conn, auth.project_id, day_ago)
        .await?
        .to_f64()
        .unwrap_or(0.0);
    let burn = last_day / 24.0;
    let mut forecasts = Vec::new();
    let mut alerts = Vec::new();
    for b in budgets::list(&mut conn, auth.project_id, false, 500)
        .await?
        .iter()
        .filter(|b| b.max_spend_usd.is_some())
    {
        let max = b.max_spend_usd.clone().unwrap_or_default();
        let remaining = (&max - &b.spent_usd).max(BigDecimal::zero());
        let hours = (burn > 0.0).then(|| remaining.to_f64().unwrap_or(0.0) / burn);
        // A tiny burn rate puts the date past what a timestamp holds: none
        // (rather than a panic).
        let exhaustion = hours
            .and_then(|h| chrono::Duration::try_seconds((h * 3600.0) as i64))
            .and_then(|d| now.checked_add_signed(d))
            .map(|t| t.to_rfc3339());
        let alert = hours.is_some_and(|h| h <= threshold as f64);
        forecasts.push(json!({
            "budget_id": b.id, "budget_name": b.name, "max_spend_usd": dec(&max),
            "current_spend_usd": format!("{:.4}", b.spent_usd.to_f64().unwrap_or(0.0)),
            "remaining_usd": format!("{:.4}", remaining.to_f64().unwrap_or(0.0)),
            "hours_until_exhaustion": hours.map(|h| (h * 100.0).round() / 100.0),
            "projected_exhaustion_date": exhaustion, "budget_alert": alert,
        }));
        if alert {
            alerts.push(json!({
                "budget_id": b.id, "budget_name": b.name, "severity": "warning",
                "message": format!("Budget '{}' is projected to run out within {threshold} hours", b.name),
                "projected_exhaustion_date": exhaustion,
            }));
        }
    }
    let round = |x: f64| (x * 1e6).round() / 1e6;
    Ok(HttpResponse::Ok().json(json!({
        "burn_rate_usd_per_hour": round(burn),
        "total_cost_last_24h": round(last_day),
        "projected_daily_cost": round(burn * 24.0),
        "projected_weekly_cost": round(burn * 168.0),
        "projected_monthly_cost": round(burn * 720.0),
        "budget_forecasts": forecasts,
        "budget_alerts": alerts,
        "alert_threshold_hours": threshold,
    })))
}
