//! Ingest counters kept by the HTTP side (the writer keeps its own).

use prometheus::{CounterVec, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct IngestCounters {
    pub received: IntCounter,
    pub kept: IntCounter,
    pub dropped: IntCounter,
    pub force_kept: IntCounter,
    pub rejected: IntCounter,
    pub heartbeats: IntCounter,
    pub refused_busy: IntCounter,
    pub cost_usd: CounterVec,
    pub policy_matches: IntCounterVec,
    pub unknown_model: IntCounter,
}

impl IngestCounters {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let c = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let cost_usd = CounterVec::new(
            Opts::new(
                "strathon_receiver_cost_tracked_usd_total",
                "USD cost of ingested spans by request model",
            ),
            &["model"],
        )?;
        registry.register(Box::new(cost_usd.clone()))?;
        let policy_matches = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_policy_matches_total",
                "Policy matches recorded at ingest, by action",
            ),
            &["action"],
        )?;
        registry.register(Box::new(policy_matches.clone()))?;
        Ok(IngestCounters {
            received: c(
                "strathon_receiver_ingest_spans_received_total",
                "Spans received in OTLP requests",
            )?,
            kept: c("strathon_receiver_sampling_spans_kept_total", "Spans kept by sampling")?,
            dropped: c(
                "strathon_receiver_sampling_spans_dropped_total",
                "Spans dropped by sampling",
            )?,
            force_kept: c(
                "strathon_receiver_sampling_spans_force_kept_total",
                "Spans kept by an always-keep rule the rate would have dropped",
            )?,
            rejected: c(
                "strathon_receiver_ingest_spans_rejected_total",
                "Spans rejected as invalid (reported in partial_success)",
            )?,
            heartbeats: c(
                "strathon_receiver_agent_heartbeats_total",
                "Agent heartbeat spans received",
            )?,
            refused_busy: c(
                "strathon_receiver_ingest_busy_total",
                "Batches refused with 503 because the write queue was full",
            )?,
            cost_usd,
            policy_matches,
            unknown_model: c(
                "strathon_receiver_cost_spans_with_unknown_model_total",
                "Spans with tokens for a model without a price",
            )?,
        })
    }
}
