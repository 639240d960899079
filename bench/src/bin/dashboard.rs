//! `strathon-dashboard-bench`: where a dashboard user waits. Signs a user in
//! through the receiver's API, stores one 500-span trace, then measures time
//! to first byte of the overview, the traces list and that trace's page
//! (sequential requests, after a warm-up), and the bytes a cold load of each
//! page transfers with its stylesheet, script and icon (gzip, as browsers
//! ask). The database is filled beforehand by `bench/dashboard.sh`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use prost::Message as _;
use serde_json::{json, Value};
use strathon_bench::{big_trace, hex_id, percentile};

#[derive(Parser)]
#[command(name = "strathon-dashboard-bench")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    dashboard: String,
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    receiver: String,
    /// A key with traces:write for storing the large trace.
    #[arg(long, default_value = strathon_bench::DEV_KEY)]
    key: String,
    /// Timed requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Spans in the large trace.
    #[arg(long, default_value_t = 500)]
    trace_spans: usize,
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
        ("500-span trace", format!("/traces/{}", hex_id(&trace_id))),
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
