//! The Prometheus registry and the receiver-level metric families. Actors
//! and later subsystems register their own families into the same registry.

use prometheus::{
    Encoder as _, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use strathon_actors::budget_monitor::BudgetMetrics;
use strathon_actors::ingest_writer::IngestMetrics;
use strathon_actors::retention::RetentionMetrics;
use strathon_actors::webhooks::WebhookMetrics;
use strathon_actors::ActorMetrics;

use crate::ingest::metrics::IngestCounters;

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub auth_failures: IntCounter,
    pub auth_successes: IntCounter,
    pub rate_limit_rejections: IntCounterVec,
    pub sampling_rate: Gauge,
    pub pool_connections: IntGaugeVec,
    pub actors: ActorMetrics,
    pub retention: RetentionMetrics,
    pub ingest: IngestCounters,
    pub writer: IngestMetrics,
    pub budgets: BudgetMetrics,
    pub webhooks: WebhookMetrics,
    pub mcp: crate::mcp::McpMetrics,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_http_requests_total",
                "HTTP requests by method, route template and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "strathon_receiver_http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )?;
        let auth_failures = IntCounter::new("strathon_receiver_auth_failures_total", "Rejected credentials")?;
        let auth_successes = IntCounter::new("strathon_receiver_auth_successes_total", "Accepted credentials")?;
        let rate_limit_rejections = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_rate_limit_rejections_total",
                "Requests refused by the rate limiter",
            ),
            &["key_type"],
        )?;
        let sampling_rate = Gauge::new("strathon_receiver_sampling_rate", "Configured trace sampling rate")?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "strathon_receiver_db_pool_connections",
                "Database pool connections by state (idle, in_use, max)",
            ),
            &["state"],
        )?;
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(auth_failures.clone()),
            Box::new(auth_successes.clone()),
            Box::new(rate_limit_rejections.clone()),
            Box::new(sampling_rate.clone()),
            Box::new(pool_connections.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector)?;
        }
        let actors = ActorMetrics::register(&registry)?;
        let retention = RetentionMetrics::register(&registry)?;
        let ingest = IngestCounters::register(&registry)?;
        let writer = IngestMetrics::register(&registry)?;
        let budgets = BudgetMetrics::register(&registry)?;
        let webhooks = WebhookMetrics::register(&registry)?;
        let mcp = crate::mcp::McpMetrics::register(&registry)?;
        Ok(Metrics {
            registry,
            http_requests,
            http_duration,
            auth_failures,
            auth_successes,
            rate_limit_rejections,
            sampling_rate,
            pool_connections,
            actors,
            retention,
            ingest,
            writer,
            budgets,
            webhooks,
            mcp,
        })
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding only fails on malformed families, which registration rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
