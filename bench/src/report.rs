//! Results of one run, as text or one JSON object.

use std::io::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::{Args, Mode, ReportFormat};

#[derive(Debug, Default, Clone)]
pub struct Verification {
    pub before: i64,
    pub after: i64,
    /// How much the stored count grew.
    pub stored: i64,
    /// Spans acknowledged (load: HTTP 200; copy: committed), warm-up included.
    pub acknowledged: i64,
    pub ok: bool,
    /// Not counted (`--shared-project`): only `acknowledged` is meaningful.
    pub skipped: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub mode: Option<Mode>,
    /// The measured window (after warm-up, until the last batch finished).
    pub window: Duration,
    /// Batches (load) or COPY transactions (copy) finished in the window.
    pub batches: u64,
    /// Spans acknowledged in the window.
    pub spans: u64,
    /// Per-attempt latency of acknowledged batches started after warm-up.
    pub latencies: Vec<Duration>,
    /// End-to-end latency including 503 retries and their waits.
    pub e2e_latencies: Vec<Duration>,
    pub retried_503: u64,
    pub other_retryable: u64,
    /// Batches given up after the SDK's 6 attempts.
    pub dropped: u64,
    /// Non-retryable statuses or transport errors.
    pub errors: u64,
    pub first_error: Option<String>,
    pub body_bytes: usize,
    pub cpu_secs: Option<f64>,
    pub verification: Verification,
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Report {
    pub fn spans_per_sec(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.spans as f64 / secs
        } else {
            0.0
        }
    }

    fn json(&self, args: &Args) -> serde_json::Value {
        let mut lat = self.latencies.clone();
        lat.sort_unstable();
        let mut e2e = self.e2e_latencies.clone();
        e2e.sort_unstable();
        let v = &self.verification;
        let mut j = json!({
            "mode": match self.mode { Some(Mode::Copy) => "copy", _ => "load" },
            "concurrency": args.concurrency,
            "batch_spans": if self.mode == Some(Mode::Copy) { args.copy_batch_spans } else { args.batch_spans },
            "window_secs": round(self.window.as_secs_f64(), 3),
            "batches": self.batches,
            "spans": self.spans,
            "spans_per_sec": round(self.spans_per_sec(), 1),
            "latency_ms": {
                "p50": round(percentile_ms(&lat, 50.0), 2),
                "p99": round(percentile_ms(&lat, 99.0), 2),
                "max": round(lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0), 2),
            },
            "e2e_latency_ms": {
                "p50": round(percentile_ms(&e2e, 50.0), 2),
                "p99": round(percentile_ms(&e2e, 99.0), 2),
                "max": round(e2e.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0), 2),
            },
            "retried_503": self.retried_503,
            "retried_other": self.other_retryable,
            "dropped_batches": self.dropped,
            "errors": self.errors,
            "first_error": self.first_error,
            "body_bytes": self.body_bytes,
            "generator_cpu_secs": self.cpu_secs.map(|c| round(c, 2)),
            "verification": {
                "before": v.before,
                "after": v.after,
                "stored": v.stored,
                "acknowledged": v.acknowledged,
                "ok": v.ok,
            },
        });
        if v.skipped {
            j["verification"]["skipped"] = json!(true);
        }
        j
    }
}

pub fn print(args: &Args, r: &Report) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.report {
        ReportFormat::Json => writeln!(out, "{}", r.json(args))?,
        ReportFormat::Text => {
            let j = r.json(args);
            let what = if r.mode == Some(Mode::Copy) {
                "raw COPY"
            } else {
                "ingest"
            };
            writeln!(
                out,
                "{what}: concurrency {}, {} spans in {:.1} s = {:.0} spans/s",
                args.concurrency,
                r.spans,
                r.window.as_secs_f64(),
                r.spans_per_sec()
            )?;
            writeln!(
                out,
                "latency per {}: p50 {} ms, p99 {} ms, max {} ms",
                if r.mode == Some(Mode::Copy) {
                    "COPY transaction"
                } else {
                    "batch"
                },
                j["latency_ms"]["p50"],
                j["latency_ms"]["p99"],
                j["latency_ms"]["max"]
            )?;
            if r.mode != Some(Mode::Copy) {
                writeln!(
                    out,
                    "503 retries {}, other retries {}, dropped batches {}, errors {}{}",
                    r.retried_503,
                    r.other_retryable,
                    r.dropped,
                    r.errors,
                    r.first_error
                        .as_deref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                )?;
            }
            let v = &r.verification;
            if v.skipped {
                writeln!(
                    out,
                    "verification: skipped (--shared-project), {} spans acknowledged",
                    v.acknowledged
                )?;
                return Ok(());
            }
            writeln!(
                out,
                "verification: {} acknowledged, stored count {} -> {} (+{}): {}",
                v.acknowledged,
                v.before,
                v.after,
                v.stored,
                if v.ok { "OK" } else { "FAILED" }
            )?;
        }
    }
    Ok(())
}
