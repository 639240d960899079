//! `GET` and `PATCH /v1/project/settings`: the project's default action for
//! unmatched tool calls and its trace retention.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use strathon_schema::settings::{self, Changes, Settings};

use diesel_async::AsyncConnection as _;

use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

fn render(s: &Settings) -> Value {
    json!({
        "intervention_default_action": s.intervention_default_action,
        "trace_retention_days": s.trace_retention_days,
    })
}

pub async fn get(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let current = settings::get(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(render(&current)))
}

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
