//! `strathon-dashboard-bench`: where a dashboard user waits. Signs a user in
//! through the receiver's API, stores one 500-span trace, then measures time
//! to first byte of the overview, the traces list and that trace's page
//! (sequential requests, after a warm-up), and the bytes a cold load of each
//! page transfers with its stylesheet, script and icon (gzip, as browsers
//! ask). The database is filled beforehand by `bench/dashboard.sh`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "strathon-dashboard-bench")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    dashboard: String,
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    receiver: String,
    /// A key with traces:write for storing the large trace.
    #[arg(long, default_value = "stra_dev_local_default_project_do_not_use_in_production")]
    key: String,
    /// Timed requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Spans in the large trace.
    #[arg(long, default_value_t = 500)]
    trace_spans: usize,
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One agent run of `n` spans: a root, steps under it, tool and model calls
/// under each step, as a LangGraph run nests them.
fn big_trace(n: usize) -> (Vec<u8>, ExportTraceServiceRequest) {
    let trace_id = uuid::Uuid::new_v4().as_bytes().to_vec();
    let start = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64 - 60_000_000_000;
    let span_id = |i: usize| -> Vec<u8> { (i as u64 + 1).to_be_bytes().to_vec() };
    let spans = (0..n)
        .map(|i| {
            let parent = match i {
                0 => Vec::new(),
                i if i % 10 == 1 => span_id(0),
                i => span_id(i - (i - 1) % 10),
            };
            let begin = start + i as u64 * 20_000_000;
            let mut attributes = vec![text("gen_ai.agent.name", "bench-agent")];
            let name = if i == 0 {
                "langgraph.chain.bench".to_owned()
            } else if i % 10 == 1 {
                format!("langgraph.node.step_{i}")
            } else if i % 2 == 0 {
                attributes.push(text("gen_ai.tool.name", "search_orders"));
                attributes.push(text("strathon.tool.args", r#"{"order": 4711}"#));
                "langgraph.tool.search_orders".to_owned()
            } else {
                attributes.push(text("gen_ai.request.model", "gpt-4o-mini"));
                attributes.push(text("gen_ai.prompt", &"Summarise the order history. ".repeat(20)));
                "openai.chat.gpt-4o-mini".to_owned()
            };
            Span {
                trace_id: trace_id.clone(),
                span_id: span_id(i),
                parent_span_id: parent,
                name,
                kind: 1,
                start_time_unix_nano: begin,
                end_time_unix_nano: begin + if i == 0 { n as u64 * 20_000_000 } else { 15_000_000 },
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "bench-agent")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (trace_id, request)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

struct Measured {
    name: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    page_bytes: usize,
    cold_bytes: usize,
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // A user and their session, as the dashboard's sign-in would make.
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let register = http
        .post(format!("{}/v1/auth/register", args.receiver))
        .json(&json!({"email": email, "password": "Bench-passw0rd-1"}))
        .send()
        .await?;
    let registered: Value = register.json().await?;
    let token = registered["token"]
        .as_str()
        .context("registration gave no token")?
        .to_owned();
    // Only the first user owns the default project; a later one needs a
    // membership (a conflict just means it has one).
    http.post(format!("{}/v1/members", args.receiver))
        .bearer_auth(&args.key)
        .json(&json!({"email": email, "role": "viewer"}))
        .send()
        .await?;

    let (trace_id, request) = big_trace(args.trace_spans);
    let stored = http
        .post(format!("{}/v1/traces", args.receiver))
        .bearer_auth(&args.key)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await?;
    if !stored.status().is_success() {
        bail!(
            "storing the {}-span trace answered {}",
            args.trace_spans,
            stored.status()
        );
    }
    let cookie = format!("strathon_session={token}");
    let pages = [
        ("overview", "/".to_owned()),
        ("traces list", "/traces?window=30d".to_owned()),
        (
            "500-span trace",
            format!(
                "/traces/{}",
                trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        ),
    ];
    let mut results = Vec::new();
    for (name, path) in &pages {
        let url = format!("{}{path}", args.dashboard);
        let get = || {
            http.get(&url)
                .header("cookie", &cookie)
                .header("accept-encoding", "gzip")
        };
        let first = get().send().await?;
        if first.status() != 200 {
            bail!("{path} answered {}", first.status());
        }
        let body = first.bytes().await?;
        let html = {
            use std::io::Read as _;
            let mut out = String::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut out).ok();
            if out.is_empty() {
                String::from_utf8_lossy(&body).into_owned()
            } else {
                out
            }
        };
        // A cold load: the page and every asset it links, compressed as sent.
        let mut cold = body.len();
        for asset in html.split('"').filter(|s| s.starts_with("/assets/")) {
            let resp = http
                .get(format!("{}{asset}", args.dashboard))
                .header("accept-encoding", "gzip")
                .send()
                .await?;
            cold += resp.bytes().await?.len();
        }
        for _ in 0..10 {
            get().send().await?.bytes().await?;
        }
        let mut ttfb = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let started = Instant::now();
            let resp = get().send().await?;
            ttfb.push(started.elapsed().as_secs_f64() * 1000.0);
            resp.bytes().await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        ttfb.sort_by(f64::total_cmp);
        results.push(Measured {
            name,
            p50_ms: percentile(&ttfb, 50.0),
            p99_ms: percentile(&ttfb, 99.0),
            page_bytes: body.len(),
            cold_bytes: cold,
        });
    }
    println!("| page | TTFB p50 | TTFB p99 | page (gzip) | cold load with assets |");
    println!("|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.1} ms | {:.1} ms | {:.1} KB | {:.1} KB |",
            r.name,
            r.p50_ms,
            r.p99_ms,
            r.page_bytes as f64 / 1000.0,
            r.cold_bytes as f64 / 1000.0
        );
    }
    let json: Vec<Value> = results
        .iter()
        .map(|r| json!({"page": r.name, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "page_bytes": r.page_bytes, "cold_bytes": r.cold_bytes}))
        .collect();
    eprintln!("{}", serde_json::to_string(&json)?);
    Ok(())
}
