//! The webhook sender (`webhook_sweeper_task` in `/ready`): delivers queued
//! webhook rows. It is woken by `NOTIFY strathon_webhooks`, which Postgres
//! sends when a transaction that queued a delivery commits, and it also
//! sweeps on an interval for retries that have come due and for anything a
//! crash or a lost notification left behind. Delivery is at-least-once;
//! receivers deduplicate on the stable `webhook-id`.

pub mod chat;
pub mod listen;
pub mod retry;
pub mod signature;
pub mod ssrf;

use std::time::Duration;

use futures::future::LocalBoxFuture;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use strathon_schema::audit_streams;
use strathon_schema::webhooks::{self, Attempt, Delivery};
use strathon_schema::{sealed, DbPool};

use crate::{Job, JobError};

pub const NAME: &str = "webhook_sweeper_task";
pub const USER_AGENT: &str = "Strathon-Receiver/1.0 (+strathon.io)";
/// Most rounds of claims in one tick, so one tick cannot run forever. A
/// round sends at most one delivery per audit stream (they go in order), so
/// a tick keeps claiming while anything was due.
const MAX_ROUNDS: usize = 500;

#[derive(Clone)]
pub struct WebhookMetrics {
    pub sends: IntCounterVec,
    pub dlq: IntCounter,
    pub runs: IntCounter,
}

impl WebhookMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let sends = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_webhook_sends_total",
                "Webhook delivery attempts by resulting status",
            ),
            &["outcome"],
        )?;
        let dlq = IntCounter::new(
            "strathon_receiver_webhook_dlq_total",
            "Webhook deliveries dead-lettered after their last attempt",
        )?;
        let runs = IntCounter::new(
            "strathon_receiver_webhook_sweeper_runs_total",
            "Webhook sender rounds (woken or swept)",
        )?;
        registry.register(Box::new(sends.clone()))?;
        registry.register(Box::new(dlq.clone()))?;
        registry.register(Box::new(runs.clone()))?;
        Ok(WebhookMetrics { sends, dlq, runs })
    }
}

/// How deliveries are made; one value shared by every send.
#[derive(Clone)]
pub struct Delivering {
    pub batch: i32,
    pub max_attempts: i32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
    pub guard: ssrf::Guard,
    /// Opens the sealed signing secrets.
    pub encryption_key: Option<String>,
    /// Approval requests to Slack carry Approve and Deny buttons.
    pub slack_buttons: bool,
}

pub struct WebhookSender {
    pub pool: DbPool,
    pub interval: Duration,
    pub delivering: Delivering,
    pub metrics: WebhookMetrics,
}

impl Job for WebhookSender {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>> {
        let pool = self.pool.clone();
        let cfg = self.delivering.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            for _ in 0..MAX_ROUNDS {
                metrics.runs.inc();
                // Longer than any attempt can take, so a live sender never
                // loses its claim; a dead one's rows come back after it.
                let lease = cfg.timeout * 2 + Duration::from_secs(30);
                let claimed = {
                    let mut conn = pool.get().await?;
                    webhooks::claim_due(&mut conn, cfg.batch, lease, cfg.max_attempts).await?
                };
                if claimed.is_empty() {
                    break;
                }
                let sends = claimed.into_iter().map(|d| deliver(&pool, &cfg, &metrics, d));
                for result in futures::future::join_all(sends).await {
                    result?;
                }
            }
            Ok(())
        })
    }
}

async fn deliver(pool: &DbPool, cfg: &Delivering, metrics: &WebhookMetrics, d: Delivery) -> Result<(), JobError> {
    let attempts = d.attempts + 1;
    let attempt = match ssrf::check(&d.url, cfg.guard).await {
        Err(reason) => {
            tracing::warn!(delivery_id = %d.id, url = %d.url, %reason, "webhook refused by the SSRF guard");
            Attempt {
                status: "abandoned",
                attempts,
                retry_at: None,
                response_status: None,
                error: Some(format!("SSRF blocked: {reason}")),
            }
        }
        Ok(target) => {
            let keys: Vec<Vec<u8>> = {
                let mut conn = pool.get().await?;
                let only = match d.stream_id {
                    Some(stream) => audit_streams::signing_key(&mut conn, stream).await?,
                    None => None,
                };
                webhooks::active_secrets(&mut conn, d.project_id, only).await?
            }
            .iter()
            .filter_map(|s| sealed::open(s, cfg.encryption_key.as_deref()))
            .filter_map(|s| signature::key_bytes(&s))
            .collect();
            let (status, retry_after, error) = send(cfg, &target, &d, &keys).await;
            let verdict = retry::verdict(status);
            let outcome = retry::status(verdict, attempts, d.max_attempts);
            let retry_at = (outcome == "failed_retrying").then(|| {
                let wait = retry::backoff(attempts, cfg.min_backoff, cfg.max_backoff, retry_after, rand::random());
                chrono::Utc::now() + wait
            });
            Attempt {
                status: outcome,
                attempts,
                retry_at,
                response_status: status.map(i32::from),
                error,
            }
        }
    };
    metrics.sends.with_label_values(&[attempt.status]).inc();
    if attempt.status == "dlq" {
        metrics.dlq.inc();
        tracing::warn!(delivery_id = %d.id, url = %d.url, attempts, "webhook dead-lettered after its last attempt");
    }
    let mut conn = pool.get().await?;
    webhooks::record(&mut conn, d.id, &attempt).await?;
    // A stream never skips an event: a dead one holds the stream until an
    // operator resumes it.
    if let (Some(stream), "dlq" | "abandoned") = (d.stream_id, attempt.status) {
        let reason = format!(
            "delivery of event {} {}: {}",
            d.stream_seq.unwrap_or_default(),
            if attempt.status == "dlq" {
                "dead-lettered"
            } else {
                "abandoned"
            },
            attempt.error.as_deref().unwrap_or("refused")
        );
        if audit_streams::pause(&mut conn, stream, &reason).await? > 0 {
            tracing::warn!(stream_id = %stream, %reason, "audit stream paused");
        }
    }
    Ok(())
}

/// One POST: the response status (None when none came), the `Retry-After`
/// the receiver asked for, and an error description for anything but 2xx.
async fn send(
    cfg: &Delivering,
    target: &ssrf::Target,
    d: &Delivery,
    keys: &[Vec<u8>],
) -> (Option<u16>, Option<Duration>, Option<String>) {
    // A client per attempt: the SSRF pin (name → the addresses just
    // checked) is client-wide, and deliveries are rare enough not to miss
    // connection reuse.
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.timeout)
        .user_agent(USER_AGENT);
    if let Some((host, addrs)) = &target.pin {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return (None, None, Some(format!("cannot build the HTTP client: {e}"))),
    };
    let body = serde_json::to_vec(&chat::body(&d.format, &d.payload, cfg.slack_buttons)).unwrap_or_default();
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(target.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &d.webhook_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(sig) = signature::header(keys, &d.webhook_id, timestamp, &body) {
        request = request.header("webhook-signature", sig);
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let error = (!status.is_success()).then(|| format!("HTTP {}", status.as_u16()));
            (Some(status.as_u16()), retry_after, error)
        }
        Err(e) if e.is_timeout() => (None, None, Some(format!("timed out after {:?}", cfg.timeout))),
        Err(e) => (None, None, Some(format!("request failed: {}", error_chain(&e)))),
    }
}

/// reqwest's top-level message hides the cause ("connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
