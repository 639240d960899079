//! What policy evaluation costs ingest: the time to evaluate every enabled
//! policy against each span of an SDK-shaped batch, with 1, 10 and 100
//! policies. Evaluation runs before the writer's commit, on the request's
//! worker, so this is CPU per span taken from ingest, not commit latency.
//!
//! `strathon-policy-eval [--seconds S] [--runs R]` prints one line per
//! policy count: median ns per span over R runs of S seconds, and spans/s
//! one core sustains.

use std::io::Write as _;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Map, Value};
use strathon_server::policy::{cel, matching, CompiledPolicy};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// A mix like the templates': equality, numeric comparison, `matches`,
/// membership and a missing-key guard, cycling with the index.
fn policy(i: usize) -> CompiledPolicy {
    let expression = match i % 5 {
        0 => format!(r#"name == "tool.call" && attrs["strathon.tool.name"] == "tool_{i}""#),
        1 => format!(
            r#""llm.cost_usd" in attrs && double(attrs["llm.cost_usd"]) > {}.5"#,
            i % 7
        ),
        2 => format!(r#"attrs["strathon.tool.input"].matches("(?i)drop\\s+table_{i}")"#),
        3 => format!(r#"attrs["strathon.agent.name"] in ["agent-{i}", "billing"]"#),
        _ => format!(r#""strathon.tool.name" in attrs && attrs["strathon.tool.name"].startsWith("shell_{i}")"#),
    };
    CompiledPolicy {
        id: uuid::Uuid::new_v4(),
        name: format!("p{i}"),
        action: "log".into(),
        action_config: json!({}),
        applies_to: vec![],
        shadow: false,
        program: cel::compile_str(&expression).unwrap_or_else(|e| panic!("{expression}: {e}")),
    }
}

fn span(i: usize) -> (String, Map<String, Value>) {
    let attrs = json!({
        "strathon.agent.name": if i.is_multiple_of(3) { "billing" } else { "support" },
        "strathon.tool.name": format!("tool_{}", i % 17),
        "strathon.tool.input": format!("{{\"query\": \"select * from orders where id = {i}\"}}"),
        "llm.model": "gpt-4o-mini",
        "llm.cost_usd": 0.0004 * i as f64,
        "llm.usage.prompt_tokens": 120 + i,
        "llm.usage.completion_tokens": 40,
        "strathon.framework": "langchain",
    });
    let name = if i.is_multiple_of(2) { "tool.call" } else { "llm.call" };
    (name.to_owned(), attrs.as_object().cloned().unwrap_or_default())
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut out = std::io::stdout().lock();
    let batch: Vec<_> = (0..100).map(span).collect();
    let now = chrono::Utc::now();
    writeln!(
        out,
        "policies | ns per span (median of {}) | spans/s per core | matches per batch",
        args.runs
    )?;
    for count in [1, 10, 100] {
        let policies: Vec<CompiledPolicy> = (0..count).map(policy).collect();
        let mut per_span = Vec::new();
        let mut matches = 0;
        for _ in 0..args.runs {
            let start = Instant::now();
            let mut spans = 0u64;
            while start.elapsed() < Duration::from_secs_f64(args.seconds) {
                matches = batch
                    .iter()
                    .map(|(name, attrs)| matching(&policies, name, attrs, now).len())
                    .sum::<usize>();
                spans += batch.len() as u64;
            }
            per_span.push(start.elapsed().as_nanos() as f64 / spans as f64);
        }
        per_span.sort_by(f64::total_cmp);
        let median = per_span[per_span.len() / 2];
        writeln!(out, "{count:>8} | {median:>26.0} | {:>16.0} | {matches}", 1e9 / median)?;
    }
    Ok(())
}
