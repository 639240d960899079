//! What PII and credential redaction costs ingest: the time to redact the
//! attributes of each span of SDK-shaped batches (the same generator as the
//! load benchmark), with the default settings (redaction and credential
//! scanning on). It runs on the request's worker before the commit, so this
//! is receiver CPU per stored span.
//!
//! `strathon-redaction [--seconds S] [--runs R]` prints the median ns per
//! span over R runs of S seconds, and spans/s one core sustains.

use std::io::Write as _;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Map, Value};
use strathon_server::ingest::redaction::{redact, RedactionConfig};

#[allow(dead_code)] // the load generator's module; this uses its span specs only
#[path = "../gen.rs"]
mod gen;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Every span's attributes as the receiver redacts them: the SDK's resource
/// merged with the span's own.
fn corpus() -> Vec<Map<String, Value>> {
    let resource = json!({
        "service.name": "support-agent",
        "deployment.environment": "production",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.27.0",
    });
    let mut spans = Vec::new();
    for seed in 0..16 {
        let mut rng = gen::Rng::new(seed);
        for spec in gen::batch_specs(&mut rng, 100, 1_700_000_000_000_000_000) {
            let mut attrs = resource.as_object().expect("an object").clone();
            for (key, value) in &spec.attrs {
                attrs.insert((*key).to_owned(), value.json());
            }
            spans.push(attrs);
        }
    }
    spans
}

fn main() {
    let args = Args::parse();
    let config = RedactionConfig::from_settings(true, true, &json!([]), &json!({}), &json!({}), &json!([]));
    let corpus = corpus();
    let mut per_span = Vec::new();
    for _ in 0..args.runs {
        let (mut spans, mut busy) = (0u64, Duration::ZERO);
        let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
        while Instant::now() < deadline {
            let mut work = corpus.clone();
            let started = Instant::now();
            for attrs in &mut work {
                redact(attrs, &config);
            }
            busy += started.elapsed();
            spans += work.len() as u64;
        }
        per_span.push(busy.as_nanos() as f64 / spans as f64);
    }
    per_span.sort_by(f64::total_cmp);
    let median = per_span[per_span.len() / 2];
    let runs: Vec<String> = per_span.iter().map(|n| format!("{n:.0}")).collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "redaction: {median:.0} ns per span (median of {}: {}), {:.0} spans/s on one core",
        per_span.len(),
        runs.join(", "),
        1e9 / median
    )
    .expect("stdout");
}
