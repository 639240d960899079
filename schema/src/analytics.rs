//! Rollups over a project's spans for charts and summaries: grouped counts
//! (`/v1/spans/aggregate`), cost by period (`/v1/costs`), the agent → tool
//! graph (`/v1/topology`) and the overview's headline numbers. Every query
//! is confined to one project and a time window on the span start, so the
//! `(project_id, start_time_unix_nano)` index and partition pruning apply.

use bigdecimal::BigDecimal;
use diesel::sql_types::{BigInt, Double, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Span columns a rollup may group by; anything else is refused by the caller.
pub const GROUP_COLUMNS: [&str; 8] = [
    "agent_name",
    "tool_name",
    "operation_name",
    "request_model",
    "provider_name",
    "kind",
    "status_code",
    "intervention_state",
];

/// An optional `(after, before)` window on span start, both exclusive.
#[derive(Debug, Default, Clone, Copy)]
pub struct Window {
    pub after: Option<i64>,
    pub before: Option<i64>,
}

const WINDOW: &str = "project_id = $1 \
    AND ($2::bigint IS NULL OR start_time_unix_nano > $2) \
    AND ($3::bigint IS NULL OR start_time_unix_nano < $3)";

#[derive(Debug, Clone, QueryableByName)]
pub struct Group {
    #[diesel(sql_type = Nullable<Text>)]
    pub dimension: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub bucket: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub span_count: i64,
    #[diesel(sql_type = Numeric)]
    pub total_cost_usd: BigDecimal,
    #[diesel(sql_type = BigInt)]
    pub total_input_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub total_output_tokens: i64,
}

/// Counts, cost and tokens per value of `column` (one of [`GROUP_COLUMNS`]),
/// optionally per time bucket of `bucket_ns` aligned to the epoch.
pub async fn aggregate(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    column: &str,
    bucket_ns: Option<i64>,
    window: Window,
    limit: i64,
) -> diesel::QueryResult<Vec<Group>> {
    // The column comes from a fixed list, never from the caller's text.
    let column = GROUP_COLUMNS
        .iter()
        .find(|c| **c == column)
        .copied()
        .unwrap_or("request_model");
    let (bucket, order) = match bucket_ns {
        Some(width) => (
            format!("(start_time_unix_nano / {width}) * {width}"),
            "bucket DESC, span_count DESC, dimension",
        ),
        None => ("NULL::bigint".to_owned(), "span_count DESC, dimension"),
    };
    diesel::sql_query(format!(
        "SELECT {column} AS dimension, {bucket} AS bucket, count(*) AS span_count, \
                coalesce(sum(cost_usd), 0) AS total_cost_usd, \
                coalesce(sum(input_tokens), 0)::bigint AS total_input_tokens, \
                coalesce(sum(output_tokens), 0)::bigint AS total_output_tokens \
         FROM spans WHERE {WINDOW} GROUP BY 1, 2 ORDER BY {order} NULLS LAST LIMIT $4"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(window.after)
    .bind::<Nullable<BigInt>, _>(window.before)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// What `/v1/costs` groups spend by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostKey {
    Agent,
    Model,
    AgentModel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct CostRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub agent_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub model: Option<String>,
    #[diesel(sql_type = Text)]
    pub period_start: String,
    #[diesel(sql_type = BigInt)]
    pub span_count: i64,
    #[diesel(sql_type = Numeric)]
    pub total_cost_usd: BigDecimal,
    #[diesel(sql_type = BigInt)]
    pub total_input_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub total_output_tokens: i64,
}

/// Spend per UTC day or ISO week and per agent, model, or both; newest
/// period first, then the costliest.
pub async fn costs(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    key: CostKey,
    period: Period,
    window: Window,
    limit: i64,
) -> diesel::QueryResult<Vec<CostRow>> {
    let (agent, model) = match key {
        CostKey::Agent => ("agent_name", "NULL::text"),
        CostKey::Model => ("NULL::text", "coalesce(response_model, request_model)"),
        CostKey::AgentModel => ("agent_name", "coalesce(response_model, request_model)"),
    };
    let unit = match period {
        Period::Day => "day",
        Period::Week => "week",
    };
    diesel::sql_query(format!(
        "SELECT {agent} AS agent_name, {model} AS model, \
                to_char(date_trunc('{unit}', to_timestamp(start_time_unix_nano / 1e9) AT TIME ZONE 'UTC'), \
                        'YYYY-MM-DD HH24:MI:SS') AS period_start, \
                count(*) AS span_count, coalesce(sum(cost_usd), 0) AS total_cost_usd, \
                coalesce(sum(input_tokens), 0)::bigint AS total_input_tokens, \
                coalesce(sum(output_tokens), 0)::bigint AS total_output_tokens \
         FROM spans WHERE {WINDOW} GROUP BY 1, 2, 3 \
         ORDER BY period_start DESC, total_cost_usd DESC, 1, 2 LIMIT $4"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(window.after)
    .bind::<Nullable<BigInt>, _>(window.before)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// One agent → tool edge of the topology graph.
#[derive(Debug, Clone, QueryableByName)]
pub struct Edge {
    #[diesel(sql_type = Text)]
    pub agent_name: String,
    #[diesel(sql_type = Text)]
    pub tool_name: String,
    #[diesel(sql_type = BigInt)]
    pub call_count: i64,
    #[diesel(sql_type = BigInt)]
    pub error_count: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_duration_ms: Option<f64>,
}

/// An agent's activity, for the topology's agent nodes.
#[derive(Debug, Clone, QueryableByName)]
pub struct AgentNode {
    #[diesel(sql_type = Text)]
    pub agent_name: String,
    #[diesel(sql_type = BigInt)]
    pub span_count: i64,
    #[diesel(sql_type = BigInt)]
    pub error_count: i64,
}

/// Which tools each agent called, how often, and how often it failed.
pub async fn topology(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    window: Window,
) -> diesel::QueryResult<(Vec<AgentNode>, Vec<Edge>)> {
    let agents = diesel::sql_query(format!(
        "SELECT agent_name, count(*) AS span_count, \
                count(*) FILTER (WHERE status_code = 'ERROR') AS error_count \
         FROM spans WHERE {WINDOW} AND agent_name IS NOT NULL \
         GROUP BY agent_name ORDER BY span_count DESC, agent_name LIMIT 500"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(window.after)
    .bind::<Nullable<BigInt>, _>(window.before)
    .load(conn)
    .await?;
    let edges = diesel::sql_query(format!(
        "SELECT agent_name, tool_name, count(*) AS call_count, \
                count(*) FILTER (WHERE status_code = 'ERROR') AS error_count, \
                avg((end_time_unix_nano - start_time_unix_nano) / 1e6::double precision) \
                    FILTER (WHERE end_time_unix_nano IS NOT NULL) AS avg_duration_ms \
         FROM spans WHERE {WINDOW} AND agent_name IS NOT NULL AND tool_name IS NOT NULL \
         GROUP BY agent_name, tool_name ORDER BY call_count DESC, agent_name, tool_name LIMIT 2000"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(window.after)
    .bind::<Nullable<BigInt>, _>(window.before)
    .load(conn)
    .await?;
    Ok((agents, edges))
}

/// The headline numbers of a project since a moment.
#[derive(Debug, Clone, QueryableByName)]
pub struct Summary {
    #[diesel(sql_type = BigInt)]
    pub spans: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = BigInt)]
    pub blocked: i64,
    #[diesel(sql_type = BigInt)]
    pub steered: i64,
    #[diesel(sql_type = BigInt)]
    pub throttled: i64,
    #[diesel(sql_type = BigInt)]
    pub halted: i64,
    #[diesel(sql_type = BigInt)]
    pub approvals_requested: i64,
    #[diesel(sql_type = Numeric)]
    pub cost_usd: BigDecimal,
    #[diesel(sql_type = BigInt)]
    pub input_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub output_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub traces: i64,
    #[diesel(sql_type = BigInt)]
    pub pending_approvals: i64,
    #[diesel(sql_type = BigInt)]
    pub active_halts: i64,
    #[diesel(sql_type = Numeric)]
    pub spend_today_usd: BigDecimal,
    #[diesel(sql_type = Numeric)]
    pub spend_month_usd: BigDecimal,
}

/// Spans, traces, interventions and cost since `since_ns`, what is waiting
/// on a human, and spend in the current UTC day and month, in one round trip.
pub async fn summary(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
    day_start_ns: i64,
    month_start_ns: i64,
) -> diesel::QueryResult<Summary> {
    diesel::sql_query(
        "SELECT s.*, \
            (SELECT count(*) FROM traces WHERE project_id = $1 AND start_time_unix_nano >= $2) AS traces, \
            (SELECT count(*) FROM approvals WHERE project_id = $1 AND status = 'pending') AS pending_approvals, \
            (SELECT count(*) FROM halts WHERE project_id = $1 AND cleared_at IS NULL) AS active_halts, \
            (SELECT coalesce(sum(cost_usd), 0) FROM spans \
                WHERE project_id = $1 AND end_time_unix_nano >= $3 AND cost_usd IS NOT NULL) AS spend_today_usd, \
            (SELECT coalesce(sum(cost_usd), 0) FROM spans \
                WHERE project_id = $1 AND end_time_unix_nano >= $4 AND cost_usd IS NOT NULL) AS spend_month_usd \
         FROM ( \
            SELECT count(*) AS spans, \
                count(*) FILTER (WHERE status_code = 'ERROR') AS errors, \
                count(*) FILTER (WHERE intervention_state = 'blocked') AS blocked, \
                count(*) FILTER (WHERE intervention_state IN ('steered', 'steer_attempted')) AS steered, \
                count(*) FILTER (WHERE intervention_state = 'throttled') AS throttled, \
                count(*) FILTER (WHERE intervention_state = 'halted') AS halted, \
                count(*) FILTER (WHERE intervention_state = 'approval_requested') AS approvals_requested, \
                coalesce(sum(cost_usd), 0) AS cost_usd, \
                coalesce(sum(input_tokens), 0)::bigint AS input_tokens, \
                coalesce(sum(output_tokens), 0)::bigint AS output_tokens \
            FROM spans WHERE project_id = $1 AND start_time_unix_nano >= $2 \
         ) s",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(since_ns)
    .bind::<BigInt, _>(day_start_ns)
    .bind::<BigInt, _>(month_start_ns)
    .get_result(conn)
    .await
}
