//! Copy mode: the physical limit. The rows the receiver would store for the
//! same batches (denormalized, attributes merged with the resource, cost
//! computed; only redaction is skipped) go straight into `traces` and
//! `spans` with binary COPY, one transaction per group, on one connection
//! per unit of concurrency. No staging table, no conflict handling, no
//! rollup: what is left is parsing, the generated tsvector, the indexes,
//! the foreign key and WAL, which the receiver pays too.

use std::error::Error;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use uuid::Uuid;

use crate::gen::{self, Template};
use crate::report::{Report, Verification};
use crate::{count_spans, Args, Mode};

/// A value already in Postgres binary form (jsonb, numeric).
#[derive(Debug)]
struct Raw<'a>(&'a [u8]);

impl ToSql for Raw<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::NUMERIC
    }
    to_sql_checked!();
}

const TRACE_COPY: &str = "COPY traces (project_id, id, start_time_unix_nano, end_time_unix_nano, agent_name, \
    workflow_name, total_cost_usd, total_input_tokens, total_output_tokens, span_count, intervention_state) \
    FROM STDIN BINARY";
const TRACE_TYPES: [Type; 11] = [
    Type::UUID,
    Type::BYTEA,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::NUMERIC,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::TEXT,
];

/// Types of `strathon_schema::ingest::COLUMNS` written straight into spans
/// (cost as numeric here; ingest stages it as text).
const SPAN_TYPES: [Type; 24] = [
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

struct Shared {
    templates: Vec<Template>,
    seq: AtomicU64,
    nonce: u32,
    project: Uuid,
    per_tx: usize,
    measure_from: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct WorkerStats {
    committed_total: u64,
    spans: u64,
    batches: u64,
    last_done: Option<Instant>,
    latencies: Vec<Duration>,
}

async fn write_group(client: &mut tokio_postgres::Client, shared: &Shared, seqs: &[u64]) -> anyhow::Result<u64> {
    let tx = client.transaction().await?;
    let sink = tx.copy_in(TRACE_COPY).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &TRACE_TYPES));
    for &seq in seqs {
        let template = &shared.templates[seq as usize % shared.templates.len()];
        for (t, tr) in template.traces.iter().enumerate() {
            let id = gen::trace_id(shared.nonce, seq, t as u16);
            let id: &[u8] = &id;
            let cost = tr.cost.as_deref().map(Raw);
            writer
                .as_mut()
                .write(&[
                    &shared.project,
                    &id,
                    &tr.start,
                    &tr.end,
                    &tr.agent_name,
                    &tr.workflow_name,
                    &cost,
                    &tr.input_tokens,
                    &tr.output_tokens,
                    &tr.span_count,
                    &tr.intervention_state,
                ])
                .await?;
        }
    }
    writer.finish().await?;

    let sink = tx
        .copy_in(&format!(
            "COPY spans ({}) FROM STDIN BINARY",
            strathon_schema::ingest::COLUMNS
        ))
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &SPAN_TYPES));
    let mut spans = 0u64;
    for &seq in seqs {
        let template = &shared.templates[seq as usize % shared.templates.len()];
        for r in &template.rows {
            let trace_id = gen::trace_id(shared.nonce, seq, r.trace);
            let trace_id: &[u8] = &trace_id;
            let span_id = gen::span_id(seq, r.index);
            let span_id: &[u8] = &span_id;
            let parent = r.parent.map(|p| gen::span_id(seq, p));
            let parent: Option<&[u8]> = parent.as_ref().map(|p| &p[..]);
            let end = Some(r.end);
            let cost = r.cost.as_deref().map(Raw);
            let attributes = Raw(&r.attributes);
            let kind = "INTERNAL";
            writer
                .as_mut()
                .write(&[
                    &shared.project,
                    &r.start,
                    &trace_id,
                    &span_id,
                    &parent,
                    &r.name,
                    &kind,
                    &end,
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
                    &cost,
                    &r.intervention_state,
                    &attributes,
                ])
                .await?;
            spans += 1;
        }
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(spans)
}

async fn worker(shared: Arc<Shared>, url: String) -> anyhow::Result<WorkerStats> {
    let mut client = crate::connect(&url).await?;
    let mut stats = WorkerStats::default();
    loop {
        let started = Instant::now();
        if started >= shared.deadline {
            break;
        }
        let seqs: Vec<u64> = (0..shared.per_tx)
            .map(|_| shared.seq.fetch_add(1, Ordering::Relaxed) + 1)
            .collect();
        let spans = write_group(&mut client, &shared, &seqs)
            .await
            .context("raw COPY transaction")?;
        let done = Instant::now();
        stats.committed_total += spans;
        if done >= shared.measure_from {
            stats.spans += spans;
            stats.batches += 1;
            stats.last_done = Some(done);
        }
        if started >= shared.measure_from {
            stats.latencies.push(done - started);
        }
    }
    Ok(stats)
}

pub async fn run(args: &Args, templates: Vec<Template>) -> anyhow::Result<Report> {
    let db = crate::connect(&args.database_url).await?;
    let before = count_spans(&db, args.project).await?;
    let per_tx = (args.copy_batch_spans / args.batch_spans).max(1);

    let cpu_before = crate::own_cpu_secs();
    let start = Instant::now();
    let measure_from = start + args.warmup();
    let shared = Arc::new(Shared {
        templates,
        seq: AtomicU64::new(0),
        nonce: Uuid::new_v4().as_u128() as u32,
        project: args.project,
        per_tx,
        measure_from,
        deadline: measure_from + args.duration(),
    });
    let handles: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone(), args.database_url.clone())))
        .collect();
    let mut report = Report {
        mode: Some(Mode::Copy),
        ..Default::default()
    };
    let mut committed = 0u64;
    let mut last_done = measure_from;
    for h in handles {
        let s = h.await.context("a COPY worker panicked")??;
        committed += s.committed_total;
        report.spans += s.spans;
        report.batches += s.batches;
        report.latencies.extend(s.latencies);
        if let Some(d) = s.last_done {
            last_done = last_done.max(d);
        }
    }
    report.window = last_done.saturating_duration_since(measure_from);
    report.cpu_secs = cpu_before.zip(crate::own_cpu_secs()).map(|(a, b)| b - a);
    let after = count_spans(&db, args.project).await?;
    report.verification = Verification {
        before,
        after,
        stored: after - before,
        acknowledged: committed as i64,
        ok: after - before == committed as i64,
        skipped: false,
    };
    Ok(report)
}
