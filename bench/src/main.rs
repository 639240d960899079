//! `strathon-load`: the load generator behind `bench/README.md`.
//!
//! `--mode load` POSTs SDK-shaped OTLP batches to a running receiver at a
//! fixed concurrency and afterwards proves, by counting rows, that every
//! acknowledged span was stored. `--mode copy` writes the same rows with a
//! raw binary COPY straight into `spans` (the physical limit of this
//! machine's Postgres for these rows).

mod copy;
mod gen;
mod load;
mod report;

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// POST OTLP batches to the receiver.
    Load,
    /// Raw binary COPY of the same rows into the spans table.
    Copy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "strathon-load",
    about = "Strathon ingest load generator and raw-COPY baseline"
)]
pub struct Args {
    /// Receiver base URL (POST {endpoint}/v1/traces).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub endpoint: String,

    /// API key with traces:write.
    #[arg(
        long,
        env = "STRATHON_API_KEY",
        default_value = "stra_dev_local_default_project_do_not_use_in_production"
    )]
    pub key: String,

    /// Concurrent senders (load) or COPY connections (copy).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,

    /// Measured duration, after the warm-up.
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,

    /// Warm-up before measuring (its batches are verified but not timed).
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,

    /// Spans per OTLP request (the SDK sends at most 100).
    #[arg(long, default_value_t = 100)]
    pub batch_spans: usize,

    /// Spans per COPY transaction in copy mode.
    #[arg(long, default_value_t = 1000)]
    pub copy_batch_spans: usize,

    /// Distinct batch templates to cycle through.
    #[arg(long, default_value_t = 16)]
    pub templates: usize,

    /// Database the receiver writes to: rows are counted there (load) or
    /// copied into it (copy).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/strathon"
    )]
    pub database_url: String,

    /// The project the key belongs to (rows are counted for it).
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000001")]
    pub project: Uuid,

    #[arg(long, value_enum, default_value = "load")]
    pub mode: Mode,

    #[arg(long, value_enum, default_value = "text")]
    pub report: ReportFormat,

    /// How long to wait for the stored count to reach the acknowledged one.
    #[arg(long, default_value_t = 15)]
    pub verify_timeout_secs: u64,

    /// Other generators write the same project at the same time (load mode
    /// only): the project's before/after count would include their spans,
    /// so skip it, and only report the acknowledged count (warm-up
    /// included, `verification.acknowledged`); the caller checks the total.
    /// `--database-url` is not used.
    #[arg(long)]
    pub shared_project: bool,
}

impl Args {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup_secs)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strathon-load: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("strathon-load: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Ok(false) when the run completed but failed verification.
async fn run(args: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        (1..=u16::MAX as usize / 2).contains(&args.batch_spans),
        "--batch-spans must be between 1 and 32767"
    );
    anyhow::ensure!(args.templates >= 1, "--templates must be at least 1");
    anyhow::ensure!(
        !(args.shared_project && args.mode == Mode::Copy),
        "--shared-project applies to --mode load only"
    );
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .context("the clock is out of range")?;
    let templates = (0..args.templates)
        .map(|i| gen::Template::build(0x5EED_0000 + i as u64, args.batch_spans, now))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = match args.mode {
        Mode::Load => load::run(&args, templates).await?,
        Mode::Copy => copy::run(&args, templates).await?,
    };
    report::print(&args, &report)?;
    if !report.verification.ok {
        eprintln!(
            "strathon-load: VERIFICATION FAILED: {} spans acknowledged but the stored count grew by {} ({} -> {})",
            report.verification.acknowledged,
            report.verification.stored,
            report.verification.before,
            report.verification.after
        );
    }
    Ok(report.verification.ok)
}

/// Counts the project's stored spans.
pub async fn count_spans(client: &tokio_postgres::Client, project: Uuid) -> anyhow::Result<i64> {
    let row = client
        .query_one("SELECT count(*) FROM spans WHERE project_id = $1", &[&project])
        .await
        .context("counting spans")?;
    Ok(row.get(0))
}

pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| "connecting to the database (--database-url)".to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("strathon-load: database connection closed: {e}");
        }
    });
    Ok(client)
}

/// This process's CPU time (user + system) from /proc, in seconds.
pub fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall (USER_HZ = 100 on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
