//! Span reads: search with filters and keyset or offset pagination, one
//! span, and a trace's spans. Every query is confined to one project.

use bigdecimal::BigDecimal;
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Bytea, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::spans;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = spans)]
pub struct Span {
    pub project_id: Uuid,
    pub start_time_unix_nano: i64,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Option<Vec<u8>>,
    pub name: String,
    pub kind: String,
    pub end_time_unix_nano: Option<i64>,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub operation_name: Option<String>,
    pub provider_name: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub workflow_name: Option<String>,
    pub conversation_id: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<BigDecimal>,
    pub intervention_state: Option<String>,
    pub attributes: serde_json::Value,
}

/// Columns the span search filters on by equality.
pub const EQUALITY_FILTERS: [&str; 12] = [
    "agent_name",
    "agent_id",
    "tool_name",
    "operation_name",
    "request_model",
    "response_model",
    "kind",
    "status_code",
    "intervention_state",
    "workflow_name",
    "conversation_id",
    "provider_name",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanSort {
    Started,
    Duration,
    Name,
    Operation,
    Status,
}

#[derive(Debug, Default, Clone)]
pub struct SpanQuery {
    pub start_after: Option<i64>,
    pub start_before: Option<i64>,
    /// (column from EQUALITY_FILTERS, value)
    pub equals: Vec<(String, String)>,
    /// Attribute containment: every (key, value) must be a stored string attribute.
    pub attributes: Vec<(String, String)>,
    /// Full text in websearch syntax over name, agent, tool, operation, model.
    pub text: Option<String>,
    /// Keyset position for the default newest-first order.
    pub after: Option<(i64, Vec<u8>, Vec<u8>)>,
    /// An explicit order, paged by offset.
    pub sort: Option<(SpanSort, bool)>,
    pub offset: i64,
    pub limit: i64,
}

type Boxed<'a> = spans::BoxedQuery<'a, Pg>;

fn equal<'a>(query: Boxed<'a>, column: &str, value: String) -> Boxed<'a> {
    match column {
        "agent_name" => query.filter(spans::agent_name.eq(value)),
        "agent_id" => query.filter(spans::agent_id.eq(value)),
        "tool_name" => query.filter(spans::tool_name.eq(value)),
        "operation_name" => query.filter(spans::operation_name.eq(value)),
        "request_model" => query.filter(spans::request_model.eq(value)),
        "response_model" => query.filter(spans::response_model.eq(value)),
        "kind" => query.filter(spans::kind.eq(value)),
        "status_code" => query.filter(spans::status_code.eq(value)),
        "intervention_state" => query.filter(spans::intervention_state.eq(value)),
        "workflow_name" => query.filter(spans::workflow_name.eq(value)),
        "conversation_id" => query.filter(spans::conversation_id.eq(value)),
        "provider_name" => query.filter(spans::provider_name.eq(value)),
        _ => query,
    }
}

/// Up to `limit` matching spans (callers ask for one more to detect a next page).
pub async fn search(conn: &mut AsyncPgConnection, project_id: Uuid, q: &SpanQuery) -> QueryResult<Vec<Span>> {
    let mut query: Boxed<'_> = spans::table.filter(spans::project_id.eq(project_id)).into_boxed();
    if let Some(t) = q.start_after {
        query = query.filter(spans::start_time_unix_nano.gt(t));
    }
    if let Some(t) = q.start_before {
        query = query.filter(spans::start_time_unix_nano.lt(t));
    }
    for (column, value) in &q.equals {
        query = equal(query, column, value.clone());
    }
    for (key, value) in &q.attributes {
        query = query.filter(spans::attributes.contains(serde_json::json!({ key: value })));
    }
    if let Some(text) = &q.text {
        query = query.filter(
            sql::<Bool>("search_vector @@ websearch_to_tsquery('simple', ")
                .bind::<Text, _>(text.clone())
                .sql(")"),
        );
    }
    query = match q.sort {
        None => {
            if let Some((t, trace, span)) = &q.after {
                query = query.filter(
                    sql::<Bool>("(start_time_unix_nano, trace_id, span_id) < (")
                        .bind::<BigInt, _>(*t)
                        .sql(", ")
                        .bind::<Bytea, _>(trace.clone())
                        .sql(", ")
                        .bind::<Bytea, _>(span.clone())
                        .sql(")"),
                );
            }
            query.order((
                spans::start_time_unix_nano.desc(),
                spans::trace_id.desc(),
                spans::span_id.desc(),
            ))
        }
        Some((field, asc)) => {
            let ordered = match (field, asc) {
                (SpanSort::Started, true) => query.order(spans::start_time_unix_nano.asc()),
                (SpanSort::Started, false) => query.order(spans::start_time_unix_nano.desc()),
                (SpanSort::Duration, true) => query.order(sql::<BigInt>(
                    "coalesce(end_time_unix_nano - start_time_unix_nano, 0) ASC",
                )),
                (SpanSort::Duration, false) => query.order(sql::<BigInt>(
                    "coalesce(end_time_unix_nano - start_time_unix_nano, 0) DESC",
                )),
                (SpanSort::Name, true) => query.order(spans::name.asc()),
                (SpanSort::Name, false) => query.order(spans::name.desc()),
                (SpanSort::Operation, true) => query.order(spans::operation_name.asc()),
                (SpanSort::Operation, false) => query.order(spans::operation_name.desc()),
                (SpanSort::Status, true) => query.order(spans::status_code.asc()),
                (SpanSort::Status, false) => query.order(spans::status_code.desc()),
            };
            ordered
                .then_order_by((spans::start_time_unix_nano.desc(), spans::span_id.desc()))
                .offset(q.offset)
        }
    };
    query.select(Span::as_select()).limit(q.limit).load(conn).await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    trace_id: &[u8],
    span_id: &[u8],
) -> QueryResult<Option<Span>> {
    spans::table
        .select(Span::as_select())
        .filter(spans::project_id.eq(project_id))
        .filter(spans::trace_id.eq(trace_id))
        .filter(spans::span_id.eq(span_id))
        .order(spans::start_time_unix_nano.desc())
        .first(conn)
        .await
        .optional()
}

/// A trace's spans in start order, at most `limit`.
pub async fn for_trace(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    trace_id: &[u8],
    limit: i64,
) -> QueryResult<Vec<Span>> {
    spans::table
        .select(Span::as_select())
        .filter(spans::project_id.eq(project_id))
        .filter(spans::trace_id.eq(trace_id))
        .order((spans::start_time_unix_nano.asc(), spans::span_id.asc()))
        .limit(limit)
        .load(conn)
        .await
}
