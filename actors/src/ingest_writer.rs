//! The IngestWriter: the only path by which spans reach Postgres.
//!
//! Request handlers hand it converted batches and wait for the commit, so a
//! 2xx always means durable. While one group is being written, newly
//! arriving batches queue up and go together in the next transaction (group
//! commit): an idle writer flushes a single request at once (low latency),
//! a busy one amortizes each commit over many requests (high throughput).
//! The queue is bounded by span count; past it, callers are told to retry.
//!
//! There are one to eight writers, each with its own connection and queue.
//! A request is split by trace id (a trace always goes to the same writer,
//! so the rows a trace rolls up into are never contended) and answered once
//! every part has committed.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt as _;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry as Prometheus};
use strathon_schema::ingest::{self, Batch};
use tokio::sync::oneshot;

use crate::supervisor::Ping;
use crate::Registry;

/// Each writer's name in `/ready` and the logs: the first keeps the name
/// it had when there was only one.
pub const NAMES: [&str; 8] = [
    "ingest_writer_task",
    "ingest_writer_task_2",
    "ingest_writer_task_3",
    "ingest_writer_task_4",
    "ingest_writer_task_5",
    "ingest_writer_task_6",
    "ingest_writer_task_7",
    "ingest_writer_task_8",
];

/// Why a batch was not committed. Neither is the caller's fault, and both
/// are worth a retry: nothing was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("ingest queue is full")]
    Busy,
    #[error("spans could not be committed: {0}")]
    Database(String),
    /// The batch itself is unstorable (a data or constraint error): retrying
    /// it cannot succeed, so the caller is told it is bad input.
    #[error("spans could not be stored: {0}")]
    Invalid(String),
}

/// Classifies a failed write: data exceptions (SQLSTATE 22) and integrity
/// violations (23) are the batch's fault; anything else may pass on retry.
fn classify(e: &tokio_postgres::Error) -> WriteError {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("22") || db.code().code().starts_with("23") => {
            WriteError::Invalid(db.message().to_owned())
        }
        Some(db) => WriteError::Database(db.message().to_owned()),
        None => WriteError::Database(e.to_string()),
    }
}

pub struct WriteSpans {
    pub batch: Batch,
    pub reply: oneshot::Sender<Result<(), WriteError>>,
}

impl Message for WriteSpans {
    /// Accepted into the queue, or refused at once when it is full.
    type Result = Result<(), WriteError>;
}

#[derive(Clone)]
pub struct IngestMetrics {
    pub stored: IntCounter,
    pub groups: IntCounter,
    pub errors: IntCounter,
    pub queue_depth: IntGauge,
    pub commit_seconds: Histogram,
    pub group_spans: Histogram,
}

impl IngestMetrics {
    pub fn register(registry: &Prometheus) -> prometheus::Result<Self> {
        let stored = IntCounter::new(
            "strathon_receiver_ingest_spans_stored_total",
            "Spans committed to Postgres",
        )?;
        let groups = IntCounter::new(
            "strathon_receiver_ingest_commits_total",
            "Group commits (one transaction each)",
        )?;
        let errors = IntCounter::new(
            "strathon_receiver_ingest_commit_errors_total",
            "Group commits that failed",
        )?;
        let queue_depth = IntGauge::new("strathon_receiver_ingest_queue_spans", "Spans waiting for the writer")?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "strathon_receiver_ingest_commit_duration_seconds",
                "Time to write and commit one group",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
        )?;
        let group_spans = Histogram::with_opts(
            HistogramOpts::new("strathon_receiver_ingest_commit_spans", "Spans per group commit")
                .buckets(vec![1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]),
        )?;
        for c in [
            Box::new(stored.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(groups.clone()),
            Box::new(errors.clone()),
            Box::new(queue_depth.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(group_spans.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(IngestMetrics {
            stored,
            groups,
            errors,
            queue_depth,
            commit_seconds,
            group_spans,
        })
    }
}

#[derive(Clone)]
pub struct WriterConfig {
    pub database_url: String,
    /// How many writers (1..=8) share the work.
    pub writers: usize,
    /// Circuit breakers are fed in the spans' own transaction.
    pub breakers: strathon_schema::breakers::Settings,
    /// Most spans waiting at once over all writers; beyond it batches are refused.
    pub max_queue_spans: usize,
    /// Most spans written in one transaction.
    pub max_group_spans: usize,
}

pub struct IngestWriter {
    name: &'static str,
    config: WriterConfig,
    registry: Registry,
    metrics: IngestMetrics,
    client: Option<tokio_postgres::Client>,
    pending: Vec<WriteSpans>,
    pending_spans: usize,
    busy: bool,
}

/// How often an idle writer proves its connection; `/ready` calls it stale
/// after three missed beats (so a flush stuck for ~15 s fails readiness).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The writers, as request handlers see them.
#[derive(Clone)]
pub struct Lanes {
    writers: Vec<Addr<IngestWriter>>,
}

/// Which of `lanes` writers takes a trace.
pub fn lane_of(trace_id: &[u8], lanes: usize) -> usize {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    trace_id.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

/// Splits a request's batch into one part per lane; a policy match or an
/// approval goes with its span's trace.
pub fn split(batch: Batch, lanes: usize) -> Vec<Batch> {
    if lanes <= 1 {
        return vec![batch];
    }
    let mut parts = vec![Batch::default(); lanes];
    for span in batch.spans {
        parts[lane_of(&span.trace_id, lanes)].spans.push(span);
    }
    for m in batch.matches {
        parts[lane_of(&m.trace_id, lanes)].matches.push(m);
    }
    for a in batch.approvals {
        parts[lane_of(&a.trace_id, lanes)].approvals.push(a);
    }
    parts
}

/// The answer to a request whose parts had different fates: any part that
/// is bad input makes it bad input (a retry cannot help); otherwise any
/// part not committed makes it a retry.
fn worst(outcomes: Vec<Result<(), WriteError>>) -> Result<(), WriteError> {
    let rank = |o: &Result<(), WriteError>| match o {
        Ok(()) => 0,
        Err(WriteError::Busy) => 1,
        Err(WriteError::Database(_)) => 2,
        Err(WriteError::Invalid(_)) => 3,
    };
    outcomes.into_iter().max_by_key(rank).unwrap_or(Ok(()))
}

impl Lanes {
    /// Writes a batch; Ok once all of it is committed.
    ///
    /// When a request spans several writers and one part fails, the other
    /// parts may already be committed: the client retries the whole
    /// request, and the re-sent spans merge into the stored ones (never
    /// counted twice).
    pub async fn write(&self, batch: Batch) -> Result<(), WriteError> {
        let lanes = self.writers.len();
        let parts = split(batch, lanes);
        let sends = parts
            .into_iter()
            .enumerate()
            .filter(|(_, part)| !part.spans.is_empty())
            .map(|(i, part)| async move {
                let (reply, committed) = oneshot::channel();
                let lane = &self.writers[i % lanes];
                match lane.send(WriteSpans { batch: part, reply }).await {
                    Ok(Ok(())) => committed
                        .await
                        .unwrap_or_else(|_| Err(WriteError::Database("writer restarted".into()))),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(WriteError::Database("writer unavailable".into())),
                }
            });
        worst(futures::future::join_all(sends).await)
    }
}

/// Starts `config.writers` writers, each on an arbiter (thread) of its own
/// under a supervisor, sharing the queue limit.
pub fn start(config: WriterConfig, registry: &Registry, metrics: IngestMetrics) -> Lanes {
    let n = config.writers.clamp(1, NAMES.len());
    let per_writer = WriterConfig {
        max_queue_spans: config.max_queue_spans.div_ceil(n),
        ..config
    };
    let writers = NAMES[..n]
        .iter()
        .map(|name| start_one(name, per_writer.clone(), registry, metrics.clone()))
        .collect();
    Lanes { writers }
}

fn start_one(
    name: &'static str,
    config: WriterConfig,
    registry: &Registry,
    metrics: IngestMetrics,
) -> Addr<IngestWriter> {
    let registry_for_actor = registry.clone();
    let mut slot = Some(config);
    let arbiter = Arbiter::new();
    let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| IngestWriter {
        name,
        config: slot.take().expect("the writer is constructed once; restarts reuse it"),
        registry: registry_for_actor,
        metrics,
        client: None,
        pending: Vec::new(),
        pending_spans: 0,
        busy: false,
    });
    registry.register(name, HEARTBEAT, addr.clone().recipient());
    addr
}

impl Actor for IngestWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.heartbeat(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| act.heartbeat(ctx));
    }
}

impl Supervised for IngestWriter {
    fn restarting(&mut self, _: &mut Self::Context) {
        tracing::warn!(actor = self.name, "restarting the ingest writer after a panic");
        self.registry.record_restart(self.name);
        self.busy = false;
        self.client = None;
    }
}

impl Handler<Ping> for IngestWriter {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Self::Context) {}
}

impl Handler<WriteSpans> for IngestWriter {
    type Result = Result<(), WriteError>;

    fn handle(&mut self, msg: WriteSpans, ctx: &mut Self::Context) -> Self::Result {
        let n = msg.batch.spans.len();
        if self.pending_spans > 0 && self.pending_spans + n > self.config.max_queue_spans {
            return Err(WriteError::Busy);
        }
        self.pending_spans += n;
        self.metrics.queue_depth.add(n as i64);
        self.pending.push(msg);
        self.flush(ctx);
        Ok(())
    }
}

impl IngestWriter {
    /// Writes everything queued (up to the group limit) unless a write is
    /// already in flight; its completion triggers the next one.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.pending.is_empty() {
            return;
        }
        let mut group = Vec::new();
        let mut spans = 0;
        while let Some(next) = self.pending.first() {
            if !group.is_empty() && spans + next.batch.spans.len() > self.config.max_group_spans {
                break;
            }
            spans += next.batch.spans.len();
            group.push(self.pending.remove(0));
        }
        self.pending_spans -= spans;
        self.metrics.queue_depth.sub(spans as i64);
        self.busy = true;

        let mut batches = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        for msg in group {
            batches.push(msg.batch);
            replies.push(msg.reply);
        }
        let client = self.client.take();
        let url = self.config.database_url.clone();
        let breakers = self.config.breakers;
        let started = Instant::now();
        let work = async move {
            let mut client = match client {
                Some(c) if !c.is_closed() => c,
                _ => ingest::connect(&url).await.map_err(|e| (None, e))?,
            };
            match ingest::write(&mut client, &batches, &breakers).await {
                Ok(()) => {
                    let n = batches.iter().map(|b| b.spans.len()).sum();
                    Ok((client, n, vec![Ok(()); batches.len()]))
                }
                Err(e) if batches.len() == 1 || client.is_closed() => Err((Some(client), e)),
                Err(_) => {
                    // One request's rows broke the shared transaction; retry
                    // each alone so only that request fails.
                    let mut outcomes = Vec::with_capacity(batches.len());
                    let mut stored = 0;
                    for b in batches.chunks(1) {
                        match ingest::write(&mut client, b, &breakers).await {
                            Ok(()) => {
                                stored += b[0].spans.len();
                                outcomes.push(Ok(()));
                            }
                            Err(e) => outcomes.push(Err(classify(&e))),
                        }
                    }
                    Ok((client, stored, outcomes))
                }
            }
        };
        ctx.spawn(
            AssertUnwindSafe(work)
                .catch_unwind()
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.busy = false;
                    let outcomes = match result {
                        Ok(Ok((client, n, outcomes))) => {
                            if !client.is_closed() {
                                act.client = Some(client);
                            }
                            act.metrics.stored.inc_by(n as u64);
                            act.metrics.groups.inc();
                            act.metrics.group_spans.observe(n as f64);
                            act.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                            let failed = outcomes.iter().filter(|o| o.is_err()).count();
                            if failed > 0 {
                                act.metrics.errors.inc_by(failed as u64);
                                tracing::warn!(
                                    actor = act.name,
                                    failed,
                                    "some batches could not be committed; the rest were"
                                );
                            }
                            act.registry.record_ok(act.name, None);
                            outcomes
                        }
                        Ok(Err((client, e))) => {
                            // A failed statement leaves the session usable; a dead
                            // connection is replaced on the next write.
                            act.client = client.filter(|c| !c.is_closed());
                            act.metrics.errors.inc();
                            let error = classify(&e);
                            tracing::warn!(actor = act.name, error = %error, "group commit failed");
                            act.registry.record_error(act.name, error.to_string());
                            vec![Err(error); replies.len()]
                        }
                        Err(_) => {
                            act.metrics.errors.inc();
                            act.registry
                                .record_panic(act.name, "panicked while writing a group".into());
                            tracing::error!(
                                actor = act.name,
                                "ingest writer panicked; the supervisor will restart it"
                            );
                            for reply in replies {
                                let _ = reply.send(Err(WriteError::Database("writer restarted".into())));
                            }
                            ctx.stop();
                            return;
                        }
                    };
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                    act.flush(ctx);
                }),
        );
    }

    /// Proves the connection while idle; a busy writer proves itself by
    /// completing groups.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let client = self.client.take();
        let url = self.config.database_url.clone();
        self.busy = true;
        let probe = async move {
            let client = match client {
                Some(c) if !c.is_closed() => c,
                _ => ingest::connect(&url).await?,
            };
            client.simple_query("SELECT 1").await?;
            Ok::<_, tokio_postgres::Error>(client)
        };
        ctx.spawn(probe.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            match result {
                Ok(client) => {
                    act.client = Some(client);
                    act.registry.record_ok(act.name, None);
                }
                Err(e) => act.registry.record_error(act.name, e.to_string()),
            }
            act.flush(ctx);
        }));
    }
}

#[cfg(test)]
mod tests {
    use strathon_schema::ingest::{MatchRow, SpanRow};

    use super::*;

    fn span(trace: u8, span: u8) -> SpanRow {
        SpanRow {
            trace_id: vec![trace; 16],
            span_id: vec![span; 8],
            ..SpanRow::default()
        }
    }

    #[test]
    fn a_trace_and_its_matches_stay_with_one_writer() {
        let spans: Vec<SpanRow> = (0..64).flat_map(|t| [span(t, 1), span(t, 2)]).collect();
        let matches = vec![MatchRow {
            project_id: uuid::Uuid::nil(),
            policy_id: uuid::Uuid::nil(),
            trace_id: vec![7; 16],
            span_id: vec![2; 8],
            action: "block".into(),
            outcome: "blocked",
            metadata: serde_json::Value::Null,
        }];
        let parts = split(
            Batch {
                spans: spans.clone(),
                matches,
                approvals: Vec::new(),
            },
            4,
        );
        assert_eq!(parts.len(), 4);
        assert_eq!(parts.iter().map(|p| p.spans.len()).sum::<usize>(), spans.len());
        // 64 traces over 4 lanes: every lane gets work.
        assert!(parts.iter().all(|p| !p.spans.is_empty()));
        for (i, part) in parts.iter().enumerate() {
            for s in &part.spans {
                assert_eq!(lane_of(&s.trace_id, 4), i);
            }
        }
        let with_match = parts.iter().position(|p| !p.matches.is_empty()).unwrap();
        assert!(parts[with_match].spans.iter().any(|s| s.trace_id == vec![7; 16]));
        assert_eq!(split(Batch::default(), 1).len(), 1);
    }

    #[test]
    fn a_request_is_answered_by_its_worst_part() {
        let db = || Err(WriteError::Database("down".into()));
        let bad = || Err(WriteError::Invalid("bad".into()));
        assert_eq!(worst(vec![Ok(()), Ok(())]), Ok(()));
        assert_eq!(worst(vec![Ok(()), Err(WriteError::Busy)]), Err(WriteError::Busy));
        assert_eq!(worst(vec![Err(WriteError::Busy), db(), Ok(())]), db());
        assert_eq!(worst(vec![db(), bad(), Ok(())]), bad());
        assert_eq!(worst(Vec::new()), Ok(()));
    }
}
