use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{organizations, project_settings, projects};

/// The single organization of a self-hosted install.
pub const DEFAULT_ORG_ID: Uuid = Uuid::from_u128(0xaa);
/// The project every self-hosted install starts with (slug `default`).
pub const DEFAULT_PROJECT_ID: Uuid = Uuid::from_u128(1);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Serializes bootstrap between replicas starting together ("StraBoot").
const BOOTSTRAP_LOCK: i64 = 0x5374_7261_426f_6f74;

/// Creates the default organization, project and settings row when absent.
/// Idempotent: every self-hosted start calls it.
pub async fn ensure_default(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    conn.transaction(async |conn| insert_defaults(conn).await).await
}

async fn insert_defaults(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    // ON CONFLICT (id) alone does not cover a concurrent insert that trips
    // the slug index first; one bootstrap at a time avoids that race.
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(BOOTSTRAP_LOCK)
        .execute(conn)
        .await?;
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(DEFAULT_ORG_ID),
            organizations::name.eq("Default"),
            organizations::slug.eq("default"),
        ))
        .on_conflict(organizations::id)
        .do_nothing()
        .execute(conn)
        .await?;
    diesel::insert_into(projects::table)
        .values((
            projects::id.eq(DEFAULT_PROJECT_ID),
            projects::org_id.eq(DEFAULT_ORG_ID),
            projects::name.eq("Default"),
            projects::slug.eq("default"),
        ))
        .on_conflict(projects::id)
        .do_nothing()
        .execute(conn)
        .await?;
    diesel::insert_into(project_settings::table)
        .values(project_settings::project_id.eq(DEFAULT_PROJECT_ID))
        .on_conflict(project_settings::project_id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Project>> {
    projects::table
        .find(id)
        .select(Project::as_select())
        .first(conn)
        .await
        .optional()
}

/// Creates a live project with its settings row, in the caller's transaction.
pub async fn create(conn: &mut AsyncPgConnection, org_id: Uuid, name: &str, slug: &str) -> QueryResult<Project> {
    let project: Project = diesel::insert_into(projects::table)
        .values((
            projects::org_id.eq(org_id),
            projects::name.eq(name),
            projects::slug.eq(slug),
        ))
        .returning(Project::as_returning())
        .get_result(conn)
        .await?;
    diesel::insert_into(project_settings::table)
        .values(project_settings::project_id.eq(project.id))
        .execute(conn)
        .await?;
    Ok(project)
}

/// Live projects of an organization (and deleted ones when asked), by name.
pub async fn list(conn: &mut AsyncPgConnection, org_id: Uuid, include_deleted: bool) -> QueryResult<Vec<Project>> {
    let mut q = projects::table.filter(projects::org_id.eq(org_id)).into_boxed();
    if !include_deleted {
        q = q.filter(projects::deleted_at.is_null());
    }
    q.order(projects::name.asc())
        .select(Project::as_select())
        .load(conn)
        .await
}

pub async fn find_by_slug(conn: &mut AsyncPgConnection, org_id: Uuid, slug: &str) -> QueryResult<Option<Project>> {
    projects::table
        .filter(projects::org_id.eq(org_id))
        .filter(projects::slug.eq(slug))
        .filter(projects::deleted_at.is_null())
        .select(Project::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn rename(conn: &mut AsyncPgConnection, id: Uuid, name: &str) -> QueryResult<Project> {
    diesel::update(projects::table.find(id))
        .set(projects::name.eq(name))
        .returning(Project::as_returning())
        .get_result(conn)
        .await
}

/// Soft-deletes a project and revokes its live keys.
pub async fn soft_delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    use crate::schema::api_keys;
    diesel::update(projects::table.find(id))
        .set(projects::deleted_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts shown with a project: live keys, policies, traces.
pub async fn resource_counts(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<(i64, i64, i64)> {
    use crate::schema::{api_keys, policies, traces};
    let keys = api_keys::table
        .filter(api_keys::project_id.eq(id))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    let pols = policies::table
        .filter(policies::project_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    let trs = traces::table
        .filter(traces::project_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok((keys, pols, trs))
}
