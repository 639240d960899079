//! Rollups over a project's spans for charts and summaries. Exact ones scan
//! spans in any window (`/v1/spans/aggregate`, `/v1/costs`); the dashboard's
//! views read `span_rollups`, the hourly counts the ingest writer keeps in
//! the spans' own transaction, so they stay fast at millions of spans
//! (windows there are whole hours). Every query is confined to one project.

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

/// The hour (ns) a moment falls in, as `span_rollups` keys it.
pub fn hour_of(ns: i64) -> i64 {
    ns.div_euclid(HOUR_NS) * HOUR_NS
}

pub const HOUR_NS: i64 = 3_600_000_000_000;

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

/// The hours a window covers, for rollup queries: from the hour `after`
/// falls in to the hour `before` falls in.
const ROLLUP_WINDOW: &str = "project_id = $1 \
    AND ($2::bigint IS NULL OR hour >= $2) \
    AND ($3::bigint IS NULL OR hour <= $3)";

fn hours(window: Window) -> (Option<i64>, Option<i64>) {
    (window.after.map(hour_of), window.before.map(hour_of))
}

/// Which tools each agent called, how often, and how often it failed.
pub async fn topology(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    window: Window,
) -> diesel::QueryResult<(Vec<AgentNode>, Vec<Edge>)> {
    let (from, to) = hours(window);
    let agents = diesel::sql_query(format!(
        "SELECT agent_name, sum(spans)::bigint AS span_count, \
                coalesce(sum(spans) FILTER (WHERE error), 0)::bigint AS error_count \
         FROM span_rollups WHERE {ROLLUP_WINDOW} AND agent_name <> '' \
         GROUP BY agent_name ORDER BY span_count DESC, agent_name LIMIT 500"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(from)
    .bind::<Nullable<BigInt>, _>(to)
    .load(conn)
    .await?;
    let edges = diesel::sql_query(format!(
        "SELECT agent_name, tool_name, sum(spans)::bigint AS call_count, \
                coalesce(sum(spans) FILTER (WHERE error), 0)::bigint AS error_count, \
                sum(duration_ms) / nullif(sum(ended), 0) AS avg_duration_ms \
         FROM span_rollups WHERE {ROLLUP_WINDOW} AND agent_name <> '' AND tool_name <> '' \
         GROUP BY agent_name, tool_name ORDER BY call_count DESC, agent_name, tool_name LIMIT 2000"
    ))
    .bind::<SqlUuid, _>(project_id)
    .bind::<Nullable<BigInt>, _>(from)
    .bind::<Nullable<BigInt>, _>(to)
    .load(conn)
    .await?;
    Ok((agents, edges))
}

/// One agent's activity in a window, for the agent inventory.
#[derive(Debug, Clone, QueryableByName)]
pub struct AgentActivity {
    #[diesel(sql_type = Text)]
    pub agent_name: String,
    #[diesel(sql_type = BigInt)]
    pub first_seen: i64,
    #[diesel(sql_type = BigInt)]
    pub last_active: i64,
    #[diesel(sql_type = BigInt)]
    pub total_spans: i64,
    #[diesel(sql_type = Numeric)]
    pub total_cost_usd: BigDecimal,
    #[diesel(sql_type = BigInt)]
    pub total_tool_calls: i64,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub tools_used: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub models_used: Vec<String>,
    /// Calls the firewall blocked, steered or throttled.
    #[diesel(sql_type = BigInt)]
    pub interventions: i64,
}

/// The agents active since `since_ns` (by the hour), most recent first.
pub async fn agents(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
    limit: i64,
) -> diesel::QueryResult<Vec<AgentActivity>> {
    diesel::sql_query(
        "SELECT agent_name, min(first_start) AS first_seen, max(last_start) AS last_active, \
                sum(spans)::bigint AS total_spans, sum(cost_usd) AS total_cost_usd, \
                coalesce(sum(spans) FILTER (WHERE tool_name <> ''), 0)::bigint AS total_tool_calls, \
                coalesce(array_agg(DISTINCT tool_name) FILTER (WHERE tool_name <> ''), '{}') AS tools_used, \
                coalesce(array_agg(DISTINCT model) FILTER (WHERE model <> ''), '{}') AS models_used, \
                coalesce(sum(spans) FILTER (WHERE intervention_state IN ('blocked', 'steered', 'throttled')), 0)::bigint \
                    AS interventions \
         FROM span_rollups WHERE project_id = $1 AND hour >= $2 AND agent_name <> '' \
         GROUP BY agent_name ORDER BY max(last_start) DESC LIMIT $3",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(hour_of(since_ns))
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
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

/// Spans, traces, interventions and cost since `since_ns` (by the hour),
/// what is waiting on a human, and spend since the starts of the current
/// UTC day and month, in one round trip.
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
            (SELECT coalesce(sum(cost_usd), 0) FROM span_rollups WHERE project_id = $1 AND hour >= $3) \
                AS spend_today_usd, \
            (SELECT coalesce(sum(cost_usd), 0) FROM span_rollups WHERE project_id = $1 AND hour >= $4) \
                AS spend_month_usd \
         FROM ( \
            SELECT coalesce(sum(spans), 0)::bigint AS spans, \
                coalesce(sum(spans) FILTER (WHERE error), 0)::bigint AS errors, \
                coalesce(sum(spans) FILTER (WHERE intervention_state = 'blocked'), 0)::bigint AS blocked, \
                coalesce(sum(spans) FILTER (WHERE intervention_state IN ('steered', 'steer_attempted')), 0)::bigint \
                    AS steered, \
                coalesce(sum(spans) FILTER (WHERE intervention_state = 'throttled'), 0)::bigint AS throttled, \
                coalesce(sum(spans) FILTER (WHERE intervention_state = 'halted'), 0)::bigint AS halted, \
                coalesce(sum(spans) FILTER (WHERE intervention_state = 'approval_requested'), 0)::bigint \
                    AS approvals_requested, \
                coalesce(sum(cost_usd), 0) AS cost_usd, \
                coalesce(sum(input_tokens), 0)::bigint AS input_tokens, \
                coalesce(sum(output_tokens), 0)::bigint AS output_tokens \
            FROM span_rollups WHERE project_id = $1 AND hour >= $5 \
         ) s",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(since_ns)
    .bind::<BigInt, _>(hour_of(day_start_ns))
    .bind::<BigInt, _>(hour_of(month_start_ns))
    .bind::<BigInt, _>(hour_of(since_ns))
    .get_result(conn)
    .await
}

/// Spans per hour and intervention state (`''` for none) since `since_ns`.
#[derive(Debug, Clone, QueryableByName)]
pub struct HourCount {
    #[diesel(sql_type = BigInt)]
    pub hour: i64,
    #[diesel(sql_type = Text)]
    pub intervention_state: String,
    #[diesel(sql_type = BigInt)]
    pub spans: i64,
}

pub async fn hourly(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
) -> diesel::QueryResult<Vec<HourCount>> {
    diesel::sql_query(
        "SELECT hour, intervention_state, sum(spans)::bigint AS spans FROM span_rollups \
         WHERE project_id = $1 AND hour >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(hour_of(since_ns))
    .load(conn)
    .await
}

/// Spend per UTC day since `since_ns`.
#[derive(Debug, Clone, QueryableByName)]
pub struct DaySpend {
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = Numeric)]
    pub cost_usd: BigDecimal,
}

pub async fn daily_spend(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
) -> diesel::QueryResult<Vec<DaySpend>> {
    diesel::sql_query(
        "SELECT to_char(to_timestamp(hour / 1e9) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, sum(cost_usd) AS cost_usd \
         FROM span_rollups WHERE project_id = $1 AND hour >= $2 GROUP BY 1 ORDER BY 1",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(hour_of(since_ns))
    .load(conn)
    .await
}

/// The busiest agents since `since_ns`.
#[derive(Debug, Clone, QueryableByName)]
pub struct AgentTotal {
    #[diesel(sql_type = Text)]
    pub agent_name: String,
    #[diesel(sql_type = BigInt)]
    pub spans: i64,
    #[diesel(sql_type = Numeric)]
    pub cost_usd: BigDecimal,
}

pub async fn top_agents(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
    limit: i64,
) -> diesel::QueryResult<Vec<AgentTotal>> {
    diesel::sql_query(
        "SELECT agent_name, sum(spans)::bigint AS spans, sum(cost_usd) AS cost_usd FROM span_rollups \
         WHERE project_id = $1 AND hour >= $2 AND agent_name <> '' \
         GROUP BY agent_name ORDER BY spans DESC, agent_name LIMIT $3",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(hour_of(since_ns))
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// The project's span cost since `since_ns`, by the hour.
pub async fn cost_since(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since_ns: i64,
) -> diesel::QueryResult<BigDecimal> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = Numeric)]
        total: BigDecimal,
    }
    let row: Total = diesel::sql_query(
        "SELECT coalesce(sum(cost_usd), 0) AS total FROM span_rollups WHERE project_id = $1 AND hour >= $2",
    )
    .bind::<SqlUuid, _>(project_id)
    .bind::<BigInt, _>(hour_of(since_ns))
    .get_result(conn)
    .await?;
    Ok(row.total)
}

/// Rebuilds a project's rollups from its stored spans (after spans were
/// loaded by other means than ingest, e.g. `strathon adopt`).
pub async fn rebuild_rollups(conn: &mut AsyncPgConnection, project_id: Uuid) -> diesel::QueryResult<usize> {
    diesel::sql_query("DELETE FROM span_rollups WHERE project_id = $1")
        .bind::<SqlUuid, _>(project_id)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO span_rollups \
         SELECT project_id, (start_time_unix_nano / 3600000000000) * 3600000000000, \
                coalesce(agent_name, ''), coalesce(tool_name, ''), coalesce(response_model, request_model, ''), \
                coalesce(intervention_state, ''), coalesce(status_code = 'ERROR', false), \
                count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), \
                count(end_time_unix_nano), \
                coalesce(sum(greatest(end_time_unix_nano - start_time_unix_nano, 0) / 1e6::double precision), 0), \
                min(start_time_unix_nano), max(start_time_unix_nano) \
         FROM spans WHERE project_id = $1 GROUP BY 1, 2, 3, 4, 5, 6, 7",
    )
    .bind::<SqlUuid, _>(project_id)
    .execute(conn)
    .await
}

/// Drops a project's rollups for hours before `before_ns` (retention).
pub async fn delete_rollups_before(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    before_ns: i64,
) -> diesel::QueryResult<usize> {
    diesel::sql_query("DELETE FROM span_rollups WHERE project_id = $1 AND hour < $2")
        .bind::<SqlUuid, _>(project_id)
        .bind::<BigInt, _>(hour_of(before_ns))
        .execute(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_floored_to_the_epoch_hour() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_NS - 1), 0);
        assert_eq!(hour_of(HOUR_NS), HOUR_NS);
        assert_eq!(hour_of(-1), -HOUR_NS);
    }
}
