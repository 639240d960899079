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

use super::views::{PolicyView, SpanView};

/// The longest policy name: names are indexed, and an index entry has a
/// size limit.
const MAX_NAME: usize = 200;

/// A snapshot of a policy, written at every create and update.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PolicyVersion {
    id: i64,
    policy_id: Uuid,
    project_id: Uuid,
    /// 1, 2, 3… per policy.
    version: i32,
    name: String,
    description: Option<String>,
    match_expression: String,
    action: String,
    #[schema(value_type = Object)]
    action_config: Value,
    applies_to: Vec<String>,
    enabled: bool,
    priority: i32,
    /// `create` or `update`.
    change_type: String,
    changed_at: String,
}

fn render_version(v: &Version) -> PolicyVersion {
    PolicyVersion {
        id: v.id,
        policy_id: v.policy_id,
        project_id: v.project_id,
        version: v.version,
        name: v.name.clone(),
        description: v.description.clone(),
        match_expression: v.match_expression.clone(),
        action: v.action.clone(),
        action_config: v.action_config.clone(),
        applies_to: v.applies_to.clone(),
        enabled: v.enabled,
        priority: v.priority,
        change_type: v.change_type.clone(),
        changed_at: v.changed_at.to_rfc3339(),
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PolicyVersionList {
    /// Newest first.
    data: Vec<PolicyVersion>,
}

/// `POST /v1/policies` (and each item of an import).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: `validate::create` reads the body field by field
pub struct PolicyCreate {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// CEL over `name` (the span's), `attrs` (its attributes) and `now`;
    /// it must compile.
    match_expression: String,
    /// `allow`, `block`, `steer`, `throttle`, `require_approval`, `alert` or `log`.
    action: String,
    description: Option<String>,
    /// Per action: `throttle` needs `max_calls` (a positive integer) and
    /// `window_seconds` (a positive number), optionally `scope` (`agent` or
    /// `global`); `require_approval` takes `approvers_required` and
    /// `timeout_seconds`; `steer` takes `message`; `block` takes `message`.
    #[schema(value_type = Option<Object>)]
    action_config: Option<Value>,
    /// Span names it applies to (glob patterns); empty or absent: all.
    applies_to: Option<Vec<String>>,
    /// Default true.
    enabled: Option<bool>,
    /// Higher is evaluated first (default 0). A 32-bit integer: the handler
    /// refuses others with the original's 400 message, so the document does
    /// not narrow the range for the hygiene layer.
    #[schema(value_type = Option<i64>)]
    priority: Option<i32>,
    /// Record matches without acting (default false).
    shadow: Option<bool>,
}

/// `PATCH /v1/policies/{policy_id}`: the fields to change; absent or null
/// ones stay as they are.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: `validate::patch` reads the body field by field
pub struct PolicyPatch {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    match_expression: Option<String>,
    action: Option<String>,
    description: Option<String>,
    /// Checked against the new action, or the current one.
    #[schema(value_type = Option<Object>)]
    action_config: Option<Value>,
    applies_to: Option<Vec<String>>,
    enabled: Option<bool>,
    /// As on create.
    #[schema(value_type = Option<i64>)]
    priority: Option<i32>,
    shadow: Option<bool>,
}

/// The SDK's policy feed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the feed is built as JSON
pub struct PolicyFeed {
    /// Every policy, in evaluation order (priority high to low, then name).
    policies: Vec<PolicyView>,
    /// `allow`, or `block` (allow-list mode: a call no policy matches is blocked).
    intervention_default_action: String,
}

/// A name over [`MAX_NAME`] characters, refused before it reaches the
/// index (which would fail with a server error).
fn name_too_long(body: &serde_json::Map<String, Value>) -> bool {
    body.get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.chars().count() > MAX_NAME)
}

fn name_too_long_error() -> ApiError {
    ApiError::Unprocessable(vec![json!({
        "type": "string_too_long", "loc": ["body", "name"],
        "msg": format!("name must be at most {MAX_NAME} characters"),
    })])
}

fn not_found() -> ApiError {
    ApiError::NotFound("policy not found".into())
}

/// List policies
///
/// The SDK's feed: every policy in evaluation order, and the project's
/// default action (`block` means allow-list mode).
#[utoipa::path(
    tag = "Policies",
    operation_id = "list_policies",
    security(("bearer" = ["policies:read"])),
    responses((status = 200, description = "The policies.", body = PolicyFeed)),
)]
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

/// Create a policy
///
/// SDKs pick it up at their next policy refresh; ingest applies it at
/// once. Version 1 is recorded.
#[utoipa::path(
    tag = "Policies",
    operation_id = "create_policy",
    security(("bearer" = ["policies:write"])),
    request_body = PolicyCreate,
    responses(
        (status = 201, description = "The policy.", body = PolicyView,
            links(("GetPolicy" = (operation_id = "get_policy", parameters(("policy_id" = "$response.body#/id")))))),
        (status = 400, description = "A field is missing or invalid: `missing required fields: [...]`, an unknown action, an action_config the action refuses, or an expression that does not compile."),
    ),
)]
#[post("/v1/policies")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let body = object(body)?;
    let fields = validate::create(&body).map_err(ApiError::BadRequest)?;
    if name_too_long(&body) {
        return Err(name_too_long_error());
    }
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

/// Read a policy
#[utoipa::path(
    tag = "Policies",
    operation_id = "get_policy",
    security(("bearer" = ["policies:read"])),
    params(("policy_id" = Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 200, description = "The policy.", body = PolicyView),
        (status = 400, description = "`policy_id` is not a UUID."),
    ),
)]
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

/// Change a policy
///
/// Only the fields sent (and not null) change; a body with none answers
/// the policy unchanged. Each change records a new version.
#[utoipa::path(
    tag = "Policies",
    operation_id = "update_policy",
    security(("bearer" = ["policies:write"])),
    params(("policy_id" = Uuid, Path, description = "The policy's id.")),
    request_body = PolicyPatch,
    responses(
        (status = 200, description = "The policy as it is now.", body = PolicyView),
        (status = 400, description = "`policy_id` is not a UUID, or a field is invalid (unknown action, action_config the action refuses, expression that does not compile, blank name)."),
    ),
)]
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
            if name_too_long(&body) {
                return Err(name_too_long_error());
            }
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

/// Delete a policy
///
/// Its versions and recorded matches go with it.
#[utoipa::path(
    tag = "Policies",
    operation_id = "delete_policy",
    security(("bearer" = ["policies:write"])),
    params(("policy_id" = Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`policy_id` is not a UUID."),
    ),
)]
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

/// List a policy's versions
///
/// Every snapshot, newest first.
#[utoipa::path(
    tag = "Policies",
    operation_id = "list_policy_versions",
    security(("bearer" = ["policies:read"])),
    params(("policy_id" = Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 200, description = "The versions.", body = PolicyVersionList),
        (status = 400, description = "`policy_id` is not a UUID."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(PolicyVersionList {
        data: all.iter().map(render_version).collect(),
    }))
}

/// Read a policy version
#[utoipa::path(
    tag = "Policies",
    operation_id = "get_policy_version",
    security(("bearer" = ["policies:read"])),
    params(
        ("policy_id" = Uuid, Path, description = "The policy's id."),
        ("version" = i32, Path, description = "The version number (1, 2, 3…)."),
    ),
    responses(
        (status = 200, description = "The version.", body = PolicyVersion),
        (status = 400, description = "`policy_id` is not a UUID."),
    ),
)]
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

/// How often a policy matched.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct ShadowStats {
    policy_id: Uuid,
    name: String,
    shadow: bool,
    /// Distinct spans it matched at ingest.
    match_count: i64,
    last_matched_at: Option<String>,
    enabled: bool,
    action: String,
}

/// A policy's match statistics
///
/// How often the policy matched at ingest: what a shadow policy would
/// have done.
#[utoipa::path(
    tag = "Policies",
    operation_id = "get_policy_shadow_stats",
    security(("bearer" = ["policies:read"])),
    params(("policy_id" = Uuid, Path, description = "The policy's id.")),
    responses(
        (status = 200, description = "The statistics.", body = ShadowStats),
        (status = 400, description = "`policy_id` is not a UUID."),
    ),
)]
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

/// `POST /v1/policies/batch`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct PolicyBatch {
    /// `enable`, `disable` or `delete`.
    action: String,
    /// Policy ids (UUIDs); unknown ones are skipped.
    #[schema(min_items = 1, max_items = 100)]
    policy_ids: Vec<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct PolicyBatchResult {
    action: String,
    /// Policies changed.
    affected: i64,
    /// Ids sent.
    total: i64,
}

/// Enable, disable or delete policies
///
/// One action on up to 100 policies, in one transaction: a bad id changes
/// nothing.
#[utoipa::path(
    tag = "Policies",
    operation_id = "batch_policies",
    security(("bearer" = ["policies:write"])),
    request_body = PolicyBatch,
    responses(
        (status = 200, description = "What was done.", body = PolicyBatchResult),
        (status = 400, description = "An unknown action, or an id that is not a UUID."),
    ),
)]
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

/// A policy without its identity, as export writes and import reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the items are built as JSON
pub struct PortablePolicy {
    name: String,
    description: Option<String>,
    match_expression: String,
    action: String,
    #[schema(value_type = Object)]
    action_config: Value,
    applies_to: Vec<String>,
    enabled: bool,
    priority: i32,
    shadow: bool,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct PolicyExport {
    policies: Vec<PortablePolicy>,
    count: i64,
}

/// Export policies
///
/// Every policy without ids or counters, ready for `POST /v1/policies/import`.
#[utoipa::path(
    tag = "Policies",
    operation_id = "export_policies",
    security(("bearer" = ["policies:read"])),
    responses((status = 200, description = "The policies.", body = PolicyExport)),
)]
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

/// `POST /v1/policies/import`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct PolicyImport {
    /// Policies as export writes them (the fields of a create); each is
    /// checked on its own, and a bad one is reported, not fatal.
    #[schema(value_type = Vec<Object>)]
    policies: Vec<Value>,
}

/// A policy import refused.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the errors are built as JSON
pub struct PolicyImportError {
    /// Its position in `policies`, as a string.
    index: String,
    /// Its name, when it had one.
    #[schema(value_type = Option<Object>)]
    name: Option<Value>,
    error: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct PolicyImportResult {
    created: i64,
    /// Already present: same name and expression.
    skipped: i64,
    errors: Vec<PolicyImportError>,
}

/// Import policies
///
/// Creates each policy of the list, skipping those whose name and
/// expression already exist and reporting the invalid ones.
#[utoipa::path(
    tag = "Policies",
    operation_id = "import_policies",
    security(("bearer" = ["policies:write"])),
    request_body = PolicyImport,
    responses(
        (status = 200, description = "What was created, skipped and refused.", body = PolicyImportResult),
        (status = 400, description = "The body has no `policies` list."),
    ),
)]
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
                    Ok(_) if name_too_long(obj) => {
                        let e = format!("name must be at most {MAX_NAME} characters");
                        errors.push(json!({"index": i.to_string(), "name": obj.get("name"), "error": e}));
                        continue;
                    }
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

/// A time bound: nanoseconds since the epoch (a number or a string of
/// digits), or an ISO 8601 timestamp.
pub struct TimeBound;

impl utoipa::PartialSchema for TimeBound {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "Nanoseconds since the epoch (a number or a string of digits), or an ISO 8601 timestamp.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for TimeBound {}

/// `POST /v1/policies/simulate`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct SimulateRequest {
    /// The CEL expression to try; it must compile.
    match_expression: String,
    /// Only spans with these names (glob patterns); absent: all.
    applies_to: Option<Vec<String>>,
    /// Window start (default: `hours` before now).
    #[schema(inline)]
    start_after: Option<TimeBound>,
    /// Window end (default: now).
    #[schema(inline)]
    start_before: Option<TimeBound>,
    /// The window's length when `start_after` is absent (default 24; the
    /// CLI sends it). Values below 1 mean 24.
    hours: Option<i64>,
    /// Test at most this many spans, newest first (default 1000).
    #[schema(minimum = 1, maximum = 10000)]
    scan_limit: Option<i64>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SimulateSummary {
    /// Spans tested.
    scanned: i64,
    matched: i64,
    /// `matched / scanned`, six decimals.
    match_rate: f64,
    elapsed_ms: i64,
    /// More than 100 matched; `matches` holds the first 100.
    truncated: bool,
    /// Always true: stored attributes are redacted.
    uses_redacted_data: bool,
}

/// A span the expression matched.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: matches are built as JSON
pub struct SimulateMatch {
    #[schema(inline)]
    #[serde(flatten)]
    span: SpanView,
    /// The same as `name`.
    span_name: String,
    /// The same as `start_time`.
    timestamp: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SimulateResult {
    summary: SimulateSummary,
    /// At most 100, newest first.
    matches: Vec<SimulateMatch>,
    spans_tested: i64,
    /// Distinct traces among the spans tested.
    traces_tested: i64,
}

/// Simulate a policy
///
/// How an expression would have matched the project's stored (redacted)
/// spans in a time window. Nothing is stored.
#[utoipa::path(
    tag = "Policies",
    operation_id = "simulate_policy",
    security(("bearer" = ["policies:read"])),
    request_body = SimulateRequest,
    responses(
        (status = 200, description = "What matched.", body = SimulateResult),
        (status = 400, description = "The expression does not compile, a time bound is neither nanoseconds nor ISO 8601, or `start_after` is after `start_before`."),
    ),
)]
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
    // Saturating: a huge `hours` or an extreme bound is a wide window, not an overflow.
    let after = bound("start_after")?.unwrap_or(now_ns.saturating_sub(hours.saturating_mul(3_600_000_000_000)));
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
        start_after: Some(after.saturating_sub(1)),
        start_before: Some(before.saturating_add(1)),
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

/// A policy named in a conflict.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `analysis::conflicts`
pub struct ConflictingPolicy {
    id: Uuid,
    name: String,
}

/// Two enabled policies that contradict or repeat each other.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `analysis::conflicts`
pub struct PolicyConflict {
    /// `contradiction` or `redundancy`.
    #[serde(rename = "type")]
    kind: String,
    policy_a: ConflictingPolicy,
    policy_b: ConflictingPolicy,
    reason: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct PolicyConflicts {
    conflicts: Vec<PolicyConflict>,
    /// All policies, enabled or not.
    policies_analyzed: i64,
}

/// Find conflicting policies
///
/// Pairs of enabled policies with the same expression (a redundancy, or a
/// contradiction when their actions differ), or naming the same tool with
/// a block or allow against another action.
#[utoipa::path(
    tag = "Policies",
    operation_id = "list_policy_conflicts",
    security(("bearer" = ["policies:read"])),
    responses((status = 200, description = "The conflicts.", body = PolicyConflicts)),
)]
#[get("/v1/policies/conflicts")]
pub async fn conflicts(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let found = crate::policy::analysis::conflicts(&all);
    Ok(HttpResponse::Ok().json(json!({ "conflicts": found, "policies_analyzed": all.len() })))
}

/// A policy a suggestion proposes, ready for `POST /v1/policies`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `analysis::suggestions`
pub struct SuggestedPolicy {
    name: String,
    match_expression: String,
    action: String,
    #[schema(value_type = Option<Object>)]
    action_config: Option<Value>,
    description: String,
}

/// A gap in the project's policies.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `analysis::suggestions`
pub struct PolicySuggestion {
    /// `high` or `medium`.
    risk_level: String,
    /// The OWASP agentic risk, e.g. `ASI-02`.
    owasp_ref: String,
    description: String,
    reason: String,
    recommendation: String,
    /// Null when no policy fits (e.g. a missing budget).
    policy: Option<SuggestedPolicy>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct PolicySuggestions {
    /// High risks first.
    suggestions: Vec<PolicySuggestion>,
    count: i64,
    lookback_days: i64,
    agents_analyzed: i64,
}

/// Suggest policies
///
/// Looks at what the agents did in the last `days` days (sensitive tools,
/// call rates, spend) and proposes the policies that are missing.
#[utoipa::path(
    tag = "Policies",
    operation_id = "suggest_policies",
    security(("bearer" = ["policies:read"])),
    params(("days" = Option<i64>, Query, description = "Look back this many days, 1 to 365 (default 7; other values mean 7).")),
    responses((status = 200, description = "The suggestions.", body = PolicySuggestions)),
)]
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

/// `POST /v1/policies/generate`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct GenerateRequest {
    /// What the policy should do, in English.
    #[schema(min_length = 5, max_length = 1000)]
    description: String,
}

/// Generate a policy from English
///
/// Not available in this build: without `STRATHON_AI_API_KEY` it answers
/// 400 with how to configure one; with a key, 400 too (this build has no
/// outbound AI client). Write the CEL yourself or start from a template.
#[utoipa::path(
    tag = "Policies",
    operation_id = "generate_policy",
    security(("bearer" = ["policies:write"])),
    request_body = GenerateRequest,
    responses(
        (status = 400, description = "No AI provider key is configured (the detail says how to set one), or one is but this build has no outbound AI client."),
    ),
)]
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
    Err(ApiError::BadRequest(
        "STRATHON_AI_API_KEY is set, but this receiver build has no outbound AI client; write the CEL expression or start from a template".into(),
    ))
}

/// `POST /v1/policies/validate`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ValidateRequest {
    match_expression: String,
}

/// Where an expression fails.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct ExpressionProblem {
    message: String,
    /// 1-based, when known.
    line: Option<i64>,
    column: Option<i64>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct ValidateResult {
    valid: bool,
    /// Null when valid.
    error: Option<ExpressionProblem>,
}

/// Check a policy expression
///
/// Whether a CEL expression compiles, and where it fails (for editors).
/// Nothing is stored.
#[utoipa::path(
    tag = "Policies",
    operation_id = "validate_policy_expression",
    security(("bearer" = ["policies:read"])),
    request_body = ValidateRequest,
    responses((status = 200, description = "The verdict.", body = ValidateResult)),
)]
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
