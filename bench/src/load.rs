//! Load mode: SDK-shaped OTLP/HTTP batches at a fixed concurrency, then a
//! row count proving every acknowledged span was stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use crate::gen::Template;
use crate::report::{Report, Verification};
use crate::{count_spans, Args, Mode};

/// What the published SDK's exporter does: 6 attempts in all.
const MAX_ATTEMPTS: u32 = 6;

struct Shared {
    templates: Vec<Template>,
    seq: AtomicU64,
    nonce: u32,
    url: String,
    auth: String,
    measure_from: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct WorkerStats {
    acked_total: u64,
    spans: u64,
    batches: u64,
    last_done: Option<Instant>,
    latencies: Vec<Duration>,
    e2e: Vec<Duration>,
    retried_503: u64,
    other_retryable: u64,
    dropped: u64,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerStats {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
}

async fn worker(shared: Arc<Shared>, client: reqwest::Client) -> WorkerStats {
    let mut stats = WorkerStats::default();
    loop {
        let started = Instant::now();
        if started >= shared.deadline {
            break;
        }
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let template = &shared.templates[seq as usize % shared.templates.len()];
        let spans = template.spans as u64;
        let body = Bytes::from(template.instantiate(shared.nonce, seq));
        let mut attempt = 0;
        let mut transport_retried = false;
        loop {
            attempt += 1;
            let sent = Instant::now();
            let result = client
                .post(&shared.url)
                .header(CONTENT_TYPE, "application/x-protobuf")
                .header(USER_AGENT, "OTel-OTLP-Exporter-Python/1.45.0")
                .header(AUTHORIZATION, &shared.auth)
                .body(body.clone())
                .send()
                .await;
            let resp = match result {
                Ok(resp) => resp,
                Err(e) => {
                    stats.error(format!("transport: {e}"));
                    // The SDK retries a connection error once, at once.
                    if !transport_retried {
                        transport_retried = true;
                        continue;
                    }
                    break;
                }
            };
            let status = resp.status().as_u16();
            let wait = retry_after(&resp);
            // Drain the body so the connection goes back to the pool.
            let text = resp.bytes().await;
            let done = Instant::now();
            match status {
                200 => {
                    stats.acked_total += spans;
                    if done >= shared.measure_from {
                        stats.spans += spans;
                        stats.batches += 1;
                        stats.last_done = Some(done);
                    }
                    if started >= shared.measure_from {
                        stats.latencies.push(done - sent);
                        stats.e2e.push(done - started);
                    }
                    break;
                }
                429 | 502 | 503 | 504 => {
                    if status == 503 {
                        stats.retried_503 += 1;
                    } else {
                        stats.other_retryable += 1;
                    }
                    if attempt >= MAX_ATTEMPTS {
                        stats.dropped += 1;
                        break;
                    }
                    let backoff = Duration::from_secs(1 << (attempt - 1).min(4));
                    tokio::time::sleep(wait.unwrap_or(backoff)).await;
                }
                _ => {
                    let body = text
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                        .unwrap_or_default();
                    stats.error(format!("HTTP {status}: {body}"));
                    break;
                }
            }
        }
    }
    stats
}

pub async fn run(args: &Args, templates: Vec<Template>) -> anyhow::Result<Report> {
    // With --shared-project other generators write the same project, so its
    // count proves nothing here; the caller compares the total.
    let db = match args.shared_project {
        false => Some(crate::connect(&args.database_url).await?),
        true => None,
    };
    let before = match &db {
        Some(db) => count_spans(db, args.project).await?,
        None => 0,
    };
    let body_bytes = templates.iter().map(Template::encoded_len).sum::<usize>() / templates.len();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let ready = client
        .get(format!("{}/ready", args.endpoint.trim_end_matches('/')))
        .send()
        .await
        .with_context(|| format!("the receiver at {} is not reachable", args.endpoint))?;
    anyhow::ensure!(
        ready.status().is_success(),
        "the receiver is not ready: HTTP {}",
        ready.status()
    );

    let cpu_before = crate::own_cpu_secs();
    let start = Instant::now();
    let measure_from = start + args.warmup();
    let shared = Arc::new(Shared {
        templates,
        seq: AtomicU64::new(0),
        nonce: uuid::Uuid::new_v4().as_u128() as u32,
        url: format!("{}/v1/traces", args.endpoint.trim_end_matches('/')),
        auth: format!("Bearer {}", args.key),
        measure_from,
        deadline: measure_from + args.duration(),
    });
    let handles: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone(), client.clone())))
        .collect();
    let mut report = Report {
        mode: Some(Mode::Load),
        body_bytes,
        ..Default::default()
    };
    let mut acked_total = 0u64;
    let mut last_done = measure_from;
    for h in handles {
        let s = h.await.context("a sender panicked")?;
        acked_total += s.acked_total;
        report.spans += s.spans;
        report.batches += s.batches;
        report.latencies.extend(s.latencies);
        report.e2e_latencies.extend(s.e2e);
        report.retried_503 += s.retried_503;
        report.other_retryable += s.other_retryable;
        report.dropped += s.dropped;
        report.errors += s.errors;
        if report.first_error.is_none() {
            report.first_error = s.first_error;
        }
        if let Some(d) = s.last_done {
            last_done = last_done.max(d);
        }
    }
    report.window = last_done.saturating_duration_since(measure_from);
    report.cpu_secs = cpu_before.zip(crate::own_cpu_secs()).map(|(a, b)| b - a);

    let Some(db) = db else {
        report.verification = Verification {
            acknowledged: acked_total as i64,
            ok: true,
            skipped: true,
            ..Default::default()
        };
        return Ok(report);
    };
    // A 200 means committed, so the count should match at once; allow a
    // moment anyway before declaring a loss.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let expected = before + acked_total as i64;
    let give_up = Instant::now() + Duration::from_secs(args.verify_timeout_secs);
    let mut after = count_spans(&db, args.project).await?;
    while after < expected && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = count_spans(&db, args.project).await?;
    }
    report.verification = Verification {
        before,
        after,
        stored: after - before,
        acknowledged: acked_total as i64,
        ok: after == expected,
        skipped: false,
    };
    Ok(report)
}
