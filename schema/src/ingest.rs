//! The ingest write path: binary COPY of a group of span batches into a
//! session-local staging table, then one merging insert and the trace
//! rollup, all in one transaction on a tokio-postgres connection (diesel
//! has no async COPY).

use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

/// One span as stored: denormalized columns plus the redacted attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRow {
    pub project_id: Uuid,
    pub start_time_unix_nano: i64,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Option<Vec<u8>>,
    pub name: String,
    pub kind: &'static str,
    pub end_time_unix_nano: Option<i64>,
    pub status_code: &'static str,
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
    /// Exact decimal text (numeric is staged as text and cast on merge).
    pub cost_usd: Option<String>,
    pub intervention_state: Option<String>,
    pub attributes: serde_json::Value,
}

/// The span columns ingest writes, in `SpanRow` order.
pub const COLUMNS: &str = "project_id, start_time_unix_nano, trace_id, span_id, parent_span_id, name, kind, \
    end_time_unix_nano, status_code, status_message, operation_name, provider_name, request_model, \
    response_model, agent_name, agent_id, tool_name, workflow_name, conversation_id, input_tokens, \
    output_tokens, cost_usd, intervention_state, attributes";

const TYPES: [Type; 25] = [
    Type::UUID,
    Type::INT8,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::INT8,
];

/// Created once per writer connection; rows vanish at every commit.
/// `spans_new` holds the spans a group stored for the first time, so the
/// rollups shared by every writer can be counted at the very end of the
/// transaction (see `write`).
pub const STAGING_DDL: &str = "CREATE TEMP TABLE IF NOT EXISTS spans_staging ( \
    project_id uuid NOT NULL, start_time_unix_nano bigint NOT NULL, trace_id bytea NOT NULL, \
    span_id bytea NOT NULL, parent_span_id bytea, name text NOT NULL, kind text NOT NULL, \
    end_time_unix_nano bigint, status_code text, status_message text, operation_name text, \
    provider_name text, request_model text, response_model text, agent_name text, agent_id text, \
    tool_name text, workflow_name text, conversation_id text, input_tokens bigint, \
    output_tokens bigint, cost_usd text, intervention_state text, attributes jsonb NOT NULL, \
    seq bigint NOT NULL) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS spans_new ( \
    project_id uuid, start_time_unix_nano bigint, end_time_unix_nano bigint, agent_name text, \
    tool_name text, request_model text, response_model text, intervention_state text, \
    status_code text, cost_usd numeric, input_tokens bigint, output_tokens bigint) ON COMMIT DELETE ROWS";

/// The types of a direct COPY into `spans` (`COLUMNS`): as staged, but
/// the cost goes in as binary numeric and there is no sequence number.
const DIRECT_TYPES: [Type; 24] = [
    Type::UUID,
    Type::INT8,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::NUMERIC,
    Type::TEXT,
    Type::JSONB,
];

/// The group's spans as the trace statements read them, passed as arrays:
/// one element per span (the same rows whichever way the spans are copied).
const GROUP_ROWS: &str = "unnest($1::uuid[], $2::bytea[], $3::int8[], $4::text[], $5::text[])
    AS s(project_id, trace_id, start_time_unix_nano, agent_name, git)";

/// Traces first (spans reference them).
const TRACES_SQL: &str = "
INSERT INTO traces (project_id, id, start_time_unix_nano, agent_name)
SELECT project_id, trace_id, min(start_time_unix_nano), min(agent_name)
FROM GROUP_ROWS GROUP BY project_id, trace_id
ORDER BY project_id, trace_id
ON CONFLICT (project_id, id) DO NOTHING";

/// The newest copy of each span in the group, as the next statements read it.
const STAGED: &str = "
SELECT DISTINCT ON (project_id, start_time_unix_nano, trace_id, span_id)
    project_id, start_time_unix_nano, trace_id, span_id, parent_span_id, name, kind,
    end_time_unix_nano, status_code, status_message, operation_name, provider_name, request_model,
    response_model, agent_name, agent_id, tool_name, workflow_name, conversation_id, input_tokens,
    output_tokens, cost_usd::numeric AS cost_usd, intervention_state, attributes
FROM spans_staging
ORDER BY project_id, start_time_unix_nano, trace_id, span_id, seq DESC";

/// Counts spans into the hourly rollups: every row of `SOURCE_ROWS` (a
/// relation with the spans' columns) must be a span stored for the first
/// time, or it counts twice. Shared by ingest and `strathon adopt`.
const ROLLUP_UPSERT: &str = "
    INSERT INTO span_rollups AS r (project_id, hour, agent_name, tool_name, model, intervention_state, error,
        spans, cost_usd, input_tokens, output_tokens, ended, duration_ms, first_start, last_start)
    SELECT project_id, (start_time_unix_nano / 3600000000000) * 3600000000000,
        coalesce(agent_name, ''), coalesce(tool_name, ''), coalesce(response_model, request_model, ''),
        coalesce(intervention_state, ''), coalesce(status_code = 'ERROR', false),
        count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
        count(end_time_unix_nano),
        coalesce(sum(greatest(end_time_unix_nano - start_time_unix_nano, 0) / 1e6::double precision), 0),
        min(start_time_unix_nano), max(start_time_unix_nano)
    FROM SOURCE_ROWS GROUP BY 1, 2, 3, 4, 5, 6, 7
    -- One lock order for every writer, so concurrent groups cannot deadlock.
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (project_id, hour, agent_name, tool_name, model, intervention_state, error) DO UPDATE SET
        spans = r.spans + EXCLUDED.spans,
        cost_usd = r.cost_usd + EXCLUDED.cost_usd,
        input_tokens = r.input_tokens + EXCLUDED.input_tokens,
        output_tokens = r.output_tokens + EXCLUDED.output_tokens,
        ended = r.ended + EXCLUDED.ended,
        duration_ms = r.duration_ms + EXCLUDED.duration_ms,
        first_start = least(r.first_start, EXCLUDED.first_start),
        last_start = greatest(r.last_start, EXCLUDED.last_start)
    RETURNING 1";

/// A group copied straight into `spans` is all new spans: its rollup
/// counts them from arrays instead of a table.
const DIRECT_ROLLUP_ROWS: &str = "(SELECT project_id, start_time_unix_nano, end_time_unix_nano, agent_name,
    tool_name, request_model, response_model, intervention_state, status_code, cost::numeric AS cost_usd,
    input_tokens, output_tokens
  FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
              $9::text[], $10::text[], $11::int8[], $12::int8[])
    AS n(project_id, start_time_unix_nano, end_time_unix_nano, agent_name, tool_name, request_model,
         response_model, intervention_state, status_code, cost, input_tokens, output_tokens)) AS n";

/// The statement that counts `source` into the rollups (see `ROLLUP_UPSERT`).
pub fn rollup_upsert(source: &str) -> String {
    ROLLUP_UPSERT.replace("SOURCE_ROWS", source)
}

/// New spans go in, and only those are kept in `spans_new` for the hourly
/// rollups, so a re-sent span is never counted twice. Returns (distinct
/// staged, inserted): when they differ, some spans were already stored and
/// need merging.
const SPANS_SQL: &str = "
WITH staged AS (STAGED),
ins AS (
    INSERT INTO spans (COLUMNS) SELECT * FROM staged
    ON CONFLICT (project_id, start_time_unix_nano, trace_id, span_id) DO NOTHING
    RETURNING project_id, start_time_unix_nano, end_time_unix_nano, agent_name, tool_name,
        request_model, response_model, intervention_state, status_code, cost_usd, input_tokens, output_tokens
),
kept AS (INSERT INTO spans_new SELECT * FROM ins)
SELECT (SELECT count(*) FROM staged) AS staged, (SELECT count(*) FROM ins) AS inserted";

/// A span re-sent later merges into the stored row (attributes merged, new
/// keys winning; end time and status replaced; cost and intervention state
/// kept unless the new copy has them). Spans this group just inserted merge
/// with themselves, which changes nothing.
const MERGE_SQL: &str = "
UPDATE spans s SET
    end_time_unix_nano = st.end_time_unix_nano,
    status_code = st.status_code,
    status_message = st.status_message,
    cost_usd = COALESCE(st.cost_usd, s.cost_usd),
    intervention_state = COALESCE(st.intervention_state, s.intervention_state),
    attributes = s.attributes || st.attributes
FROM (STAGED) st
WHERE s.project_id = st.project_id AND s.start_time_unix_nano = st.start_time_unix_nano
    AND s.trace_id = st.trace_id AND s.span_id = st.span_id";

/// Every touched trace is recomputed from its stored spans.
const TRACE_ROLLUP_SQL: &str = "
WITH touched AS (SELECT DISTINCT project_id, trace_id FROM GROUP_ROWS),
rollup AS (
    SELECT s.project_id, s.trace_id,
        count(*) AS span_count,
        min(s.start_time_unix_nano) AS start_ns,
        max(s.end_time_unix_nano) AS end_ns,
        min(s.agent_name) AS agent_name,
        coalesce(min(s.workflow_name), min(s.name) FILTER (WHERE s.parent_span_id IS NULL), min(s.operation_name)) AS workflow_name,
        sum(s.cost_usd) AS cost,
        coalesce(sum(s.input_tokens), 0) AS input_tokens,
        coalesce(sum(s.output_tokens), 0) AS output_tokens,
        bool_or(s.intervention_state IS NOT NULL AND s.intervention_state NOT IN ('running', 'approval_granted')) AS halted
    FROM spans s JOIN touched t ON s.project_id = t.project_id AND s.trace_id = t.trace_id
    GROUP BY s.project_id, s.trace_id
)
UPDATE traces t SET
    span_count = r.span_count,
    start_time_unix_nano = LEAST(t.start_time_unix_nano, r.start_ns),
    end_time_unix_nano = r.end_ns,
    agent_name = coalesce(t.agent_name, r.agent_name),
    workflow_name = coalesce(t.workflow_name, r.workflow_name),
    total_cost_usd = r.cost,
    total_input_tokens = r.input_tokens,
    total_output_tokens = r.output_tokens,
    intervention_state = CASE WHEN r.halted THEN 'halted' ELSE t.intervention_state END
FROM rollup r
WHERE t.project_id = r.project_id AND t.id = r.trace_id";

/// The commit a trace ran: the first commit hash its spans (or their
/// resource) name as `strathon.git.commit` (or OpenTelemetry's
/// `vcs.ref.head.revision`), kept once set.
const GIT_COMMIT_SQL: &str = "
UPDATE traces t SET git_commit_sha = g.sha
FROM (
    SELECT project_id, trace_id, min(lower(git)) AS sha
    FROM GROUP_ROWS WHERE git IS NOT NULL
    GROUP BY project_id, trace_id
) g
WHERE t.project_id = g.project_id AND t.id = g.trace_id AND t.git_commit_sha IS NULL
  AND g.sha ~ '^[0-9a-f]{7,64}$'";

/// A policy that matched a stored span (at most one row per policy and span).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRow {
    pub project_id: Uuid,
    pub policy_id: Uuid,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub action: String,
    pub outcome: &'static str,
    pub metadata: serde_json::Value,
}

/// A human approval a `require_approval` match asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRow {
    pub project_id: Uuid,
    pub policy_id: Uuid,
    pub policy_name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub span_name: String,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub tool_args: Option<String>,
    pub timeout_seconds: i32,
    pub approvers_required: i32,
}

/// Everything one request contributes to a group commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub spans: Vec<SpanRow>,
    pub matches: Vec<MatchRow>,
    pub approvals: Vec<ApprovalRow>,
}

/// New matches only (a span seen again is not a new match); each counts
/// once on its policy. A policy deleted meanwhile simply records nothing.
const MATCHES_SQL: &str = "
WITH inserted AS (
    INSERT INTO policy_matches (project_id, policy_id, trace_id, span_id, action, action_outcome, metadata)
    SELECT m.* FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::jsonb[])
        AS m(project_id, policy_id, trace_id, span_id, action, action_outcome, metadata)
    WHERE EXISTS (SELECT 1 FROM policies p WHERE p.id = m.policy_id AND p.project_id = m.project_id)
    ON CONFLICT (policy_id, trace_id, span_id) DO NOTHING
    RETURNING policy_id
)
UPDATE policies p SET match_count = p.match_count + c.n, last_matched_at = now()
FROM (SELECT policy_id, count(*) AS n FROM inserted GROUP BY policy_id) c
WHERE p.id = c.policy_id";

/// Every writer bumps the same policies' counters: they are locked in one
/// order first, so two writers never wait on each other crosswise.
const LOCK_POLICIES_SQL: &str = "SELECT 1 FROM policies WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Corrects the circuit-breaker note of spans whose breaker another writer
/// changed between `peek` and `step` (rare: only around a state change).
const RENOTE_SQL: &str = "
UPDATE spans s SET attributes = (s.attributes - 'strathon.circuit_breaker.state' - 'strathon.circuit_breaker.entity')
    || coalesce(n.note, '{}'::jsonb)
FROM unnest($1::uuid[], $2::int8[], $3::bytea[], $4::bytea[], $5::jsonb[])
    AS n(project_id, start_time_unix_nano, trace_id, span_id, note)
WHERE s.project_id = n.project_id AND s.start_time_unix_nano = n.start_time_unix_nano
    AND s.trace_id = n.trace_id AND s.span_id = n.span_id";

/// One approval per (policy, trace, span), however often the span arrives.
const APPROVALS_SQL: &str = "
INSERT INTO approvals (project_id, policy_id, policy_name, trace_id, span_id, span_name, agent_name,
                       tool_name, tool_args, timeout_seconds, approvers_required, expires_at)
SELECT a.*, now() + make_interval(secs => a.timeout_seconds)
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::int4[], $11::int4[])
    AS a(project_id, policy_id, policy_name, trace_id, span_id, span_name, agent_name, tool_name, tool_args,
         timeout_seconds, approvers_required)
ON CONFLICT (policy_id, trace_id, span_id) WHERE span_id IS NOT NULL DO NOTHING";

/// Prepares a fresh writer connection.
pub async fn prepare(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(STAGING_DDL).await
}

/// A span's attributes with its circuit-breaker note added on the way to
/// the database, without copying the map.
#[derive(Debug)]
struct Annotated<'a> {
    attributes: &'a serde_json::Value,
    note: Option<&'a crate::breakers::Note>,
}

impl serde::Serialize for Annotated<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match (self.attributes, self.note) {
            (serde_json::Value::Object(map), Some((state, entity))) => {
                let mut out = serializer.serialize_map(Some(map.len() + 2))?;
                for (k, v) in map {
                    if k != "strathon.circuit_breaker.state" && k != "strathon.circuit_breaker.entity" {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.serialize_entry("strathon.circuit_breaker.state", state)?;
                out.serialize_entry("strathon.circuit_breaker.entity", entity)?;
                out.end()
            }
            (other, _) => other.serialize(serializer),
        }
    }
}

/// The per-span columns the trace statements read (`GROUP_ROWS`).
struct GroupColumns<'a> {
    project_id: Vec<Uuid>,
    trace_id: Vec<&'a [u8]>,
    start: Vec<i64>,
    agent_name: Vec<Option<&'a str>>,
    git: Vec<Option<String>>,
}

impl<'a> GroupColumns<'a> {
    fn of(rows: &[&'a SpanRow]) -> Self {
        GroupColumns {
            project_id: rows.iter().map(|r| r.project_id).collect(),
            trace_id: rows.iter().map(|r| r.trace_id.as_slice()).collect(),
            start: rows.iter().map(|r| r.start_time_unix_nano).collect(),
            agent_name: rows.iter().map(|r| r.agent_name.as_deref()).collect(),
            git: rows.iter().map(|r| git_commit(&r.attributes)).collect(),
        }
    }
}

/// The commit hash a span names, as `->>` reads it: `strathon.git.commit`,
/// else OpenTelemetry's `vcs.ref.head.revision` (JSON null counts as absent).
fn git_commit(attributes: &serde_json::Value) -> Option<String> {
    ["strathon.git.commit", "vcs.ref.head.revision"]
        .iter()
        .find_map(|k| match attributes.get(k)? {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
}

/// Each span's cost as binary numeric, when the group can be copied
/// straight into `spans`: no span twice in it (the second would fail the
/// primary key) and every cost a decimal `numeric(20, 8)` takes as is.
fn direct_costs(rows: &[&SpanRow]) -> Option<Vec<Option<rust_decimal::Decimal>>> {
    let mut keys = std::collections::HashSet::with_capacity(rows.len());
    let mut costs = Vec::with_capacity(rows.len());
    for r in rows {
        if !keys.insert((r.project_id, r.start_time_unix_nano, &r.trace_id, &r.span_id)) {
            return None;
        }
        costs.push(match &r.cost_usd {
            None => None,
            Some(text) => {
                let d = rust_decimal::Decimal::from_str_exact(text).ok()?;
                // numeric(20, 8) would round more digits; staging keeps
                // the database's own rounding for those.
                if d.scale() > 8 || d.abs() >= rust_decimal::Decimal::from(1_000_000_000_000i64) {
                    return None;
                }
                Some(d)
            }
        });
    }
    Some(costs)
}

/// Where `copy_rows` writes.
enum Target<'a> {
    /// The session's staging table, costs as text, with arrival order.
    Staging,
    /// `spans` itself, with each span's cost as numeric.
    Spans(&'a [Option<rust_decimal::Decimal>]),
}

/// Binary COPY of a group, each span's attributes carrying its note.
async fn copy_rows(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&SpanRow],
    notes: &[Option<crate::breakers::Note>],
    target: Target<'_>,
) -> Result<(), tokio_postgres::Error> {
    let (sql, types): (String, &[Type]) = match target {
        Target::Staging => (format!("COPY spans_staging ({COLUMNS}, seq) FROM STDIN BINARY"), &TYPES),
        Target::Spans(_) => (format!("COPY spans ({COLUMNS}) FROM STDIN BINARY"), &DIRECT_TYPES),
    };
    let writer = BinaryCopyInWriter::new(tx.copy_in(&sql).await?, types);
    pin_mut!(writer);
    for (seq, r) in rows.iter().enumerate() {
        let attributes = Json(Annotated {
            attributes: &r.attributes,
            note: notes[seq].as_ref(),
        });
        let seq = seq as i64;
        let cost: &(dyn ToSql + Sync) = match &target {
            Target::Staging => &r.cost_usd,
            Target::Spans(costs) => &costs[seq as usize],
        };
        let values: [&(dyn ToSql + Sync); 25] = [
            &r.project_id,
            &r.start_time_unix_nano,
            &r.trace_id,
            &r.span_id,
            &r.parent_span_id,
            &r.name,
            &r.kind,
            &r.end_time_unix_nano,
            &r.status_code,
            &r.status_message,
            &r.operation_name,
            &r.provider_name,
            &r.request_model,
            &r.response_model,
            &r.agent_name,
            &r.agent_id,
            &r.tool_name,
            &r.workflow_name,
            &r.conversation_id,
            &r.input_tokens,
            &r.output_tokens,
            cost,
            &r.intervention_state,
            &attributes,
            &seq,
        ];
        writer.as_mut().write(&values[..types.len()]).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Counts a directly copied group (all new spans) into the hourly rollups.
async fn rollup_direct(tx: &tokio_postgres::Transaction<'_>, rows: &[&SpanRow]) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &rollup_upsert(DIRECT_ROLLUP_ROWS),
        &[
            &rows.iter().map(|r| r.project_id).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.start_time_unix_nano).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.end_time_unix_nano).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.agent_name.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.tool_name.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.request_model.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.response_model.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.intervention_state.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.status_code).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.cost_usd.as_deref()).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.input_tokens).collect::<Vec<_>>(),
            &rows.iter().map(|r| r.output_tokens).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

/// The attributes a note adds to a span.
fn note_json(note: &Option<crate::breakers::Note>) -> Option<serde_json::Value> {
    note.as_ref().map(|(state, entity)| {
        serde_json::json!({
            "strathon.circuit_breaker.state": state,
            "strathon.circuit_breaker.entity": entity,
        })
    })
}

/// Writes one group (several requests' batches) in a single transaction;
/// nothing is visible (or acknowledged) unless all of it commits.
///
/// Several writers may run this at once, each on its own traces. What they
/// share (breakers, hourly rollups, policy counters) is taken at the end, in
/// one order, so one writer's group waits for another only for the last
/// few statements rather than the whole COPY.
pub async fn write(
    client: &mut Client,
    batches: &[Batch],
    breakers: &crate::breakers::Settings,
) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<&SpanRow> = batches.iter().flat_map(|b| &b.spans).collect();
    let mut tx = client.transaction().await?;
    let guessed = crate::breakers::peek(&tx, &rows, breakers).await?;
    let group = GroupColumns::of(&rows);
    let group_params: [&(dyn ToSql + Sync); 5] = [
        &group.project_id,
        &group.trace_id,
        &group.start,
        &group.agent_name,
        &group.git,
    ];
    tx.execute(&TRACES_SQL.replace("GROUP_ROWS", GROUP_ROWS), &group_params)
        .await?;

    // Most groups are new spans, each sent once: they are copied straight
    // into `spans`. A span already stored (a retry) makes that COPY fail on
    // the primary key; the group then goes through the staging table, which
    // merges it. Within a savepoint, so the failed attempt leaves nothing.
    let mut direct = direct_costs(&rows);
    if let Some(costs) = &direct {
        let attempt = tx.savepoint("direct").await?;
        let copied = copy_rows(&attempt, &rows, &guessed, Target::Spans(costs)).await;
        match copied {
            Ok(()) => attempt.commit().await?,
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                attempt.rollback().await?;
                direct = None;
            }
            Err(e) => return Err(e),
        }
    }
    if direct.is_none() {
        copy_rows(&tx, &rows, &guessed, Target::Staging).await?;
        let counts = tx
            .query_one(&SPANS_SQL.replace("STAGED", STAGED).replace("COLUMNS", COLUMNS), &[])
            .await?;
        let (staged, inserted): (i64, i64) = (counts.get(0), counts.get(1));
        // The merge (a join against the stored rows) only when some spans
        // were already there.
        if inserted < staged {
            tx.batch_execute(&MERGE_SQL.replace("STAGED", STAGED)).await?;
        }
    }
    tx.execute(&TRACE_ROLLUP_SQL.replace("GROUP_ROWS", GROUP_ROWS), &group_params)
        .await?;
    tx.execute(&GIT_COMMIT_SQL.replace("GROUP_ROWS", GROUP_ROWS), &group_params)
        .await?;

    // From here on, rows other writers also need: held until the commit.
    let notes = crate::breakers::step(&tx, &rows, breakers).await?;
    let wrong: Vec<usize> = (0..rows.len()).filter(|&i| notes[i] != guessed[i]).collect();
    if !wrong.is_empty() {
        let fixed: Vec<Option<Json<serde_json::Value>>> =
            wrong.iter().map(|&i| note_json(&notes[i]).map(Json)).collect();
        tx.execute(
            RENOTE_SQL,
            &[
                &wrong.iter().map(|&i| rows[i].project_id).collect::<Vec<_>>(),
                &wrong.iter().map(|&i| rows[i].start_time_unix_nano).collect::<Vec<_>>(),
                &wrong.iter().map(|&i| rows[i].trace_id.as_slice()).collect::<Vec<_>>(),
                &wrong.iter().map(|&i| rows[i].span_id.as_slice()).collect::<Vec<_>>(),
                &fixed,
            ],
        )
        .await?;
    }
    if direct.is_some() {
        rollup_direct(&tx, &rows).await?;
    } else {
        tx.batch_execute(&rollup_upsert("spans_new")).await?;
    }
    let matches: Vec<&MatchRow> = batches.iter().flat_map(|b| &b.matches).collect();
    if !matches.is_empty() {
        let m = &matches;
        let mut policies: Vec<Uuid> = m.iter().map(|r| r.policy_id).collect();
        policies.sort();
        policies.dedup();
        tx.execute(LOCK_POLICIES_SQL, &[&policies]).await?;
        let metadata: Vec<Json<&serde_json::Value>> = m.iter().map(|r| Json(&r.metadata)).collect();
        tx.execute(
            MATCHES_SQL,
            &[
                &m.iter().map(|r| r.project_id).collect::<Vec<_>>(),
                &m.iter().map(|r| r.policy_id).collect::<Vec<_>>(),
                &m.iter().map(|r| r.trace_id.as_slice()).collect::<Vec<_>>(),
                &m.iter().map(|r| r.span_id.as_slice()).collect::<Vec<_>>(),
                &m.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
                &m.iter().map(|r| r.outcome).collect::<Vec<_>>(),
                &metadata,
            ],
        )
        .await?;
    }
    let approvals: Vec<&ApprovalRow> = batches.iter().flat_map(|b| &b.approvals).collect();
    if !approvals.is_empty() {
        let a = &approvals;
        tx.execute(
            APPROVALS_SQL,
            &[
                &a.iter().map(|r| r.project_id).collect::<Vec<_>>(),
                &a.iter().map(|r| r.policy_id).collect::<Vec<_>>(),
                &a.iter().map(|r| r.policy_name.as_str()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.trace_id.as_slice()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.span_id.as_slice()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.span_name.as_str()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.agent_name.as_deref()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.tool_name.as_deref()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.tool_args.as_deref()).collect::<Vec<_>>(),
                &a.iter().map(|r| r.timeout_seconds).collect::<Vec<_>>(),
                &a.iter().map(|r| r.approvers_required).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    tx.commit().await
}

/// Connects the dedicated writer connection (NoTls, like the pool).
pub async fn connect(database_url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "ingest writer connection closed");
        }
    });
    prepare(&client).await?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, cost: Option<&str>) -> SpanRow {
        SpanRow {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            cost_usd: cost.map(str::to_owned),
            ..SpanRow::default()
        }
    }

    #[test]
    fn a_group_goes_straight_into_spans_only_when_copy_cannot_trip_over_it() {
        let (a, b) = (span(1, Some("0.0075")), span(2, None));
        let costs = direct_costs(&[&a, &b]).expect("distinct spans with plain costs");
        assert_eq!(costs[0].map(|d| d.to_string()), Some("0.0075".to_owned()));
        assert_eq!(costs[1], None);
        // The same span twice would fail the primary key inside the COPY.
        assert!(direct_costs(&[&a, &b, &a]).is_none());
        // Costs numeric(20, 8) would round or refuse are left to the database.
        assert!(direct_costs(&[&span(3, Some("0.123456789"))]).is_none());
        assert!(direct_costs(&[&span(3, Some("1e3"))]).is_none());
        assert!(direct_costs(&[&span(3, Some("1000000000000"))]).is_none());
    }

    #[test]
    fn the_commit_is_read_as_the_database_reads_it() {
        let attrs = |v: serde_json::Value| git_commit(&v);
        assert_eq!(
            attrs(serde_json::json!({"strathon.git.commit": "ABC1234"})),
            Some("ABC1234".into())
        );
        assert_eq!(
            attrs(serde_json::json!({"strathon.git.commit": null, "vcs.ref.head.revision": "abc1234"})),
            Some("abc1234".into())
        );
        assert_eq!(
            attrs(serde_json::json!({"vcs.ref.head.revision": 1234567})),
            Some("1234567".into())
        );
        assert_eq!(attrs(serde_json::json!({"other": "abc1234"})), None);
    }
}
