use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Counters every supervised job shares, labelled by actor name.
#[derive(Clone)]
pub struct ActorMetrics {
    pub ticks: IntCounterVec,
    pub restarts: IntCounterVec,
    pub tick_seconds: HistogramVec,
}

impl ActorMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let ticks = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_actor_ticks_total",
                "Background actor ticks by outcome (ok, error, panic, standby)",
            ),
            &["actor", "outcome"],
        )?;
        let restarts = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_actor_restarts_total",
                "Background actor restarts after a panic",
            ),
            &["actor"],
        )?;
        let tick_seconds = HistogramVec::new(
            HistogramOpts::new(
                "strathon_receiver_actor_tick_duration_seconds",
                "Time spent in one background actor tick",
            )
            .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]),
            &["actor"],
        )?;
        registry.register(Box::new(ticks.clone()))?;
        registry.register(Box::new(restarts.clone()))?;
        registry.register(Box::new(tick_seconds.clone()))?;
        Ok(ActorMetrics {
            ticks,
            restarts,
            tick_seconds,
        })
    }
}
