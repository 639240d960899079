use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{project_settings, projects};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = project_settings)]
pub struct Settings {
    pub project_id: Uuid,
    pub intervention_default_action: String,
    pub trace_retention_days: i32,
    pub pii_redaction_enabled: bool,
    pub content_capture_enabled: bool,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = project_settings)]
pub struct Changes<'a> {
    pub intervention_default_action: Option<&'a str>,
    pub trace_retention_days: Option<i32>,
    pub pii_redaction_enabled: Option<bool>,
    pub content_capture_enabled: Option<bool>,
}

/// The project's settings; a project without a row gets the defaults.
pub async fn get(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Settings> {
    let found = project_settings::table
        .find(project_id)
        .select(Settings::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(found.unwrap_or(Settings {
        project_id,
        intervention_default_action: "allow".into(),
        trace_retention_days: 30,
        pii_redaction_enabled: true,
        content_capture_enabled: false,
    }))
}

pub async fn update(conn: &mut AsyncPgConnection, project_id: Uuid, changes: &Changes<'_>) -> QueryResult<Settings> {
    diesel::insert_into(project_settings::table)
        .values(project_settings::project_id.eq(project_id))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if changes.intervention_default_action.is_none()
        && changes.trace_retention_days.is_none()
        && changes.pii_redaction_enabled.is_none()
        && changes.content_capture_enabled.is_none()
    {
        return get(conn, project_id).await;
    }
    diesel::update(project_settings::table.find(project_id))
        .set(changes)
        .returning(Settings::as_returning())
        .get_result(conn)
        .await
}

/// Live projects whose traces expire, with their retention in days.
pub async fn retention_targets(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(Uuid, i32)>> {
    project_settings::table
        .inner_join(projects::table)
        .filter(projects::deleted_at.is_null())
        .filter(project_settings::trace_retention_days.gt(0))
        .select((project_settings::project_id, project_settings::trace_retention_days))
        .order(project_settings::project_id)
        .load(conn)
        .await
}

/// The redaction columns of a project's settings row (defaults when absent).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = project_settings)]
pub struct Redaction {
    pub pii_redaction_enabled: bool,
    pub pii_redaction_patterns: serde_json::Value,
    pub pii_redaction_strategy: serde_json::Value,
    pub pii_redaction_key_actions: serde_json::Value,
    pub pii_attribute_allowlist: serde_json::Value,
}

pub async fn redaction(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Redaction> {
    let found = project_settings::table
        .find(project_id)
        .select(Redaction::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(found.unwrap_or(Redaction {
        pii_redaction_enabled: true,
        pii_redaction_patterns: serde_json::json!([]),
        pii_redaction_strategy: serde_json::json!({}),
        pii_redaction_key_actions: serde_json::json!({}),
        pii_attribute_allowlist: serde_json::json!([]),
    }))
}
