//! `/v1/halts`: stop a whole project or one agent; SDKs obey at their next
//! sync (every second).

use actix_web::{delete, get, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::halts::{self, Halt, NewHalt};

use super::params::object;
use super::params::{self, Params};
use super::views::HaltView;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /v1/halts`. `agent_name` may stand for `scope_value` (the CLI sends it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: `parse` reads the body field by field
pub struct HaltCreate {
    /// `agent` or `project`.
    scope: String,
    /// The agent's name; required for `scope=agent`, refused for `project`.
    scope_value: Option<String>,
    agent_name: Option<String>,
    /// Why; shown to operators and returned to the SDK.
    #[schema(min_length = 1, max_length = 1024)]
    reason: String,
    /// `halted` (default) or `paused`.
    state: Option<String>,
}

/// A halt at the top level (what the CLI prints) and again under `halt`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `wrapped`
pub struct HaltAnswer {
    #[schema(inline)]
    #[serde(flatten)]
    fields: HaltView,
    halt: HaltView,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HaltList {
    halts: Vec<HaltView>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HaltOne {
    halt: HaltView,
}

/// The halt at the top level (what the CLI prints) and under `halt`.
fn wrapped(h: &Halt) -> Value {
    let mut body = super::views::halt(h);
    body["halt"] = super::views::halt(h);
    body
}

/// Validates a create body. `agent_name` is accepted for `scope_value`,
/// which is what the published CLI sends.
fn parse(body: &serde_json::Map<String, Value>, project_id: uuid::Uuid) -> Result<NewHalt, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let scope = body.get("scope").and_then(Value::as_str).ok_or_else(|| {
        ApiError::Unprocessable(vec![
            json!({"type": "missing", "loc": ["body", "scope"], "msg": "Field required"}),
        ])
    })?;
    if !matches!(scope, "agent" | "project") {
        return Err(bad(format!("invalid scope '{scope}'. Valid: ['agent', 'project']")));
    }
    let state = body.get("state").and_then(Value::as_str).unwrap_or("halted");
    if !matches!(state, "paused" | "halted") {
        return Err(bad(format!(
            "invalid state '{state}'. Valid for new halts: ['paused', 'halted']"
        )));
    }
    let reason = match body.get("reason") {
        Some(Value::String(r)) => r.clone(),
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err(bad("reason must be a string".into())),
    };
    if reason.trim().is_empty() {
        return Err(bad("reason is required".into()));
    }
    if reason.chars().count() > 1024 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_too_long", "loc": ["body", "reason"], "msg": "reason must be at most 1024 characters"}),
        ]));
    }
    let value = ["scope_value", "agent_name"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let scope_value = match (scope, value) {
        ("agent", None) => return Err(bad("scope=agent requires a non-empty scope_value".into())),
        ("project", Some(_)) => {
            return Err(bad(
                "scope=project must not have a scope_value (project halts apply to all agents)".into(),
            ));
        }
        (_, v) => v,
    };
    Ok(NewHalt {
        project_id,
        scope: scope.into(),
        scope_value,
        state: state.into(),
        reason,
        actor: "user".into(),
        budget_id: None,
        metadata: json!({}),
    })
}

/// Halt a project or one agent
///
/// SDKs stop at their next tool call (they sync every second). The halt says
/// who issued it (`issued_by`).
#[utoipa::path(
    tag = "Halts",
    operation_id = "create_halt",
    security(("bearer" = ["halts:write"])),
    request_body = HaltCreate,
    responses(
        (status = 201, description = "The halt, in force.", body = HaltAnswer),
        (status = 400, description = "A rule of the body is broken, e.g. `scope=agent requires a non-empty scope_value`."),
    ),
)]
#[post("/v1/halts")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_WRITE)?;
    let mut new = parse(&object(body)?, auth.project_id)?;
    let mut conn = state.pool.get().await?;
    // Who issued it, for people reading the halt later ("actor" stays the
    // original's coarse "user").
    let issued_by = match &auth.principal {
        crate::auth::Principal::ApiKey { prefix, .. } => format!("API key {prefix}…"),
        crate::auth::Principal::Session { user_id, .. } => strathon_schema::users::find(&mut conn, *user_id)
            .await?
            .map(|u| u.email)
            .unwrap_or_default(),
        crate::auth::Principal::Slack { user_name, .. } => format!("Slack user {user_name}"),
    };
    new.metadata = json!({ "issued_by": issued_by });
    let halt = conn
        .transaction(async |conn| {
            let h = halts::insert(conn, &new).await?;
            audit::record(
                conn,
                &auth,
                Event::new("halt.issue", "halt", h.id).after(super::views::halt(&h)),
            )
            .await?;
            Ok::<_, ApiError>(h)
        })
        .await?;
    state
        .metrics
        .budgets
        .halts_created
        .with_label_values(&[halt.scope.as_str(), "user"])
        .inc();
    Ok(HttpResponse::Created().json(wrapped(&halt)))
}

/// List halts
///
/// Active halts, newest first; cleared ones too with `include_cleared`.
#[utoipa::path(
    tag = "Halts",
    operation_id = "list_halts",
    security(("bearer" = ["halts:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100, capped at 200)."),
        ("include_cleared" = Option<bool>, Query, description = "Also list cleared halts."),
    ),
    responses((status = 200, description = "The halts.", body = HaltList)),
)]
#[get("/v1/halts")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_READ)?;
    let limit = params::limit(&query, 100, 1000)?.min(200);
    let include_cleared = params::flag(&query, "include_cleared");
    let mut conn = state.pool.get().await?;
    let found = halts::list(&mut conn, auth.project_id, include_cleared, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "halts": found.iter().map(super::views::halt).collect::<Vec<_>>() })))
}

fn halt_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::Unprocessable(vec![json!({"type": "int_parsing", "loc": ["path", "halt_id"], "msg": "halt_id must be an integer", "input": raw})])
    })
}

/// Read a halt
#[utoipa::path(
    tag = "Halts",
    operation_id = "get_halt",
    security(("bearer" = ["halts:read"])),
    params(("halt_id" = i64, Path, description = "The halt's id.")),
    responses((status = 200, description = "The halt.", body = HaltOne)),
)]
#[get("/v1/halts/{halt_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_READ)?;
    let id = halt_id(&path)?;
    let mut conn = state.pool.get().await?;
    let h = halts::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("halt not found".into()))?;
    Ok(HttpResponse::Ok().json(json!({ "halt": super::views::halt(&h) })))
}

/// Clear a halt
///
/// Agents in its scope run again at their next sync.
#[utoipa::path(
    tag = "Halts",
    operation_id = "clear_halt",
    security(("bearer" = ["halts:write"])),
    params(("halt_id" = i64, Path, description = "The halt's id.")),
    responses(
        (status = 200, description = "The cleared halt.", body = HaltAnswer),
        (status = 409, description = "The halt was cleared already."),
    ),
)]
#[delete("/v1/halts/{halt_id}")]
pub async fn clear(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_WRITE)?;
    let id = halt_id(&path)?;
    let mut conn = state.pool.get().await?;
    let halt = conn
        .transaction(async |conn| {
            let Some(h) = halts::clear(conn, auth.project_id, id).await? else {
                return Err(match halts::find(conn, auth.project_id, id).await? {
                    Some(existing) => ApiError::Conflict(format!(
                        "halt {id} is already cleared (cleared_at={})",
                        existing
                            .cleared_at
                            .as_ref()
                            .map(super::params::utc_offset)
                            .unwrap_or_default()
                    )),
                    None => ApiError::NotFound("halt not found".into()),
                });
            };
            audit::record(
                conn,
                &auth,
                Event::new("halt.clear", "halt", h.id).after(super::views::halt(&h)),
            )
            .await?;
            Ok(h)
        })
        .await?;
    state
        .metrics
        .budgets
        .halts_cleared
        .with_label_values(&["user", "operator_request"])
        .inc();
    Ok(HttpResponse::Ok().json(wrapped(&halt)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn cli_agent_name_is_an_alias_and_rules_hold() {
        let p = uuid::Uuid::nil();
        let agent = parse(
            &body(json!({"scope": "agent", "agent_name": "bot", "reason": "CLI halt"})),
            p,
        )
        .unwrap();
        assert_eq!(agent.scope_value.as_deref(), Some("bot"));
        let err = |v: Value| parse(&body(v), p).unwrap_err().to_string();
        assert_eq!(
            err(json!({"scope": "agent", "reason": "r"})),
            "scope=agent requires a non-empty scope_value"
        );
        assert_eq!(
            err(json!({"scope": "project", "scope_value": "x", "reason": "r"})),
            "scope=project must not have a scope_value (project halts apply to all agents)"
        );
        assert_eq!(
            err(json!({"scope": "trace", "reason": "r"})),
            "invalid scope 'trace'. Valid: ['agent', 'project']"
        );
        assert_eq!(err(json!({"scope": "project", "reason": "  "})), "reason is required");
        assert_eq!(
            err(json!({"scope": "project", "reason": "r", "state": "resumed"})),
            "invalid state 'resumed'. Valid for new halts: ['paused', 'halted']"
        );
    }
}
