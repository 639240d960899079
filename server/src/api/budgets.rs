//! `/v1/budgets`. The CLI's field names
//! (`budget_type`, `limit_usd`, `limit_count`, `window_type`) are accepted
//! beside the original's, and both are returned.

use actix_web::{delete, get, patch, post};
use std::str::FromStr as _;

use actix_web::{web, HttpResponse};
use bigdecimal::{BigDecimal, ToPrimitive as _, Zero as _};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::{json, Map, Value};
use strathon_actors::budget_monitor::{cost_window, duration_of};
use strathon_schema::budgets::{self, Budget, BudgetChanges, NewBudget};
use strathon_schema::halts;
use uuid::Uuid;

use super::params::object;
use super::params::{self, decimal as dec, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

use super::views::BudgetView;

/// A decimal: a string (`"12.50"`) or a JSON number.
pub struct DecimalInput;

impl utoipa::PartialSchema for DecimalInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("A decimal, as a string (`\"12.50\"`) or a number."))
            .into()
    }
}

impl utoipa::ToSchema for DecimalInput {}

/// `POST /v1/budgets`: a cost budget (`max_spend_usd` and
/// `budget_duration`) or an iteration budget (`max_repeated_calls` and
/// `loop_window_seconds`). The CLI's names (`budget_type`, `limit_usd`,
/// `limit_count`, `agent_name`) are accepted beside the original's.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: `parse` reads the body field by field
pub struct BudgetCreate {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(max_length = 1024)]
    description: Option<String>,
    /// `project`, `agent` or `model`; required unless `budget_type` is
    /// sent (then `project`).
    scope: Option<String>,
    /// The agent's or model's name; required for `agent` and `model`,
    /// refused for `project`.
    scope_value: Option<String>,
    /// The CLI's name for `scope_value`.
    agent_name: Option<String>,
    /// The CLI's `cost` or `iteration`; when present, `scope` defaults to
    /// `project`, a cost budget's duration to `1d` and an iteration
    /// budget's window to 3600 seconds.
    budget_type: Option<String>,
    /// Cost budget: the limit in USD, positive, at most 6 decimals, below 1e10.
    #[schema(inline)]
    max_spend_usd: Option<DecimalInput>,
    /// The CLI's name for `max_spend_usd`.
    #[schema(inline)]
    limit_usd: Option<DecimalInput>,
    /// Cost budget: `1h`, `1d`, `7d` or `30d`.
    budget_duration: Option<String>,
    /// `fixed` (default) or `rolling`.
    window_type: Option<String>,
    /// Stored, not used: at most 3 decimals, below 10.
    #[schema(inline)]
    soft_limit_ratio: Option<DecimalInput>,
    /// Iteration budget: the most tool calls in the window, positive.
    max_repeated_calls: Option<i32>,
    /// The CLI's name for `max_repeated_calls`.
    limit_count: Option<i32>,
    /// Iteration budget: the window in seconds, positive, at most 2
    /// decimals, below 1e8.
    #[schema(inline)]
    loop_window_seconds: Option<DecimalInput>,
}

/// `PATCH /v1/budgets/{budget_id}`: the fields to change; absent or null
/// ones stay as they are. Scope, duration and kind cannot change.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct BudgetPatch {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(max_length = 1024)]
    description: Option<String>,
    /// Cost budgets only; positive.
    #[schema(inline)]
    max_spend_usd: Option<DecimalInput>,
    #[schema(inline)]
    limit_usd: Option<DecimalInput>,
    /// Iteration budgets only; positive.
    max_repeated_calls: Option<i32>,
    limit_count: Option<i32>,
    /// Iteration budgets only; positive.
    #[schema(inline)]
    loop_window_seconds: Option<DecimalInput>,
    #[schema(inline)]
    soft_limit_ratio: Option<DecimalInput>,
    /// False stops evaluating it (and lifts its halt).
    is_active: Option<bool>,
}

/// A budget at the top level (what the CLI prints) and again under `budget`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `wrapped`
pub struct BudgetAnswer {
    #[schema(inline)]
    #[serde(flatten)]
    fields: BudgetView,
    budget: BudgetView,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BudgetList {
    budgets: Vec<BudgetView>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BudgetDeleted {
    /// Always true.
    deleted: bool,
}

/// A cost budget's live spend.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct CostSpend {
    budget_id: Uuid,
    /// `cost`.
    kind: String,
    /// Decimal string, USD, in the current window.
    spent_usd: String,
    max_spend_usd: String,
    window_start: String,
    /// When the window rolls over; null for rolling windows.
    window_reset_at: Option<String>,
}

/// An iteration budget's live count.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct IterationSpend {
    budget_id: Uuid,
    /// `iteration`.
    kind: String,
    /// Tool calls in the window.
    count: i64,
    max_repeated_calls: Option<i32>,
    /// Decimal string.
    window_seconds: Option<String>,
}

/// Spend or count, by the budget's kind.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub enum BudgetSpend {
    Cost(CostSpend),
    Iteration(IterationSpend),
}

fn wrapped(b: &Budget, auto_halted: bool) -> Value {
    let mut body = super::views::budget(b, auto_halted);
    body["budget"] = super::views::budget(b, auto_halted);
    body
}

fn decimal(body: &Map<String, Value>, keys: &[&str]) -> Result<Option<BigDecimal>, ApiError> {
    let Some((key, v)) = keys
        .iter()
        .find_map(|k| body.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    else {
        return Ok(None);
    };
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    BigDecimal::from_str(&text)
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("{key} must be a decimal string (got '{text}')")))
}

/// Refuses values the numeric column cannot hold exactly as given, so a
/// tiny positive limit never rounds to zero and a huge one never
/// overflows into a 500.
fn fits(key: &str, value: &BigDecimal, scale: i64, whole_digits: u64) -> Result<(), ApiError> {
    let (_, exponent) = value.as_bigint_and_exponent();
    if exponent > scale {
        return Err(ApiError::BadRequest(format!(
            "{key} allows at most {scale} decimal places"
        )));
    }
    if value.abs() >= 10u64.pow(whole_digits as u32) {
        return Err(ApiError::BadRequest(format!(
            "{key} must be less than 1e{whole_digits}"
        )));
    }
    Ok(())
}

fn checked(
    body: &Map<String, Value>,
    keys: &[&str],
    scale: i64,
    whole_digits: u64,
) -> Result<Option<BigDecimal>, ApiError> {
    let value = decimal(body, keys)?;
    if let Some(v) = &value {
        fits(keys[0], &v.normalized(), scale, whole_digits)?;
    }
    Ok(value)
}

fn too_long(key: &str, max: usize) -> ApiError {
    ApiError::Unprocessable(vec![
        json!({"type": "string_too_long", "loc": ["body", key], "msg": format!("{key} must be at most {max} characters")}),
    ])
}

fn int32(body: &Map<String, Value>, keys: &[&str]) -> Result<Option<i32>, ApiError> {
    let Some((key, v)) = keys
        .iter()
        .find_map(|k| body.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    else {
        return Ok(None);
    };
    v.as_i64().and_then(|n| i32::try_from(n).ok()).map(Some).ok_or_else(|| {
        ApiError::Unprocessable(vec![json!({"type": "int_parsing", "loc": ["body", key], "msg": format!("{key} must be a 32-bit integer"), "input": v})])
    })
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn parse(body: &Map<String, Value>, project_id: Uuid) -> Result<NewBudget, ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let cli = body.contains_key("budget_type");
    let name = text(body, "name").ok_or_else(|| {
        ApiError::Unprocessable(vec![
            json!({"type": "missing", "loc": ["body", "name"], "msg": "Field required"}),
        ])
    })?;
    if name.trim().is_empty() {
        return Err(bad("name is required"));
    }
    if name.chars().count() > 200 {
        return Err(too_long("name", 200));
    }
    if text(body, "description").is_some_and(|d| d.chars().count() > 1024) {
        return Err(too_long("description", 1024));
    }
    let scope = match text(body, "scope") {
        Some(s) => s,
        None if cli => "project".into(),
        None => {
            return Err(ApiError::Unprocessable(vec![
                json!({"type": "missing", "loc": ["body", "scope"], "msg": "Field required"}),
            ]))
        }
    };
    if !matches!(scope.as_str(), "agent" | "model" | "project") {
        return Err(bad(&format!(
            "invalid scope '{scope}'. Valid: ['agent', 'model', 'project']"
        )));
    }
    let scope_value = text(body, "scope_value")
        .or_else(|| text(body, "agent_name"))
        .filter(|v| !v.trim().is_empty());
    match (scope.as_str(), &scope_value) {
        ("project", Some(_)) => return Err(bad("scope=project must not have a scope_value (applies to all)")),
        ("agent" | "model", None) => return Err(bad(&format!("scope={scope} requires a non-empty scope_value"))),
        _ => {}
    }
    let max_spend = checked(body, &["max_spend_usd", "limit_usd"], 6, 10)?;
    let max_calls = int32(body, &["max_repeated_calls", "limit_count"])?;
    let window_type = text(body, "window_type").unwrap_or_else(|| "fixed".into());
    if !matches!(window_type.as_str(), "fixed" | "rolling") {
        return Err(bad(&format!(
            "invalid window_type '{window_type}'. Valid: ['fixed', 'rolling']"
        )));
    }
    let mut duration = text(body, "budget_duration");
    let mut loop_window = checked(body, &["loop_window_seconds"], 2, 8)?;
    match (&max_spend, max_calls) {
        (None, None) => {
            return Err(bad(
                "budget must have either max_spend_usd (cost budget) or max_repeated_calls (iteration budget)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(bad(
                "budget cannot be both cost and iteration; create two separate budgets",
            ))
        }
        (Some(max), None) => {
            if *max <= BigDecimal::zero() {
                return Err(bad("max_spend_usd must be positive"));
            }
            // The CLI has no duration option; a day is its natural window.
            if duration.is_none() && cli {
                duration = Some("1d".into());
            }
            match duration.as_deref() {
                None => return Err(bad("cost budgets require budget_duration")),
                Some(d) if duration_of(d).is_none() => {
                    return Err(bad(&format!(
                        "invalid budget_duration '{d}'. Valid: ['1d', '1h', '30d', '7d']"
                    )));
                }
                _ => {}
            }
        }
        (None, Some(max)) => {
            if max <= 0 {
                return Err(bad("max_repeated_calls must be positive"));
            }
            if loop_window.is_none() && cli {
                loop_window = Some(BigDecimal::from(3600));
            }
            if loop_window.as_ref().is_none_or(|w| *w <= BigDecimal::zero()) {
                return Err(bad("iteration budgets require positive loop_window_seconds"));
            }
        }
    }
    let now = chrono::Utc::now();
    let reset = duration
        .as_deref()
        .and_then(duration_of)
        .filter(|_| window_type == "fixed")
        .map(|d| now + d);
    Ok(NewBudget {
        project_id,
        name,
        description: text(body, "description"),
        scope,
        scope_value,
        max_spend_usd: max_spend,
        soft_limit_ratio: checked(body, &["soft_limit_ratio"], 3, 1)?,
        max_repeated_calls: max_calls,
        loop_window_seconds: loop_window,
        budget_duration: duration,
        window_type,
        budget_reset_at: reset,
    })
}

async fn halted_budgets(conn: &mut AsyncPgConnection, project_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    Ok(halts::list(conn, project_id, false, 10_000)
        .await?
        .into_iter()
        .filter_map(|h| h.budget_id)
        .collect())
}

/// Create a budget
///
/// A cost budget halts the project (or agent, or model) when spend in its
/// window reaches the limit; an iteration budget when tool calls in its
/// window reach the limit. The budget monitor checks every few seconds.
#[utoipa::path(
    tag = "Budgets",
    operation_id = "create_budget",
    security(("bearer" = ["budgets:write"])),
    request_body = BudgetCreate,
    responses(
        (status = 201, description = "The budget.", body = BudgetAnswer,
            links(("GetBudget" = (operation_id = "get_budget", parameters(("budget_id" = "$response.body#/id")))))),
        (status = 400, description = "A rule of the body is broken, e.g. `budget must have either max_spend_usd (cost budget) or max_repeated_calls (iteration budget)`, a decimal that does not parse or fit, an unknown scope or duration."),
    ),
)]
#[post("/v1/budgets")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_WRITE)?;
    let new = parse(&object(body)?, auth.project_id)?;
    let mut conn = state.pool.get().await?;
    let budget = conn
        .transaction(async |conn| {
            let b = budgets::insert(conn, &new).await?;
            audit::record(
                conn,
                &auth,
                Event::new("budget.create", "budget", b.id).after(super::views::budget(&b, false)),
            )
            .await?;
            Ok::<_, ApiError>(b)
        })
        .await?;
    Ok(HttpResponse::Created().json(wrapped(&budget, false)))
}

/// List budgets
///
/// Active budgets, newest first; inactive ones too with `include_inactive`.
#[utoipa::path(
    tag = "Budgets",
    operation_id = "list_budgets",
    security(("bearer" = ["budgets:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100, capped at 500)."),
        ("include_inactive" = Option<bool>, Query, description = "Also list inactive budgets."),
    ),
    responses((status = 200, description = "The budgets.", body = BudgetList)),
)]
#[get("/v1/budgets")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_READ)?;
    let limit = params::limit(&query, 100, 1000)?.min(500);
    let include_inactive = params::flag(&query, "include_inactive");
    let mut conn = state.pool.get().await?;
    let found = budgets::list(&mut conn, auth.project_id, include_inactive, limit).await?;
    let halted = halted_budgets(&mut conn, auth.project_id).await?;
    let data: Vec<Value> = found
        .iter()
        .map(|b| super::views::budget(b, halted.contains(&b.id)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "budgets": data })))
}

fn not_found() -> ApiError {
    ApiError::NotFound("budget not found".into())
}

/// Read a budget
#[utoipa::path(
    tag = "Budgets",
    operation_id = "get_budget",
    security(("bearer" = ["budgets:read"])),
    params(("budget_id" = Uuid, Path, description = "The budget's id.")),
    responses((status = 200, description = "The budget.", body = BudgetAnswer)),
)]
#[get("/v1/budgets/{budget_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_READ)?;
    let id = super::params::path_uuid_422(&path, "budget_id")?;
    let mut conn = state.pool.get().await?;
    let b = budgets::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(not_found)?;
    let halted = halted_budgets(&mut conn, auth.project_id).await?.contains(&b.id);
    Ok(HttpResponse::Ok().json(wrapped(&b, halted)))
}

/// A budget's live spend
///
/// Spend (cost budgets) or tool calls (iteration budgets) in the current
/// window, computed now rather than read from the monitor's cache.
#[utoipa::path(
    tag = "Budgets",
    operation_id = "get_budget_spend",
    security(("bearer" = ["budgets:read"])),
    params(("budget_id" = Uuid, Path, description = "The budget's id.")),
    responses((status = 200, description = "The spend or count.", body = BudgetSpend)),
)]
#[get("/v1/budgets/{budget_id}/spend")]
pub async fn spend(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_READ)?;
    let id = super::params::path_uuid_422(&path, "budget_id")?;
    let mut conn = state.pool.get().await?;
    let b = budgets::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(not_found)?;
    let now = chrono::Utc::now();
    let ns = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().unwrap_or(0);
    let body = match &b.max_spend_usd {
        Some(max) => {
            let (start, reset) = cost_window(&b, now);
            let spent = budgets::spend_since(&mut conn, &b, ns(start)).await?;
            json!({"budget_id": b.id, "kind": "cost", "spent_usd": dec(&spent), "max_spend_usd": dec(max),
                   "window_start": super::params::utc_offset(&start), "window_reset_at": reset.as_ref().map(super::params::utc_offset)})
        }
        None => {
            let window = b
                .loop_window_seconds
                .as_ref()
                .and_then(BigDecimal::to_f64)
                .unwrap_or(0.0);
            let since = now - chrono::Duration::milliseconds((window * 1000.0) as i64);
            let count = budgets::tool_calls_since(&mut conn, &b, ns(since)).await?;
            json!({"budget_id": b.id, "kind": "iteration", "count": count, "max_repeated_calls": b.max_repeated_calls,
                   "window_seconds": b.loop_window_seconds.as_ref().map(dec)})
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

/// Change a budget
///
/// Only the fields sent (and not null) change; a body with none answers
/// the budget unchanged. Switching it off lifts its halt.
#[utoipa::path(
    tag = "Budgets",
    operation_id = "update_budget",
    security(("bearer" = ["budgets:write"])),
    params(("budget_id" = Uuid, Path, description = "The budget's id.")),
    request_body = BudgetPatch,
    responses(
        (status = 200, description = "The budget as it is now.", body = BudgetAnswer),
        (status = 400, description = "A rule is broken, e.g. `cannot set max_spend_usd on an iteration budget`, a limit that is not positive, a blank name, a decimal that does not parse or fit."),
    ),
)]
#[patch("/v1/budgets/{budget_id}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_WRITE)?;
    let id = super::params::path_uuid_422(&path, "budget_id")?;
    let body = object(body)?;
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let mut conn = state.pool.get().await?;
    let updated = conn
        .transaction(async |conn| {
            let current = budgets::find(conn, auth.project_id, id).await?.ok_or_else(not_found)?;
            let is_cost = current.max_spend_usd.is_some();
            let mut c = BudgetChanges::default();
            if let Some(name) = text(&body, "name") {
                if name.trim().is_empty() {
                    return Err(bad("name must not be empty"));
                }
                c.name = Some(name);
            }
            if body.get("description").is_some_and(|v| !v.is_null()) {
                c.description = Some(text(&body, "description"));
            }
            if text(&body, "description").is_some_and(|d| d.chars().count() > 1024) {
                return Err(too_long("description", 1024));
            }
            if let Some(name) = &c.name {
                if name.chars().count() > 200 {
                    return Err(too_long("name", 200));
                }
            }
            if let Some(max) = checked(&body, &["max_spend_usd", "limit_usd"], 6, 10)? {
                if !is_cost {
                    return Err(bad("cannot set max_spend_usd on an iteration budget"));
                }
                if max <= BigDecimal::zero() {
                    return Err(bad("max_spend_usd must be positive"));
                }
                c.max_spend_usd = Some(Some(max));
            }
            if let Some(max) = int32(&body, &["max_repeated_calls", "limit_count"])? {
                if is_cost {
                    return Err(bad("cannot set max_repeated_calls on a cost budget"));
                }
                if max <= 0 {
                    return Err(bad("max_repeated_calls must be positive"));
                }
                c.max_repeated_calls = Some(Some(max));
            }
            if let Some(w) = checked(&body, &["loop_window_seconds"], 2, 8)? {
                if is_cost {
                    return Err(bad("cannot set loop_window_seconds on a cost budget"));
                }
                if w <= BigDecimal::zero() {
                    return Err(bad("loop_window_seconds must be positive"));
                }
                c.loop_window_seconds = Some(Some(w));
            }
            if let Some(r) = checked(&body, &["soft_limit_ratio"], 3, 1)? {
                c.soft_limit_ratio = Some(Some(r));
            }
            c.is_active = body.get("is_active").and_then(Value::as_bool);
            let unchanged = c.name.is_none()
                && c.description.is_none()
                && c.max_spend_usd.is_none()
                && c.max_repeated_calls.is_none()
                && c.loop_window_seconds.is_none()
                && c.soft_limit_ratio.is_none()
                && c.is_active.is_none();
            if unchanged {
                return Ok(current);
            }
            let b = budgets::update(conn, auth.project_id, id, &c)
                .await?
                .ok_or_else(not_found)?;
            if c.is_active == Some(false) {
                // A switched-off budget is no longer evaluated; its halt must not outlive it.
                budgets::clear_monitor_halt(conn, id).await?;
            }
            let event = Event::new("budget.update", "budget", id)
                .before(super::views::budget(&current, false))
                .after(super::views::budget(&b, false));
            audit::record(conn, &auth, event).await?;
            Ok(b)
        })
        .await?;
    let halted = halted_budgets(&mut conn, auth.project_id).await?.contains(&updated.id);
    Ok(HttpResponse::Ok().json(wrapped(&updated, halted)))
}

/// Delete a budget
///
/// Its halt, if any, is lifted and kept as history.
#[utoipa::path(
    tag = "Budgets",
    operation_id = "delete_budget",
    security(("bearer" = ["budgets:write"])),
    params(("budget_id" = Uuid, Path, description = "The budget's id.")),
    responses((status = 200, description = "Deleted.", body = BudgetDeleted)),
)]
#[delete("/v1/budgets/{budget_id}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::BUDGETS_WRITE)?;
    let id = super::params::path_uuid_422(&path, "budget_id")?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        budgets::find(conn, auth.project_id, id).await?.ok_or_else(not_found)?;
        // The halt stays as history (its budget_id goes NULL) but is lifted.
        budgets::clear_monitor_halt(conn, id).await?;
        let gone = budgets::delete(conn, auth.project_id, id)
            .await?
            .ok_or_else(not_found)?;
        audit::record(
            conn,
            &auth,
            Event::new("budget.delete", "budget", id).before(super::views::budget(&gone, false)),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn cli_shapes_map_onto_budgets() {
        let p = Uuid::nil();
        let cost = parse(
            &body(json!({"name": "daily", "budget_type": "cost", "limit_usd": 5.5, "window_type": "fixed"})),
            p,
        )
        .unwrap();
        assert_eq!(
            (cost.scope.as_str(), cost.budget_duration.as_deref()),
            ("project", Some("1d"))
        );
        assert_eq!(cost.max_spend_usd, Some(BigDecimal::from_str("5.5").unwrap()));
        let iter = parse(
            &body(json!({"name": "loops", "budget_type": "iteration", "limit_count": 20})),
            p,
        )
        .unwrap();
        assert_eq!(iter.max_repeated_calls, Some(20));
        assert_eq!(iter.loop_window_seconds, Some(BigDecimal::from(3600)));
    }

    #[test]
    fn original_rules_and_messages() {
        let p = Uuid::nil();
        let err = |v: Value| parse(&body(v), p).unwrap_err().to_string();
        assert_eq!(
            err(json!({"name": "b", "scope": "project", "max_spend_usd": "1"})),
            "cost budgets require budget_duration"
        );
        assert_eq!(
            err(json!({"name": "b", "scope": "project"})),
            "budget must have either max_spend_usd (cost budget) or max_repeated_calls (iteration budget)"
        );
        assert_eq!(
            err(json!({"name": "b", "scope": "agent", "max_spend_usd": "1", "budget_duration": "1d"})),
            "scope=agent requires a non-empty scope_value"
        );
        assert_eq!(
            err(json!({"name": "b", "scope": "project", "max_spend_usd": "x", "budget_duration": "1d"})),
            "max_spend_usd must be a decimal string (got 'x')"
        );
        assert_eq!(
            err(json!({"name": "b", "scope": "project", "max_spend_usd": "-1", "budget_duration": "1d"})),
            "max_spend_usd must be positive"
        );
        assert_eq!(
            err(json!({"name": "b", "scope": "project", "max_repeated_calls": 3})),
            "iteration budgets require positive loop_window_seconds"
        );
        assert!(matches!(
            parse(&body(json!({"name": "b"})), p),
            Err(ApiError::Unprocessable(_))
        ));
    }
}
