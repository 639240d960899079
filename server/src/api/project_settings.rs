//! The project's settings in the original's two shapes: `/v1/project/settings`
//! (default action for unmatched tool calls and trace retention, what scripts
//! use) and `/v1/settings` (those plus the project's name, PII redaction and
//! content capture, what the dashboard edits).

use actix_web::{get, patch};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use strathon_schema::settings::{self, Changes, Settings};
use utoipa::ToSchema;

use diesel_async::AsyncConnection as _;

use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// What an unmatched tool call gets.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `parse_changes` checks the value
#[schema(rename_all = "lowercase")]
pub enum DefaultAction {
    Allow,
    Block,
}

/// The project's settings as scripts read them.
#[derive(Serialize, ToSchema)]
#[schema(as = ProjectSettings)]
pub struct SettingsView {
    /// `allow` or `block`: what a tool call no policy matches gets.
    pub intervention_default_action: String,
    /// How long traces are kept.
    pub trace_retention_days: i32,
}

fn render(s: &Settings) -> Value {
    serde_json::to_value(SettingsView {
        intervention_default_action: s.intervention_default_action.clone(),
        trace_retention_days: s.trace_retention_days,
    })
    .expect("settings serialize")
}

/// Read project settings
///
/// The default action for unmatched tool calls and the trace retention.
#[utoipa::path(
    tag = "Settings",
    operation_id = "get_project_settings",
    security(("bearer" = ["project_settings:read"])),
    responses((status = 200, description = "The settings.", body = SettingsView)),
)]
#[get("/v1/project/settings")]
pub async fn get(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let current = settings::get(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(render(&current)))
}

/// `PATCH /v1/project/settings`: the keys to change; any other key is
/// `400 unknown settings keys: [...]`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `parse_changes` reads the body
pub struct SettingsPatch {
    #[serde(default)]
    intervention_default_action: DefaultAction,
    /// 1 to 3650 (400 otherwise).
    #[serde(default)]
    trace_retention_days: i64,
}

/// Change project settings
///
/// Changes the keys given; agents see the new default action at their next
/// sync.
#[utoipa::path(
    tag = "Settings",
    operation_id = "update_project_settings",
    security(("bearer" = ["project_settings:write"])),
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "The settings now.", body = SettingsView),
        (status = 400, description = "An unknown key, a default action other than `allow`/`block`, or a retention outside 1 to 3650 days."),
    ),
)]
#[patch("/v1/project/settings")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let changes = parse_changes(&body)?;
    let mut conn = state.pool.get().await?;
    let updated = conn
        .transaction(async |conn| {
            let before = settings::get(conn, auth.project_id).await?;
            let after = settings::update(conn, auth.project_id, &changes).await?;
            let event = Event::new("project_settings.update", "project_settings", auth.project_id)
                .before(render(&before))
                .after(render(&after));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(after)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(render(&updated)))
}

#[derive(Serialize, ToSchema)]
pub struct Retention {
    pub traces_days: i32,
}

/// The project's settings as the dashboard edits them.
#[derive(Serialize, ToSchema)]
#[schema(as = DashboardSettings)]
pub struct DashboardSettingsView {
    pub project_name: String,
    pub project_slug: String,
    pub retention: Retention,
    /// PII is redacted from span attributes before they are stored.
    pub pii_redaction_enabled: bool,
    /// Prompts and completions are kept in spans.
    pub content_capture_enabled: bool,
    /// `allow` or `block`.
    pub intervention_default_action: String,
}

/// The dashboard's settings after a change.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of `view_patch`'s answer
pub struct DashboardSettingsUpdated {
    #[serde(flatten)]
    settings: DashboardSettingsView,
    /// `updated`.
    status: String,
}

/// The `/v1/settings` view.
fn view(project: &strathon_schema::projects::Project, s: &Settings) -> Value {
    serde_json::to_value(DashboardSettingsView {
        project_name: project.name.clone(),
        project_slug: project.slug.clone(),
        retention: Retention {
            traces_days: s.trace_retention_days,
        },
        pii_redaction_enabled: s.pii_redaction_enabled,
        content_capture_enabled: s.content_capture_enabled,
        intervention_default_action: s.intervention_default_action.clone(),
    })
    .expect("settings serialize")
}

/// Read the dashboard's settings
///
/// The project's name and slug with its retention, PII redaction, content
/// capture and default action.
#[utoipa::path(
    tag = "Settings",
    operation_id = "get_settings",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The settings.", body = DashboardSettingsView)),
)]
#[get("/v1/settings")]
pub async fn view_get(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let mut conn = state.pool.get().await?;
    let project = strathon_schema::projects::find(&mut conn, auth.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    let current = settings::get(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(view(&project, &current)))
}

/// `retention` of `PATCH /v1/settings`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `view_patch` reads the body
pub struct RetentionPatch {
    /// 1 to 3650 (400 otherwise).
    #[serde(default)]
    traces_days: i64,
}

/// `PATCH /v1/settings`: the fields to change.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `view_patch` reads the body
#[serde(deny_unknown_fields)]
pub struct DashboardSettingsPatch {
    /// Renames the project (trimmed, not blank).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    project_name: Option<String>,
    retention: Option<RetentionPatch>,
    pii_redaction_enabled: Option<bool>,
    content_capture_enabled: Option<bool>,
    #[serde(default)]
    intervention_default_action: DefaultAction,
}

/// Change the dashboard's settings
///
/// Changes the fields given. Unlike the original (which let a bad default
/// action reach the database), every value is checked and refused with a
/// 4xx.
#[utoipa::path(
    tag = "Settings",
    operation_id = "update_settings",
    security(("bearer" = ["project_settings:write"])),
    request_body = DashboardSettingsPatch,
    responses(
        (status = 200, description = "The settings now.", body = DashboardSettingsUpdated),
        (status = 400, description = "A default action other than `allow`/`block`, or a retention outside 1 to 3650 days."),
    ),
)]
#[patch("/v1/settings")]
pub async fn view_patch(
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    const KEYS: [&str; 5] = [
        "project_name",
        "retention",
        "pii_redaction_enabled",
        "content_capture_enabled",
        "intervention_default_action",
    ];
    if let Some(extra) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    // The same checks as /v1/project/settings for the shared fields.
    let mut shared = Map::new();
    if let Some(v) = body.get("intervention_default_action") {
        shared.insert("intervention_default_action".into(), v.clone());
    }
    match body.get("retention") {
        None | Some(Value::Null) => {}
        Some(Value::Object(r)) => {
            if let Some(days) = r.get("traces_days") {
                shared.insert("trace_retention_days".into(), days.clone());
            }
        }
        Some(_) => return Err(ApiError::field("retention", "retention must be an object")),
    }
    let mut changes = parse_changes(&shared)?;
    let flag = |key: &str| -> Result<Option<bool>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::field(key, &format!("{key} must be a boolean"))),
        }
    };
    changes.pii_redaction_enabled = flag("pii_redaction_enabled")?;
    changes.content_capture_enabled = flag("content_capture_enabled")?;
    let name = match body.get("project_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if (1..=200).contains(&n.trim().chars().count()) => Some(n.trim().to_owned()),
        Some(_) => {
            return Err(ApiError::field(
                "project_name",
                "project_name must be 1 to 200 characters",
            ))
        }
    };
    let mut conn = state.pool.get().await?;
    let (project, after) = conn
        .transaction(async |conn| {
            let project = strathon_schema::projects::find(conn, auth.project_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
            let before = settings::get(conn, auth.project_id).await?;
            let before_view = view(&project, &before);
            let project = match &name {
                Some(n) => strathon_schema::projects::rename(conn, auth.project_id, n).await?,
                None => project,
            };
            let after = settings::update(conn, auth.project_id, &changes).await?;
            let event = Event::new("project_settings.update", "project_settings", auth.project_id)
                .before(before_view)
                .after(view(&project, &after));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>((project, after))
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    let mut body = view(&project, &after);
    body["status"] = json!("updated");
    Ok(HttpResponse::Ok().json(body))
}

const ACTIONS: [&str; 2] = ["allow", "block"];

fn parse_changes(body: &Map<String, Value>) -> Result<Changes<'_>, ApiError> {
    let mut unknown: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "intervention_default_action" | "trace_retention_days"))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ApiError::BadRequest(
            format!("unknown settings keys: {unknown:?}").replace('"', "'"),
        ));
    }
    let mut changes = Changes::default();
    if let Some(v) = body.get("intervention_default_action") {
        match v.as_str().filter(|a| ACTIONS.contains(a)) {
            Some(action) => changes.intervention_default_action = Some(action),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "intervention_default_action must be one of ['allow', 'block'], got {}",
                    python_repr(v)
                )))
            }
        }
    }
    if let Some(v) = body.get("trace_retention_days") {
        match v.as_i64().filter(|d| (1..=3650).contains(d)) {
            Some(days) => changes.trace_retention_days = Some(days as i32),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "trace_retention_days must be between 1 and 3650, got {}",
                    python_repr(v)
                )))
            }
        }
    }
    Ok(changes)
}

/// Renders a JSON value the way the original's messages quote it.
fn python_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn validation_messages_match_the_contract() {
        let b = body(json!({"color": 1}));
        assert_eq!(
            parse_changes(&b).unwrap_err().to_string(),
            "unknown settings keys: ['color']"
        );
        let b = body(json!({"intervention_default_action": "deny"}));
        assert_eq!(
            parse_changes(&b).unwrap_err().to_string(),
            "intervention_default_action must be one of ['allow', 'block'], got 'deny'"
        );
        let b = body(json!({"trace_retention_days": 0}));
        assert_eq!(
            parse_changes(&b).unwrap_err().to_string(),
            "trace_retention_days must be between 1 and 3650, got 0"
        );
        let b = body(json!({"intervention_default_action": "block", "trace_retention_days": 7}));
        let c = parse_changes(&b).unwrap();
        assert_eq!(
            (c.intervention_default_action, c.trace_retention_days),
            (Some("block"), Some(7))
        );
    }
}
