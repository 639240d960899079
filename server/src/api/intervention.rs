//! `POST /v1/intervention/sync`: what the SDK polls every second: the live
//! halts (project and agent scope) and, for information, active budgets.
//! `POST /v1/intervention/halt`: the original's deprecated halt route, kept
//! for old scripts; unlike the original's stub it really halts.

use actix_web::post;
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::halts::{self, NewHalt};

use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// The SDK reads at most this many halts.
const MAX_HALTS: i64 = 500;

/// A live halt, as the SDK reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SyncHalt {
    id: i64,
    /// `agent` or `project`.
    scope: String,
    /// The agent's name, for `scope=agent`.
    scope_value: Option<String>,
    /// `halted` or `paused`.
    state: String,
    reason: String,
}

/// An active budget (for information; the receiver enforces budgets by halts).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `views::budget_sync`
pub struct SyncBudget {
    id: uuid::Uuid,
    name: String,
    scope: String,
    scope_value: Option<String>,
    /// Decimal string, USD.
    max_spend_usd: Option<String>,
    /// Decimal string, USD.
    spent_usd: String,
    max_repeated_calls: Option<i32>,
    budget_duration: Option<String>,
    budget_reset_at: Option<String>,
}

/// What the SDK must obey now.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SyncState {
    /// The project's live halts (at most 500), newest first.
    halts: Vec<SyncHalt>,
    /// Active budgets (at most 100).
    budgets: Vec<SyncBudget>,
    synced_at_unix_nano: i64,
}

/// Sync an SDK
///
/// What the SDK polls every second: the project's live halts (project- and
/// agent-scoped) and, for information, its active budgets. Any JSON body
/// (the SDK sends `{}`) or none at all is accepted.
#[utoipa::path(
    tag = "SDK",
    operation_id = "sync_sdk",
    security(("bearer" = ["halts:read"])),
    request_body(content = Option<Object>, description = "Ignored; the SDK sends `{}`."),
    responses((status = 200, description = "The live halts and budgets.", body = SyncState)),
)]
#[post("/v1/intervention/sync")]
pub async fn sync(auth: Auth, state: web::Data<AppState>, _body: web::Bytes) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_READ)?;
    let mut conn = state.pool.get().await?;
    let live = halts::list(&mut conn, auth.project_id, false, MAX_HALTS).await?;
    let halts: Vec<Value> = live
        .iter()
        .map(|h| json!({ "id": h.id, "scope": h.scope, "scope_value": h.scope_value, "state": h.state, "reason": h.reason }))
        .collect();
    let budgets =
        super::views::budget_sync(&strathon_schema::budgets::list(&mut conn, auth.project_id, false, 100).await?);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({ "halts": halts, "budgets": budgets, "synced_at_unix_nano": now })))
}

/// Halts the agent the body names (`agent_name`, `agent_id` or
/// `scope_value`), or the whole project when it names none (which also
/// needs `halts:write`: an agent's key may stop its agent, not everyone).
/// The halt is the same as `POST /v1/halts` makes: SDKs obey it at their
/// next sync, and it is audited and announced like any other.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct LegacyHaltRequest {
    /// The agent to halt; `agent_id` and `scope_value` may stand for it.
    /// With none of the three, the whole project is halted.
    #[schema(max_length = 1024)]
    agent_name: Option<String>,
    #[schema(max_length = 1024)]
    agent_id: Option<String>,
    #[schema(max_length = 1024)]
    scope_value: Option<String>,
    /// Why (default: a note naming this route).
    #[schema(max_length = 1024)]
    reason: Option<String>,
    /// Kept with the halt, for reference.
    #[schema(max_length = 1024)]
    trace_id: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct LegacyHaltAnswer {
    /// Always true.
    halted: bool,
    halt_id: i64,
    /// `agent` or `project`.
    scope: String,
    scope_value: Option<String>,
    /// Always `use POST /v1/halts`.
    deprecated: String,
}

/// Halt an agent (deprecated)
///
/// Deprecated: use `POST /v1/halts`. Halts the agent the body names, or
/// the whole project when it names none (which also needs `halts:write`).
/// The halt is the same as `POST /v1/halts` makes. An empty body is
/// accepted.
#[utoipa::path(
    tag = "SDK",
    operation_id = "halt_legacy",
    security(("bearer" = ["traces:write"])),
    request_body(content = Option<LegacyHaltRequest>, description = "Empty, or a JSON object."),
    responses(
        (status = 201, description = "The halt, in force.", body = LegacyHaltAnswer,
            headers(
                ("Deprecation" = String, description = "Always `true`."),
                ("Link" = String, description = "`</v1/halts>; rel=\"successor-version\"`."),
            )),
    ),
)]
#[post("/v1/intervention/halt")]
pub async fn halt(auth: Auth, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_WRITE)?;
    let body: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(ApiError::Unprocessable(vec![json!({
                    "type": "dict_type", "loc": ["body"], "msg": "Input should be a JSON object or empty",
                })]))
            }
        }
    };
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= 1024 => {
                Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
            }
            Some(_) => Err(ApiError::field(
                k,
                &format!("{k} must be a string of at most 1024 characters"),
            )),
        }
    };
    let agent = match text("agent_name")? {
        Some(a) => Some(a),
        None => match text("agent_id")? {
            Some(a) => Some(a),
            None => text("scope_value")?,
        },
    };
    if agent.is_none() {
        auth.require(scope::HALTS_WRITE)?;
    }
    let reason = text("reason")?.unwrap_or_else(|| "halted through the deprecated /v1/intervention/halt".into());
    let new = NewHalt {
        project_id: auth.project_id,
        scope: if agent.is_some() { "agent" } else { "project" }.into(),
        scope_value: agent,
        state: "halted".into(),
        reason,
        actor: "user".into(),
        budget_id: None,
        metadata: json!({"issued_by": "POST /v1/intervention/halt", "trace_id": text("trace_id")?}),
    };
    let mut conn = state.pool.get().await?;
    let h = conn
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
    Ok(HttpResponse::Created()
        .insert_header(("Deprecation", "true"))
        .insert_header(("Link", "</v1/halts>; rel=\"successor-version\""))
        .json(json!({
            "halted": true, "halt_id": h.id, "scope": h.scope, "scope_value": h.scope_value,
            "deprecated": "use POST /v1/halts",
        })))
}
