//! `strathon adopt`: moves an installation of the Python original into a
//! new database of ours, and `strathon adopt verify` checks the result.
//!
//! The target is a separate, fresh database (DATABASE_URL), never the
//! original's: the original keeps running untouched until the switch and
//! stays the way back; our schema shares table and schema names with it
//! (`projects`, `audit.events`, …), so sharing one database would need a
//! second search path in every query; and the copy can be checked against a
//! source nobody writes to. The source is read in one REPEATABLE READ
//! snapshot, so all tables come from the same instant.

pub mod copy;
pub mod mapping;
pub mod report;
pub mod revision;
pub mod verify;

use std::time::Instant;

use anyhow::{bail, Context as _};
use tokio_postgres::{Client, NoTls};

use crate::cli::{Adopt, AdoptSettings, AdoptStep};
use crate::logging::redact_url;
use copy::{Chunk, Mode, CHUNK_ROWS};
use mapping::{Table, CONTROL_PLANE, SPANS, TRACES};

pub async fn run(adopt: Adopt) -> anyhow::Result<()> {
    match adopt.step {
        Some(AdoptStep::Verify { source, settings }) => {
            let from = source.from.context("--from is required")?;
            verify::run(&from, &settings).await
        }
        None => {
            let from = adopt.source.from.context("--from is required")?;
            if adopt.dry_run {
                dry_run(&from).await
            } else {
                adopt_into(&from, &adopt.settings).await
            }
        }
    }
}

pub(crate) async fn connect(url: &str, what: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to the {what} database {}", redact_url(url)))?;
    actix_rt::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection ended");
        }
    });
    client.batch_execute(copy::SESSION).await?;
    Ok(client)
}

/// Opens the source read-only in one snapshot and checks its revision.
pub(crate) async fn open_source(url: &str) -> anyhow::Result<Client> {
    let source = connect(url, "source").await?;
    source
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let found = if source
        .query_one("SELECT to_regclass('public.alembic_version') IS NOT NULL", &[])
        .await?
        .get::<_, bool>(0)
    {
        let rows = source
            .query("SELECT version_num::text FROM alembic_version", &[])
            .await?;
        Some(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>())
    } else {
        None
    };
    revision::check(found.as_deref())?;
    Ok(source)
}

/// `(system identifier, database)`: which database a connection reaches,
/// whatever host name or port the URL used to get there.
pub(crate) async fn identity(db: &Client) -> anyhow::Result<(String, String)> {
    let database: String = db.query_one("SELECT current_database()::text", &[]).await?.get(0);
    // pg_control_system() may be restricted to superusers; the data
    // directory then stands in, and failing that nothing more precise.
    let system = match db
        .query_one("SELECT system_identifier::text FROM pg_control_system()", &[])
        .await
    {
        Ok(row) => row.get(0),
        Err(_) => "unknown".to_owned(),
    };
    Ok((system, database))
}

async fn dry_run(from: &str) -> anyhow::Result<()> {
    let source = open_source(from).await?;
    let census = report::census(&source).await?;
    let text = report::render(&census);
    #[allow(clippy::print_stdout)]
    {
        print!("{text}");
    }
    Ok(())
}

async fn adopt_into(from: &str, settings: &AdoptSettings) -> anyhow::Result<()> {
    let started = Instant::now();
    let source = open_source(from).await?;
    tracing::info!(source = %redact_url(from), revision = revision::EXPECTED, "source database is at the expected revision");

    let url = &settings.database.url;
    crate::serve::create_database_if_missing(url).await?;
    let mut target = connect(url, "target").await?;
    // Both checks come before our migrations touch the target.
    let source_id = identity(&source).await?;
    if identity(&target).await? == source_id {
        bail!("DATABASE_URL names the source database itself; adopt into a new, empty database");
    }
    let foreign: i64 = target
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' AND to_regclass('public.__diesel_schema_migrations') IS NULL",
            &[],
        )
        .await?
        .get(0);
    if foreign > 0 {
        bail!("the target database holds tables of another application; adopt into a new, empty database");
    }
    let applied = strathon_schema::migrate::run_pending(url)
        .await
        .context("migrating the target database")?;
    tracing::info!(applied = ?applied, target = %redact_url(url), "target database migrated");
    target.batch_execute(copy::BOOKKEEPING).await?;
    let state = claim_target(&target, &source_id).await?;
    if state.finished {
        #[allow(clippy::print_stdout)]
        {
            println!("This database was already adopted from the source; nothing to do. Check it with `strathon adopt verify`.");
        }
        return Ok(());
    }

    let mut diesel = strathon_schema::pool::dedicated(url).await?;
    if state.control_plane_done {
        tracing::info!("control plane already carried by an earlier run; resuming the trace data");
    } else {
        let months = audit_months(&source).await?;
        strathon_schema::partitions::ensure_audit(&mut diesel, &months).await?;
        carry_control_plane(&source, &mut target).await?;
    }

    // Traces first: spans reference them.
    let trace_plan = plan_phase(&source, &target, "traces").await?;
    let span_plan = plan_phase(&source, &target, "spans").await?;
    if let Some(buckets) = &span_plan.buckets {
        let mut months: Vec<_> = buckets
            .iter()
            .map(|(start, _)| month_of(*start))
            .chain(strathon_schema::partitions::wanted_months(chrono::Utc::now()))
            .collect();
        months.sort();
        months.dedup();
        strathon_schema::partitions::ensure(&mut diesel, &months).await?;
    }
    // Stored only now: a stored span plan means its partitions exist.
    for (phase, plan) in [("traces", &trace_plan), ("spans", &span_plan)] {
        if plan.buckets.is_some() {
            let chunks: Vec<Chunk> = plan.chunks.iter().map(|(c, _)| *c).collect();
            copy::store_plan(&target, phase, &chunks).await?;
        }
    }
    let traces = copy_phase(&source, &mut target, &TRACES, "traces", trace_plan.chunks).await?;
    let spans = copy_phase(&source, &mut target, &SPANS, "spans", span_plan.chunks).await?;

    target
        .execute("UPDATE adoption.source SET finished_at = now()", &[])
        .await?;
    source.batch_execute("COMMIT").await?;
    let (per_second, per_million) = copy::rate(spans.rows, spans.seconds);
    tracing::info!(
        traces = traces.rows,
        spans = spans.rows,
        span_seconds = spans.seconds,
        spans_per_second = per_second.round(),
        seconds_per_million_spans = per_million,
        total_seconds = started.elapsed().as_secs_f64(),
        "adopt complete"
    );
    #[allow(clippy::print_stdout)]
    {
        println!(
            "Adopted: {} traces and {} spans copied in this run ({:.0} spans/s, {:.1} s per million spans); total {:.1} s.",
            traces.rows,
            spans.rows,
            per_second,
            per_million,
            started.elapsed().as_secs_f64()
        );
        println!("Next: `strathon adopt verify --from …` with the original's STRATHON_AUDIT_HMAC_KEY and STRATHON_ENCRYPTION_KEY.");
    }
    Ok(())
}

struct TargetState {
    control_plane_done: bool,
    finished: bool,
}

/// Makes sure the target is ours to fill: either fresh, or adopted earlier
/// from this same source (a resumed run). Anything else would mix two
/// installations' data.
async fn claim_target(target: &Client, source: &(String, String)) -> anyhow::Result<TargetState> {
    let locked = target
        .query_one("SELECT pg_try_advisory_lock(hashtext('strathon adopt'))", &[])
        .await?
        .get::<_, bool>(0);
    if !locked {
        bail!("another `strathon adopt` is writing to this database");
    }
    let previous = target
        .query_opt(
            "SELECT system_identifier, database, control_plane_at IS NOT NULL, finished_at IS NOT NULL FROM adoption.source",
            &[],
        )
        .await?;
    if let Some(row) = previous {
        let (system, database): (String, String) = (row.get(0), row.get(1));
        if (&system, &database) != (&source.0, &source.1) {
            bail!(
                "this database was adopted from another source (database '{database}'); adopt into a new, empty database"
            );
        }
        return Ok(TargetState {
            control_plane_done: row.get(2),
            finished: row.get(3),
        });
    }
    let occupied: i64 = target
        .query_one(
            "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM policies) \
             + (SELECT count(*) FROM traces) + (SELECT count(*) FROM audit.events) \
             + (SELECT count(*) FROM projects WHERE id <> $1)",
            &[&strathon_schema::projects::DEFAULT_PROJECT_ID],
        )
        .await?
        .get(0);
    if occupied > 0 {
        bail!("the target database already holds data of its own; adopt into a new, empty database");
    }
    target
        .execute(
            "INSERT INTO adoption.source (system_identifier, database, revision) VALUES ($1, $2, $3)",
            &[&source.0, &source.1, &revision::EXPECTED],
        )
        .await?;
    Ok(TargetState {
        control_plane_done: false,
        finished: false,
    })
}

/// Every control-plane table and the audit log, in one transaction: either
/// all of it is in, or none (a rerun starts it over).
async fn carry_control_plane(source: &Client, target: &mut Client) -> anyhow::Result<()> {
    let tx = target.transaction().await?;
    for table in CONTROL_PLANE {
        let copied = carry(source, &tx, table, None, Mode::Staging).await?;
        tracing::info!(
            table = table.target,
            read = copied.read,
            inserted = copied.inserted,
            "carried"
        );
    }
    for table in CONTROL_PLANE.iter().filter(|t| t.serial.is_some()) {
        let column = table.serial.unwrap_or("id");
        tx.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{0}', '{column}'), coalesce((SELECT max({column}) FROM {0}), 0) + 1, false)",
            table.target
        ))
        .await?;
    }
    // Our next audit event continues the original's global sequence.
    tx.batch_execute(
        "SELECT setval('audit.events_sequence_no_seq', coalesce((SELECT max(sequence_no) FROM audit.events), 0) + 1, false)",
    )
    .await?;
    tx.execute("UPDATE adoption.source SET control_plane_at = now()", &[])
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn carry(
    source: &Client,
    tx: &tokio_postgres::Transaction<'_>,
    table: &Table,
    range: Option<(i64, i64)>,
    mode: Mode,
) -> anyhow::Result<copy::Copied> {
    let types = copy::target_columns(tx, table.target).await?;
    let missing = mapping::missing_columns(table, &types);
    if !missing.is_empty() {
        bail!(
            "{} lacks mapped columns {missing:?}: the mapping is out of step with the migrations",
            table.target
        );
    }
    for trigger in table.quiet_triggers {
        tx.batch_execute(&format!("ALTER TABLE {} DISABLE TRIGGER {trigger}", table.target))
            .await?;
    }
    let copied = copy::copy_table(source, tx, table, &types, range, mode)
        .await
        .with_context(|| format!("copying {} into {}", table.source, table.target))?;
    for trigger in table.quiet_triggers {
        tx.batch_execute(&format!("ALTER TABLE {} ENABLE TRIGGER {trigger}", table.target))
            .await?;
    }
    Ok(copied)
}

struct PhaseResult {
    rows: u64,
    seconds: f64,
}

struct Plan {
    chunks: Vec<(Chunk, bool)>,
    /// The per-hour counts a new plan was made from (None when resuming).
    buckets: Option<Vec<(i64, i64)>>,
}

/// The stored plan of a phase, or a new one from per-hour counts, which the
/// caller stores before copying any chunk, so every run works through the
/// same chunks.
async fn plan_phase(source: &Client, target: &Client, phase: &str) -> anyhow::Result<Plan> {
    if let Some(chunks) = copy::stored_plan(target, phase).await? {
        return Ok(Plan { chunks, buckets: None });
    }
    let buckets = copy::buckets(source, phase).await?;
    let planned = copy::plan(&buckets, CHUNK_ROWS);
    Ok(Plan {
        chunks: planned.into_iter().map(|c| (c, false)).collect(),
        buckets: Some(buckets),
    })
}

/// Copies one table of trace data chunk by chunk, skipping committed ones.
async fn copy_phase(
    source: &Client,
    target: &mut Client,
    table: &Table,
    phase: &str,
    chunks: Vec<(Chunk, bool)>,
) -> anyhow::Result<PhaseResult> {
    let total: i64 = chunks.iter().map(|(c, _)| c.rows).sum();
    let done_rows: i64 = chunks.iter().filter(|(_, done)| *done).map(|(c, _)| c.rows).sum();
    let done = chunks.iter().filter(|(_, done)| *done).count();
    if done > 0 {
        tracing::info!(
            phase,
            chunks_done = done,
            chunks = chunks.len(),
            "resuming after the last committed chunk"
        );
    }
    let bar = report::progress(phase, total as u64, done_rows as u64);
    let started = Instant::now();
    let mut rows = 0u64;
    let count = chunks.len();
    for (index, (chunk, finished)) in chunks.into_iter().enumerate() {
        if finished {
            continue;
        }
        let range = Some((chunk.lo, chunk.hi));
        // A chunk not marked done holds none of our rows (its commit would
        // have marked it), so it goes straight in, unless the receiver has
        // stored spans in its range (its rollups show it), or a straight
        // copy runs into one: then through the staging table, which skips
        // rows already there and counts only new spans into the rollups.
        let staging_note = || {
            tracing::info!(
                phase,
                chunk = index + 1,
                "spans already in the range; copying through staging"
            )
        };
        let tx = target.transaction().await?;
        let mode = if table.rolls_up() && copy::rollups_in(&tx, chunk.lo, chunk.hi).await? {
            staging_note();
            Mode::Staging
        } else {
            Mode::Direct
        };
        let copied = match carry(source, &tx, table, range, mode).await {
            Ok(copied) => {
                copy::mark_done(&tx, phase, chunk.lo, copied.read).await?;
                tx.commit().await?;
                copied
            }
            Err(e) if mode == Mode::Direct && is_unique_violation(&e) => {
                drop(tx);
                staging_note();
                let tx = target.transaction().await?;
                let copied = carry(source, &tx, table, range, Mode::Staging).await?;
                copy::mark_done(&tx, phase, chunk.lo, copied.read).await?;
                tx.commit().await?;
                copied
            }
            Err(e) => return Err(e),
        };
        rows += copied.read;
        bar.inc(copied.read);
        tracing::info!(
            phase,
            chunk = index + 1,
            chunks = count,
            read = copied.read,
            inserted = copied.inserted,
            "chunk committed"
        );
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let (per_second, per_million) = copy::rate(rows, seconds);
    tracing::info!(
        phase,
        rows,
        seconds,
        rows_per_second = per_second.round(),
        seconds_per_million = per_million,
        "phase copied"
    );
    Ok(PhaseResult { rows, seconds })
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .any(|e| e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
}

fn month_of(ns: i64) -> strathon_schema::partitions::Month {
    strathon_schema::partitions::Month::of(chrono::DateTime::from_timestamp_nanos(ns))
}

/// Months holding audit events in the source, so each has its partition.
async fn audit_months(source: &Client) -> anyhow::Result<Vec<strathon_schema::partitions::Month>> {
    let rows = source
        .query(
            "SELECT DISTINCT extract(year FROM occurred_at)::int, extract(month FROM occurred_at)::int \
             FROM audit.events ORDER BY 1, 2",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| strathon_schema::partitions::Month {
            year: r.get(0),
            month: r.get::<_, i32>(1) as u32,
        })
        .collect())
}
