//! `/v1/policies`: CRUD, the SDK's policy feed, versions, shadow stats,
//! batch changes, export and import.

use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Map, Value};
use strathon_schema::policies::{self, Policy, Version};
use strathon_schema::settings;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::policy::validate;

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn render(p: &Policy) -> Value {
    json!({
        "id": p.id,
        "project_id": p.project_id,
        "name": p.name,
        "description": p.description,
        "match_expression": p.match_expression,
        "action": p.action,
        "action_config": p.action_config,
        "applies_to": p.applies_to,
        "enabled": p.enabled,
        "priority": p.priority,
        "match_count": p.match_count,
        "last_matched_at": p.last_matched_at.as_ref().map(ts),
        "shadow": p.shadow,
        "created_at": ts(&p.created_at),
        "updated_at": ts(&p.updated_at),
    })
}

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

/// A JSON object body, or the validation error the original gave (422).
pub fn object(body: web::Json<Value>) -> Result<Map<String, Value>, ApiError> {
    match body.into_inner() {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::Unprocessable(vec![json!({
            "type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": other,
        })])),
    }
}

fn policy_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest("invalid policy_id".into()))
}

fn not_found() -> ApiError {
    ApiError::NotFound("policy not found".into())
}

/// The SDK's feed: every policy in evaluation order plus the project's
/// default action (`block` = allow-list mode).
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let default_action = settings::get(&mut conn, auth.project_id)
        .await?
        .intervention_default_action;
    let rendered: Vec<Value> = all.iter().map(render).collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": rendered, "intervention_default_action": default_action })))
}

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
                Event::new("policy.create", "policy", p.id).after(render(&p)),
            )
            .await?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Created().json(render(&policy)))
}

pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = policy_id(&path)?;
    let mut conn = state.pool.get().await?;
    let p = policies::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(render(&p)))
}

pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let id = policy_id(&path)?;
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
                .before(render(&current))
                .after(render(&p));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(render(&updated)))
}

pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let id = policy_id(&path)?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let gone = policies::delete(conn, auth.project_id, id)
            .await?
            .ok_or_else(not_found)?;
        audit::record(
            conn,
            &auth,
            Event::new("policy.delete", "policy", id).before(render(&gone)),
        )
        .await
    })
    .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::NoContent().finish())
}

pub async fn versions(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = policy_id(&path)?;
    let mut conn = state.pool.get().await?;
    let all = policies::versions(&mut conn, auth.project_id, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(render_version).collect::<Vec<_>>() })))
}

pub async fn version(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let (raw_id, raw_version) = path.into_inner();
    let id = policy_id(&raw_id)?;
    let number: i32 = raw_version.parse().map_err(|_| {
        ApiError::Unprocessable(vec![json!({"type": "int_parsing", "loc": ["path", "version"], "msg": "version must be an integer", "input": raw_version})])
    })?;
    let mut conn = state.pool.get().await?;
    let v = policies::version(&mut conn, auth.project_id, id, number)
        .await?
        .ok_or_else(|| ApiError::NotFound("version not found".into()))?;
    Ok(HttpResponse::Ok().json(render_version(&v)))
}

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
        "last_matched_at": p.last_matched_at.as_ref().map(ts), "enabled": p.enabled, "action": p.action,
    })))
}

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

pub async fn export(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let items: Vec<Value> = all
        .iter()
        .map(|p| {
            let full = render(p);
            Value::Object(PORTABLE.iter().map(|k| (k.to_string(), full[*k].clone())).collect())
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": items, "count": items.len() })))
}

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
