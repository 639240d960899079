//! `/v1/policies`: CRUD, the SDK's policy feed, versions, shadow stats,
//! batch changes, export and import.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::policies::{self, Version};
use strathon_schema::settings;
use uuid::Uuid;

use super::params::object;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::policy::validate;
use crate::state::AppState;

fn render_version(v: &Version) -> Value {
    json!({
        "id": v.id,
        "policy_id": v.policy_id,
        "project_id": v.project_id,
        "version": v.version,
        "name": v.name,
        "description": v.description,
        "match_expression": v.match_expression,
        "action": v.action,
        "action_config": v.action_config,
        "applies_to": v.applies_to,
        "enabled": v.enabled,
        "priority": v.priority,
        "change_type": v.change_type,
        "changed_at": v.changed_at.to_rfc3339(),
    })
}

fn not_found() -> ApiError {
    ApiError::NotFound("policy not found".into())
}

/// The SDK's feed: every policy in evaluation order plus the project's
/// default action (`block` = allow-list mode).
#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let default_action = settings::get(&mut conn, auth.project_id)
        .await?
        .intervention_default_action;
    let rendered: Vec<Value> = all.iter().map(super::views::policy).collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": rendered, "intervention_default_action": default_action })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let fields = validate::create(&object(body)?).map_err(ApiError::BadRequest)?;
    let mut conn = state.pool.get().await?;
    let policy = conn
        .transaction(async |conn| {
            let p = policies::insert(conn, auth.project_id, &fields).await?;
            audit::record(
                conn,
                &auth,
                Event::new("policy.create", "policy", p.id).after(super::views::policy(&p)),
            )
            .await?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Created().json(super::views::policy(&policy)))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/{policy_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = super::params::path_uuid(&path, "policy_id")?;
    let mut conn = state.pool.get().await?;
    let p = policies::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(super::views::policy(&p)))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[patch("/v1/policies/{policy_id}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let id = super::params::path_uuid(&path, "policy_id")?;
    let body = object(body)?;
    let mut conn = state.pool.get().await?;
    let updated = conn
        .transaction(async |conn| {
            let current = policies::find(conn, auth.project_id, id).await?.ok_or_else(not_found)?;
            let fields =
                validate::patch(&body, &current.action, &current.action_config).map_err(ApiError::BadRequest)?;
            if validate::is_empty(&fields) {
                return Ok(current);
            }
            let p = policies::update(conn, auth.project_id, id, &fields)
                .await?
                .ok_or_else(not_found)?;
            let event = Event::new("policy.update", "policy", id)
                .before(super::views::policy(&current))
                .after(super::views::policy(&p));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(super::views::policy(&updated)))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[delete("/v1/policies/{policy_id}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let id = super::params::path_uuid(&path, "policy_id")?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let gone = policies::delete(conn, auth.project_id, id)
            .await?
            .ok_or_else(not_found)?;
        audit::record(
            conn,
            &auth,
            Event::new("policy.delete", "policy", id).before(super::views::policy(&gone)),
        )
        .await
    })
    .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/{policy_id}/versions")]
pub async fn versions(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = super::params::path_uuid(&path, "policy_id")?;
    let mut conn = state.pool.get().await?;
    let all = policies::versions(&mut conn, auth.project_id, id).await?;
    // No history and no such policy here: 404 as on every other route (the
    // original answered an empty list for any id, another project's too).
    if all.is_empty() && policies::find(&mut conn, auth.project_id, id).await?.is_none() {
        return Err(not_found());
    }
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(render_version).collect::<Vec<_>>() })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/{policy_id}/versions/{version}")]
pub async fn version(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let (raw_id, raw_version) = path.into_inner();
    let id = super::params::path_uuid(&raw_id, "policy_id")?;
    let number: i32 = raw_version.parse().map_err(|_| {
        ApiError::Unprocessable(vec![json!({"type": "int_parsing", "loc": ["path", "version"], "msg": "version must be an integer", "input": raw_version})])
    })?;
    let mut conn = state.pool.get().await?;
    let v = policies::version(&mut conn, auth.project_id, id, number)
        .await?
        .ok_or_else(|| ApiError::NotFound("version not found".into()))?;
    Ok(HttpResponse::Ok().json(render_version(&v)))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/{policy_id}/shadow-stats")]
pub async fn shadow_stats(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::BadRequest("invalid policy id".into()))?;
    let mut conn = state.pool.get().await?;
    let p = policies::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(json!({
        "policy_id": p.id, "name": p.name, "shadow": p.shadow, "match_count": p.match_count,
        "last_matched_at": p.last_matched_at.as_ref().map(super::params::utc_z), "enabled": p.enabled, "action": p.action,
    })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies/batch")]
pub async fn batch(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let body = object(body)?;
    let action = body
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let ids = body
        .get("policy_ids")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "too_long", "loc": ["body", "policy_ids"], "msg": "policy_ids must hold 1 to 100 ids"}),
        ]));
    }
    if !matches!(action.as_str(), "enable" | "disable" | "delete") {
        return Err(ApiError::BadRequest(format!(
            "action must be enable, disable, or delete; got '{action}'"
        )));
    }
    let ids: Vec<Uuid> = ids
        .iter()
        .map(|v| {
            let raw = v.as_str().unwrap_or_default();
            Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest(format!("invalid policy_id: '{raw}'")))
        })
        .collect::<Result<_, _>>()?;
    let mut conn = state.pool.get().await?;
    let affected = conn
        .transaction(async |conn| {
            let mut affected = 0;
            for id in &ids {
                let done = match action.as_str() {
                    "delete" => policies::delete(conn, auth.project_id, *id).await?.is_some(),
                    other => {
                        let fields = policies::PolicyFields {
                            enabled: Some(other == "enable"),
                            ..Default::default()
                        };
                        policies::update(conn, auth.project_id, *id, &fields).await?.is_some()
                    }
                };
                affected += usize::from(done);
            }
            let action_name = match action.as_str() {
                "enable" => "policy.batch_enable",
                "disable" => "policy.batch_disable",
                _ => "policy.batch_delete",
            };
            let event =
                Event::new(action_name, "policy", "batch").after(json!({"policy_ids": ids, "affected": affected}));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(affected)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(json!({ "action": action, "affected": affected, "total": ids.len() })))
}

const PORTABLE: [&str; 9] = [
    "name",
    "description",
    "match_expression",
    "action",
    "action_config",
    "applies_to",
    "enabled",
    "priority",
    "shadow",
];

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/export")]
pub async fn export(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let items: Vec<Value> = all
        .iter()
        .map(|p| {
            let full = super::views::policy(p);
            Value::Object(PORTABLE.iter().map(|k| (k.to_string(), full[*k].clone())).collect())
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": items, "count": items.len() })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies/import")]
pub async fn import(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let body = object(body)?;
    let Some(items) = body.get("policies").and_then(Value::as_array).cloned() else {
        return Err(ApiError::BadRequest(
            "request body must contain a 'policies' array".into(),
        ));
    };
    let mut conn = state.pool.get().await?;
    let (created, skipped, errors) = conn
        .transaction(async |conn| {
            let existing: Vec<(String, String)> = policies::list(conn, auth.project_id)
                .await?
                .into_iter()
                .map(|p| (p.name, p.match_expression))
                .collect();
            let (mut created, mut skipped, mut errors) = (0, 0, Vec::new());
            for (i, item) in items.iter().enumerate() {
                let Some(obj) = item.as_object() else {
                    errors.push(json!({"index": i.to_string(), "error": "validation: each policy must be an object"}));
                    continue;
                };
                let fields = match validate::create(obj) {
                    Ok(f) => f,
                    Err(e) => {
                        errors.push(json!({"index": i.to_string(), "name": obj.get("name"), "error": e}));
                        continue;
                    }
                };
                let key = (
                    fields.name.clone().unwrap_or_default(),
                    fields.match_expression.clone().unwrap_or_default(),
                );
                if existing.contains(&key) {
                    skipped += 1;
                    continue;
                }
                policies::insert(conn, auth.project_id, &fields).await?;
                created += 1;
            }
            let event =
                Event::new("policy.import", "policy", "import").after(json!({"created": created, "skipped": skipped}));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>((created, skipped, errors))
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(json!({ "created": created, "skipped": skipped, "errors": errors })))
}

/// `POST /v1/policies/simulate`: how an expression would have matched the
/// project's stored (redacted) spans in a time window.
#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies/simulate")]
pub async fn simulate(
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let body = object(body)?;
    let expression = body.get("match_expression").cloned().unwrap_or(Value::Null);
    let program = crate::policy::cel::compile(&expression)
        .map_err(|e| ApiError::BadRequest(format!("invalid match_expression: {e}")))?;
    let applies_to: Vec<String> = body
        .get("applies_to")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let bound = |key: &str| -> Result<Option<i64>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let raw = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                let p: super::params::Params = [(key.to_owned(), raw.clone())].into_iter().collect();
                super::params::time_ns(&p, key)
                    .map_err(|_| ApiError::BadRequest(format!("{key} must be nanosecond unix or ISO 8601: {raw}")))
            }
        }
    };
    let now = chrono::Utc::now();
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    // The CLI sends `hours`; honour it as the window length.
    let hours = body
        .get("hours")
        .and_then(Value::as_i64)
        .filter(|h| *h > 0)
        .unwrap_or(24);
    let after = bound("start_after")?.unwrap_or(now_ns - hours * 3_600_000_000_000);
    let before = bound("start_before")?.unwrap_or(now_ns);
    if after > before {
        return Err(ApiError::BadRequest("start_after must be <= start_before".into()));
    }
    let scan_limit = match body.get("scan_limit") {
        None | Some(Value::Null) => 1000,
        Some(v) => v.as_i64().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
            ApiError::Unprocessable(vec![json!({"type": "value_error", "loc": ["body", "scan_limit"], "msg": "scan_limit must be between 1 and 10000"})])
        })?,
    };
    let started = std::time::Instant::now();
    let mut conn = state.pool.get().await?;
    let query = strathon_schema::spans::SpanQuery {
        start_after: Some(after - 1),
        start_before: Some(before + 1),
        limit: scan_limit,
        ..Default::default()
    };
    let scanned = strathon_schema::spans::search(&mut conn, auth.project_id, &query).await?;
    let matched: Vec<&strathon_schema::spans::Span> = scanned
        .iter()
        .filter(|s| crate::policy::applies_to::applies(&applies_to, &s.name))
        .filter(|s| {
            let attrs = s.attributes.as_object().cloned().unwrap_or_default();
            crate::policy::cel::evaluate(&program, &s.name, &attrs, now) == crate::policy::cel::Outcome::Match
        })
        .collect();
    let traces: std::collections::HashSet<&[u8]> = scanned.iter().map(|s| s.trace_id.as_slice()).collect();
    let matches: Vec<Value> = matched
        .iter()
        .take(100)
        .map(|s| {
            let mut m = super::views::span(s);
            m["span_name"] = json!(s.name);
            m["timestamp"] = m["start_time"].clone();
            m
        })
        .collect();
    let rate = if scanned.is_empty() {
        0.0
    } else {
        (matched.len() as f64 / scanned.len() as f64 * 1e6).round() / 1e6
    };
    Ok(HttpResponse::Ok().json(json!({
        "summary": {
            "scanned": scanned.len(), "matched": matched.len(), "match_rate": rate,
            "elapsed_ms": started.elapsed().as_millis() as u64, "truncated": matched.len() > 100, "uses_redacted_data": true,
        },
        "matches": matches,
        "spans_tested": scanned.len(),
        "traces_tested": traces.len(),
    })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/conflicts")]
pub async fn conflicts(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let found = crate::policy::analysis::conflicts(&all);
    Ok(HttpResponse::Ok().json(json!({ "conflicts": found, "policies_analyzed": all.len() })))
}

#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[get("/v1/policies/suggest")]
pub async fn suggest(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<super::params::Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let days: i64 = query
        .get("days")
        .and_then(|d| d.parse().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(7);
    let since = (chrono::Utc::now() - chrono::Duration::days(days))
        .timestamp_nanos_opt()
        .unwrap_or(0);
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let activity = strathon_schema::analytics::agents(&mut conn, auth.project_id, since, 500).await?;
    let has_budget = !strathon_schema::budgets::list(&mut conn, auth.project_id, false, 1)
        .await?
        .is_empty();
    let hours = (days * 24) as f64;
    let agents: Vec<(String, Vec<String>, f64, f64)> = activity
        .iter()
        .map(|a| {
            let cost = bigdecimal::ToPrimitive::to_f64(&a.total_cost_usd).unwrap_or(0.0);
            (
                a.agent_name.clone(),
                a.tools_used.clone(),
                a.total_tool_calls as f64 / hours,
                cost,
            )
        })
        .collect();
    let suggestions = crate::policy::analysis::suggestions(&all, &agents, has_budget);
    Ok(HttpResponse::Ok().json(json!({
        "suggestions": suggestions, "count": suggestions.len(), "lookback_days": days, "agents_analyzed": agents.len(),
    })))
}

/// `POST /v1/policies/generate`: English to CEL through an AI provider.
#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies/generate")]
pub async fn generate(
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let body = object(body)?;
    let description = body.get("description").and_then(Value::as_str).unwrap_or_default();
    if !(5..=1000).contains(&description.chars().count()) {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_length", "loc": ["body", "description"], "msg": "description must be 5 to 1000 characters"}),
        ]));
    }
    if state.config.ai_key().is_none() {
        return Err(ApiError::BadRequest(
            "Policy generation needs an AI provider key: set STRATHON_AI_API_KEY on the receiver (an OpenAI key, or an Anthropic key starting with sk-ant-) and restart it. Until then, write the CEL expression yourself or start from a template (GET /v1/policy-templates).".into(),
        ));
    }
    Err(ApiError::NotImplemented(
        "STRATHON_AI_API_KEY is set, but this receiver build has no outbound AI client; write the CEL expression or start from a template".into(),
    ))
}

/// `POST /v1/policies/validate` `{"match_expression"}` (ours, for editors):
/// whether the expression compiles, and where it fails. Nothing is stored.
#[utoipa::path(tag = "Policies", responses((status = 200, description = "OK")))]
#[post("/v1/policies/validate")]
pub async fn validate_expression(auth: Auth, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let body = object(body)?;
    let source = match body.get("match_expression") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::field("match_expression", "match_expression must be a string")),
    };
    let problem = if source.trim().is_empty() {
        Some(crate::policy::cel::Problem {
            message: "expression must not be empty".into(),
            line: None,
            column: None,
        })
    } else {
        crate::policy::cel::diagnose(&source)
    };
    Ok(HttpResponse::Ok().json(match problem {
        None => json!({"valid": true, "error": null}),
        Some(p) => json!({"valid": false, "error": {"message": p.message, "line": p.line, "column": p.column}}),
    }))
}
