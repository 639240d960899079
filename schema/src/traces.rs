use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Deletes at most `limit` of the project's traces that started before
/// `cutoff_ns`, oldest first; their spans go with them (FK cascade).
pub async fn delete_older_than(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    cutoff_ns: i64,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM traces t USING ( \
             SELECT id FROM traces \
             WHERE project_id = $1 AND start_time_unix_nano < $2 \
             ORDER BY start_time_unix_nano LIMIT $3 \
         ) doomed \
         WHERE t.project_id = $1 AND t.id = doomed.id",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(cutoff_ns)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}

use bigdecimal::BigDecimal;
use diesel::pg::Pg;

use crate::schema::traces;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = traces)]
pub struct Trace {
    pub project_id: Uuid,
    pub id: Vec<u8>,
    pub start_time_unix_nano: i64,
    pub end_time_unix_nano: Option<i64>,
    pub agent_name: Option<String>,
    pub workflow_name: Option<String>,
    pub total_cost_usd: Option<BigDecimal>,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub span_count: i32,
    pub intervention_state: String,
    /// The commit the agent ran (`strathon.git.commit` on its spans).
    pub git_commit_sha: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceSort {
    Started,
    Duration,
    Spans,
    Cost,
    Agent,
}

#[derive(Debug, Default, Clone)]
pub struct TraceQuery {
    pub start_after: Option<i64>,
    pub start_before: Option<i64>,
    pub agent_name: Option<String>,
    pub workflow_name: Option<String>,
    pub intervention_state: Option<String>,
    /// Traces whose commit starts with this (lower-case hex).
    pub git_commit: Option<String>,
    /// Keyset position for the default newest-first order.
    pub after: Option<(i64, Vec<u8>)>,
    pub sort: Option<(TraceSort, bool)>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid, q: &TraceQuery) -> QueryResult<Vec<Trace>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Bytea};

    let mut query: traces::BoxedQuery<'_, Pg> = traces::table.filter(traces::project_id.eq(project_id)).into_boxed();
    if let Some(t) = q.start_after {
        query = query.filter(traces::start_time_unix_nano.gt(t));
    }
    if let Some(t) = q.start_before {
        query = query.filter(traces::start_time_unix_nano.lt(t));
    }
    if let Some(agent) = &q.agent_name {
        query = query.filter(traces::agent_name.eq(agent.clone()));
    }
    if let Some(workflow) = &q.workflow_name {
        query = query.filter(traces::workflow_name.eq(workflow.clone()));
    }
    if let Some(state) = &q.intervention_state {
        query = query.filter(traces::intervention_state.eq(state.clone()));
    }
    if let Some(sha) = &q.git_commit {
        query = query.filter(traces::git_commit_sha.like(format!("{sha}%")));
    }
    query = match q.sort {
        None => {
            if let Some((t, id)) = &q.after {
                query = query.filter(
                    sql::<Bool>("(start_time_unix_nano, id) < (")
                        .bind::<BigInt, _>(*t)
                        .sql(", ")
                        .bind::<Bytea, _>(id.clone())
                        .sql(")"),
                );
            }
            query.order((traces::start_time_unix_nano.desc(), traces::id.desc()))
        }
        Some((field, asc)) => {
            let dir = if asc { "ASC" } else { "DESC" };
            let expr = match field {
                TraceSort::Started => "start_time_unix_nano",
                TraceSort::Duration => "coalesce(end_time_unix_nano - start_time_unix_nano, 0)",
                TraceSort::Spans => "span_count",
                TraceSort::Cost => "coalesce(total_cost_usd, 0)",
                TraceSort::Agent => "agent_name",
            };
            query
                .order(sql::<BigInt>(&format!("{expr} {dir} NULLS LAST")))
                .then_order_by((traces::start_time_unix_nano.desc(), traces::id.desc()))
                .offset(q.offset)
        }
    };
    query.select(Trace::as_select()).limit(q.limit).load(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: &[u8]) -> QueryResult<Option<Trace>> {
    traces::table
        .select(Trace::as_select())
        .filter(traces::project_id.eq(project_id))
        .filter(traces::id.eq(id))
        .first(conn)
        .await
        .optional()
}
