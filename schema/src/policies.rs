//! Policies and their version history.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{policies, policy_versions};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policies)]
pub struct Policy {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub match_expression: String,
    pub action: String,
    pub action_config: serde_json::Value,
    pub applies_to: Vec<String>,
    pub enabled: bool,
    pub priority: i32,
    pub shadow: bool,
    pub match_count: i64,
    pub last_matched_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every writable field, for create (all set) and update (`None` = keep).
#[derive(Debug, Default, Clone, AsChangeset, Insertable)]
#[diesel(table_name = policies)]
pub struct PolicyFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub match_expression: Option<String>,
    pub action: Option<String>,
    pub action_config: Option<serde_json::Value>,
    pub applies_to: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub priority: Option<i32>,
    pub shadow: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policy_versions)]
pub struct Version {
    pub id: i64,
    pub policy_id: Uuid,
    pub project_id: Uuid,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    pub match_expression: String,
    pub action: String,
    pub action_config: serde_json::Value,
    pub applies_to: Vec<String>,
    pub enabled: bool,
    pub priority: i32,
    pub change_type: String,
    pub changed_at: DateTime<Utc>,
}

/// The project's policies in evaluation order: priority high to low, then name.
pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Policy>> {
    policies::table
        .filter(policies::project_id.eq(project_id))
        .order((policies::priority.desc(), policies::name.asc()))
        .select(Policy::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Policy>> {
    policies::table
        .filter(policies::project_id.eq(project_id))
        .find(id)
        .select(Policy::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn insert(conn: &mut AsyncPgConnection, project_id: Uuid, fields: &PolicyFields) -> QueryResult<Policy> {
    let policy: Policy = diesel::insert_into(policies::table)
        .values((policies::project_id.eq(project_id), fields))
        .returning(Policy::as_returning())
        .get_result(conn)
        .await?;
    snapshot(conn, &policy, "create").await?;
    Ok(policy)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    fields: &PolicyFields,
) -> QueryResult<Option<Policy>> {
    let updated: Option<Policy> = diesel::update(policies::table.filter(policies::project_id.eq(project_id)).find(id))
        .set((fields, policies::updated_at.eq(diesel::dsl::now)))
        .returning(Policy::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(p) = &updated {
        snapshot(conn, p, "update").await?;
    }
    Ok(updated)
}

pub async fn delete(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Policy>> {
    diesel::delete(policies::table.filter(policies::project_id.eq(project_id)).find(id))
        .returning(Policy::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records the policy as it now stands as the next version.
async fn snapshot(conn: &mut AsyncPgConnection, p: &Policy, change_type: &str) -> QueryResult<()> {
    let next: i32 = policy_versions::table
        .filter(policy_versions::policy_id.eq(p.id))
        .select(diesel::dsl::max(policy_versions::version))
        .first::<Option<i32>>(conn)
        .await?
        .unwrap_or(0)
        + 1;
    diesel::insert_into(policy_versions::table)
        .values((
            policy_versions::policy_id.eq(p.id),
            policy_versions::project_id.eq(p.project_id),
            policy_versions::version.eq(next),
            policy_versions::name.eq(&p.name),
            policy_versions::description.eq(&p.description),
            policy_versions::match_expression.eq(&p.match_expression),
            policy_versions::action.eq(&p.action),
            policy_versions::action_config.eq(&p.action_config),
            policy_versions::applies_to.eq(&p.applies_to),
            policy_versions::enabled.eq(p.enabled),
            policy_versions::priority.eq(p.priority),
            policy_versions::change_type.eq(change_type),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Newest first, at most 50.
pub async fn versions(conn: &mut AsyncPgConnection, project_id: Uuid, policy_id: Uuid) -> QueryResult<Vec<Version>> {
    policy_versions::table
        .filter(policy_versions::project_id.eq(project_id))
        .filter(policy_versions::policy_id.eq(policy_id))
        .order(policy_versions::version.desc())
        .limit(50)
        .select(Version::as_select())
        .load(conn)
        .await
}

pub async fn version(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    policy_id: Uuid,
    version: i32,
) -> QueryResult<Option<Version>> {
    policy_versions::table
        .filter(policy_versions::project_id.eq(project_id))
        .filter(policy_versions::policy_id.eq(policy_id))
        .filter(policy_versions::version.eq(version))
        .select(Version::as_select())
        .first(conn)
        .await
        .optional()
}

/// A recorded match with its policy: (policy name, action, outcome, trace
/// id, span id, matched at, metadata with the span name).
pub type RecentMatch = (
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    DateTime<Utc>,
    serde_json::Value,
);

/// Recent matches with their policy, newest first.
pub async fn recent_matches(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<RecentMatch>> {
    use crate::schema::policy_matches;
    policy_matches::table
        .inner_join(policies::table)
        .filter(policy_matches::project_id.eq(project_id))
        .filter(policy_matches::matched_at.ge(since))
        .order(policy_matches::matched_at.desc())
        .limit(limit)
        .select((
            policies::name,
            policy_matches::action,
            policy_matches::action_outcome,
            policy_matches::trace_id,
            policy_matches::span_id,
            policy_matches::matched_at,
            policy_matches::metadata,
        ))
        .load(conn)
        .await
}
