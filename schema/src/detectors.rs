//! What the behavioural-drift and incident detectors read and keep.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{detector_cursors as cursors, drift_baselines as baselines, incidents, projects};

/// The live projects, for detectors that look at each in turn.
pub async fn live_projects(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Uuid>> {
    projects::table
        .filter(projects::deleted_at.is_null())
        .order(projects::id.asc())
        .select(projects::id)
        .load(conn)
        .await
}

pub async fn cursor(conn: &mut AsyncPgConnection, detector: &str) -> QueryResult<Option<i64>> {
    cursors::table
        .find(detector)
        .select(cursors::observed_until)
        .first(conn)
        .await
        .optional()
}

pub async fn set_cursor(conn: &mut AsyncPgConnection, detector: &str, until: i64) -> QueryResult<()> {
    diesel::insert_into(cursors::table)
        .values((cursors::detector.eq(detector), cursors::observed_until.eq(until)))
        .on_conflict(cursors::detector)
        .do_update()
        .set(cursors::observed_until.eq(until))
        .execute(conn)
        .await
        .map(|_| ())
}

/// One agent's tool calls of one tool (`''` for spans that are not tool
/// calls) and their cost, in a window.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Activity {
    #[diesel(sql_type = Text)]
    pub agent_name: String,
    #[diesel(sql_type = Text)]
    pub tool_name: String,
    #[diesel(sql_type = BigInt)]
    pub spans: i64,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
}

/// Every agent's activity among the spans that started in `[from, until)`.
pub async fn activity(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    from: i64,
    until: i64,
) -> QueryResult<Vec<Activity>> {
    diesel::sql_query(
        "SELECT agent_name, coalesce(tool_name, '') AS tool_name, count(*) AS spans,
                coalesce(sum(cost_usd), 0)::float8 AS cost_usd
         FROM spans
         WHERE project_id = $1 AND start_time_unix_nano >= $2 AND start_time_unix_nano < $3
           AND agent_name IS NOT NULL
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(from)
    .bind::<BigInt, _>(until)
    .load(conn)
    .await
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = baselines)]
pub struct Baseline {
    pub project_id: Uuid,
    pub agent_name: String,
    pub metric: String,
    pub observations: i32,
    pub mean: f64,
    pub variance: f64,
    pub cusum_high: f64,
    pub cusum_low: f64,
}

pub async fn baselines(conn: &mut AsyncPgConnection, project_id: Uuid, agent: &str) -> QueryResult<Vec<Baseline>> {
    baselines::table
        .filter(baselines::project_id.eq(project_id))
        .filter(baselines::agent_name.eq(agent))
        .select(Baseline::as_select())
        .load(conn)
        .await
}

pub async fn save_baselines(conn: &mut AsyncPgConnection, rows: &[Baseline]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    use diesel::upsert::excluded;
    diesel::insert_into(baselines::table)
        .values(rows)
        .on_conflict((baselines::project_id, baselines::agent_name, baselines::metric))
        .do_update()
        .set((
            baselines::observations.eq(excluded(baselines::observations)),
            baselines::mean.eq(excluded(baselines::mean)),
            baselines::variance.eq(excluded(baselines::variance)),
            baselines::cusum_high.eq(excluded(baselines::cusum_high)),
            baselines::cusum_low.eq(excluded(baselines::cusum_low)),
            baselines::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Blocked calls among the project's spans since `since_ns`: interventions
/// the SDK or the MCP gateway recorded as `blocked`, and spans a block
/// policy matched at ingest, each counted once.
pub async fn blocked_since(conn: &mut AsyncPgConnection, project_id: Uuid, since_ns: i64) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM (
             SELECT trace_id, span_id FROM spans
             WHERE project_id = $1 AND start_time_unix_nano >= $2 AND intervention_state = 'blocked'
             UNION
             SELECT trace_id, span_id FROM policy_matches
             WHERE project_id = $1 AND matched_at >= to_timestamp($2 / 1e9) AND action_outcome = 'block_recorded'
         ) blocked",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(since_ns)
    .get_result(conn)
    .await?;
    Ok(row.n)
}

/// Agents with at least `threshold` error spans since `since_ns`. Spans
/// that are errors because a policy or halt stopped the call are
/// interventions, counted as blocks, not as the agent failing.
pub async fn erring_agents(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
    threshold: i64,
) -> QueryResult<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        agent_name: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT agent_name, count(*) AS n FROM spans
         WHERE project_id = $1 AND start_time_unix_nano >= $2 AND status_code = 'ERROR' AND agent_name IS NOT NULL
           AND (intervention_state IS NULL OR intervention_state = 'running')
         GROUP BY agent_name HAVING count(*) >= $3 ORDER BY agent_name",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(since_ns)
    .bind::<BigInt, _>(threshold)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.agent_name, r.n)).collect())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct Incident {
    pub id: Uuid,
    pub project_id: Uuid,
    pub trigger: String,
    pub agent_name: String,
    pub severity: String,
    pub count: i64,
    pub details: serde_json::Value,
    pub detected_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Opens an incident unless one is open for the same trigger and agent;
/// returns it only when it is new (the one to announce).
pub async fn open_incident(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    trigger: &str,
    agent_name: &str,
    severity: &str,
    count: i64,
    details: &serde_json::Value,
) -> QueryResult<Option<Incident>> {
    let opened: Option<Incident> = diesel::insert_into(incidents::table)
        .values((
            incidents::project_id.eq(project_id),
            incidents::trigger.eq(trigger),
            incidents::agent_name.eq(agent_name),
            incidents::severity.eq(severity),
            incidents::count.eq(count),
            incidents::details.eq(details),
        ))
        .on_conflict_do_nothing()
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if opened.is_none() {
        diesel::update(
            incidents::table
                .filter(incidents::project_id.eq(project_id))
                .filter(incidents::trigger.eq(trigger))
                .filter(incidents::agent_name.eq(agent_name))
                .filter(incidents::resolved_at.is_null()),
        )
        .set((
            incidents::last_seen_at.eq(diesel::dsl::now),
            incidents::count.eq(diesel::dsl::sql::<BigInt>("greatest(count, ")
                .bind::<BigInt, _>(count)
                .sql(")")),
        ))
        .execute(conn)
        .await?;
    }
    Ok(opened)
}

/// Resolves the project's open incidents that are not among `still`
/// (`(trigger, agent)` pairs still over their threshold).
pub async fn resolve_others(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    still: &[(String, String)],
) -> QueryResult<Vec<Incident>> {
    let open: Vec<Incident> = incidents::table
        .filter(incidents::project_id.eq(project_id))
        .filter(incidents::resolved_at.is_null())
        .select(Incident::as_select())
        .load(conn)
        .await?;
    let mut resolved = Vec::new();
    for i in open {
        if still.iter().any(|(t, a)| *t == i.trigger && *a == i.agent_name) {
            continue;
        }
        let done = diesel::update(incidents::table.find(i.id))
            .set(incidents::resolved_at.eq(diesel::dsl::now))
            .returning(Incident::as_returning())
            .get_result(conn)
            .await?;
        resolved.push(done);
    }
    Ok(resolved)
}

/// The project's incidents, newest first.
pub async fn list_incidents(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    open_only: bool,
    limit: i64,
) -> QueryResult<Vec<Incident>> {
    let mut q = incidents::table
        .filter(incidents::project_id.eq(project_id))
        .into_boxed();
    if open_only {
        q = q.filter(incidents::resolved_at.is_null());
    }
    q.order((incidents::detected_at.desc(), incidents::id.desc()))
        .limit(limit)
        .select(Incident::as_select())
        .load(conn)
        .await
}
