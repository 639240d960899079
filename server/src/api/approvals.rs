//! `/v1/approvals`: human approval of tool calls, N-of-M votes, first deny
//! vetoes. Pending approvals expire through the approval reaper.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use strathon_schema::approvals::{self, Approval, NewApproval};
use uuid::Uuid;

use super::params::object;
use super::params::{self, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

use super::views::ApprovalView;

/// `POST /v1/approvals` (what the SDK sends when a `require_approval`
/// policy matches).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ApprovalCreate {
    /// The policy that asked for approval (a UUID; not checked to exist).
    #[schema(format = Uuid)]
    policy_id: String,
    policy_name: Option<String>,
    span_name: Option<String>,
    agent_name: Option<String>,
    tool_name: Option<String>,
    /// The tool's arguments as JSON text.
    tool_args: Option<String>,
    /// How long it may wait for a decision (default 300).
    #[schema(minimum = 1, maximum = 2147483647)]
    timeout_seconds: Option<i64>,
    /// Approvals needed (default 1); the first deny vetoes.
    #[schema(minimum = 1, maximum = 2147483647)]
    approvers_required: Option<i64>,
}

/// An approval at the top level (what SDKs read) and again under `approval`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `wrapped`
pub struct ApprovalAnswer {
    #[schema(inline)]
    #[serde(flatten)]
    fields: ApprovalView,
    approval: ApprovalView,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ApprovalList {
    approvals: Vec<ApprovalView>,
}

const STATUSES: [&str; 4] = ["approved", "denied", "expired", "pending"];

/// The approval at the top level and under `approval`: SDKs read either.
fn wrapped(a: &Approval) -> Value {
    let mut body = super::views::approval(a);
    body["approval"] = super::views::approval(a);
    body
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn at_least_one(body: &Map<String, Value>, key: &str, default: i32) -> Result<i32, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().filter(|n| *n >= 1).and_then(|n| i32::try_from(n).ok()).ok_or_else(|| {
            ApiError::Unprocessable(vec![json!({"type": "greater_than_equal", "loc": ["body", key], "msg": "Input should be greater than or equal to 1", "input": v})])
        }),
    }
}

/// Request an approval
///
/// What the SDK calls when a `require_approval` policy matches a tool
/// call: the call waits until enough people approve it, one denies it, or
/// it expires.
#[utoipa::path(
    tag = "Approvals",
    operation_id = "create_approval",
    security(("bearer" = ["traces:write"])),
    request_body = ApprovalCreate,
    responses(
        (status = 201, description = "The approval, pending.", body = ApprovalAnswer,
            links(("GetApproval" = (operation_id = "get_approval", parameters(("approval_id" = "$response.body#/id")))))),
        (status = 400, description = "`policy_id` is missing or not a UUID."),
    ),
)]
#[post("/v1/approvals")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_WRITE)?;
    let body = object(body)?;
    let policy_id = text(&body, "policy_id")
        .and_then(|p| Uuid::parse_str(&p).ok())
        .ok_or_else(|| ApiError::BadRequest("invalid policy_id".into()))?;
    let timeout = at_least_one(&body, "timeout_seconds", 300)?;
    let new = NewApproval {
        project_id: auth.project_id,
        policy_id,
        span_name: text(&body, "span_name"),
        agent_name: text(&body, "agent_name"),
        tool_name: text(&body, "tool_name"),
        tool_args: text(&body, "tool_args"),
        policy_name: text(&body, "policy_name"),
        timeout_seconds: timeout,
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(i64::from(timeout)),
        approvers_required: at_least_one(&body, "approvers_required", 1)?,
    };
    let mut conn = state.pool.get().await?;
    let created = approvals::insert(&mut conn, &new).await?;
    Ok(HttpResponse::Created().json(wrapped(&created)))
}

/// List approvals
///
/// Newest first, optionally only those in one status.
#[utoipa::path(
    tag = "Approvals",
    operation_id = "list_approvals",
    security(("bearer" = ["policies:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
        ("status_filter" = Option<String>, Query, description = "Only `pending`, `approved`, `denied` or `expired` ones."),
        ("status" = Option<String>, Query, description = "The same as `status_filter` (the CLI's name); `status_filter` wins."),
    ),
    responses(
        (status = 200, description = "The approvals.", body = ApprovalList),
        (status = 400, description = "An unknown status."),
    ),
)]
#[get("/v1/approvals")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let limit = params::limit(&query, 100, 1000)?;
    // `status` is what the CLI sends; `status_filter` what the original read.
    let status = query
        .get("status_filter")
        .or_else(|| query.get("status"))
        .filter(|s| !s.is_empty());
    if let Some(s) = status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::BadRequest(
                "status must be one of ['approved', 'denied', 'expired', 'pending']".into(),
            ));
        }
    }
    let mut conn = state.pool.get().await?;
    let found = approvals::list(&mut conn, auth.project_id, status.map(String::as_str), limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "approvals": found.iter().map(super::views::approval).collect::<Vec<_>>() })))
}

/// Read an approval
///
/// SDKs poll it while a tool call waits.
#[utoipa::path(
    tag = "Approvals",
    operation_id = "get_approval",
    security(("bearer" = ["policies:read"])),
    params(("approval_id" = uuid::Uuid, Path, description = "The approval's id.")),
    responses(
        (status = 200, description = "The approval.", body = ApprovalAnswer),
        (status = 400, description = "`approval_id` is not a UUID."),
    ),
)]
#[get("/v1/approvals/{approval_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let id = super::params::path_uuid(&path, "approval id")?;
    let mut conn = state.pool.get().await?;
    let a = approvals::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("approval not found".into()))?;
    Ok(HttpResponse::Ok().json(wrapped(&a)))
}

/// Approve a tool call
///
/// Adds the caller's vote; the approval becomes `approved` once enough
/// people approved. Each caller votes once. Any body is ignored.
#[utoipa::path(
    tag = "Approvals",
    operation_id = "approve_approval",
    security(("bearer" = ["policies:write"])),
    params(("approval_id" = uuid::Uuid, Path, description = "The approval's id.")),
    responses(
        (status = 200, description = "The approval with the vote counted.", body = ApprovalAnswer),
        (status = 400, description = "`approval_id` is not a UUID."),
        (status = 404, description = "No such approval, it is no longer pending, or the caller voted already."),
    ),
)]
#[post("/v1/approvals/{approval_id}/approve")]
pub async fn approve(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    decide(auth, state, path, "approved").await
}

/// Deny a tool call
///
/// The first deny decides: the approval becomes `denied`. Any body is
/// ignored.
#[utoipa::path(
    tag = "Approvals",
    operation_id = "deny_approval",
    security(("bearer" = ["policies:write"])),
    params(("approval_id" = uuid::Uuid, Path, description = "The approval's id.")),
    responses(
        (status = 200, description = "The denied approval.", body = ApprovalAnswer),
        (status = 400, description = "`approval_id` is not a UUID."),
        (status = 404, description = "No such approval, it is no longer pending, or the caller voted already."),
    ),
)]
#[post("/v1/approvals/{approval_id}/deny")]
pub async fn deny(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    decide(auth, state, path, "denied").await
}

async fn decide(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    decision: &'static str,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let id = super::params::path_uuid(&path, "approval id")?;
    let mut conn = state.pool.get().await?;
    let decided = crate::decisions::decide(&mut conn, &auth, id, decision).await?;
    Ok(HttpResponse::Ok().json(wrapped(&decided)))
}
