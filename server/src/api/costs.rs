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

#[utoipa::path(tag = "Costs", responses((status = 200, description = "OK")))]
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

/// `GET /v1/costs/forecast`: the last day's burn rate projected forward,
/// and when each cost budget runs out at that rate.
#[utoipa::path(tag = "Costs", responses((status = 200, description = "OK")))]
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
        let exhaustion = hours.map(|h| (now + chrono::Duration::seconds((h * 3600.0) as i64)).to_rfc3339());
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
