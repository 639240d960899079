//! What every request handler and middleware shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strathon_actors::heartbeats::Heartbeats;
use strathon_actors::ingest_writer::Lanes;
use strathon_actors::Registry;
use strathon_schema::DbPool;

use crate::config::Config;
use crate::ingest::context::ContextCache;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub actors: Registry,
    pub metrics: Arc<Metrics>,
    pub limiter: Option<Arc<RateLimiter>>,
    pub writers: Lanes,
    pub contexts: ContextCache,
    pub heartbeats: Arc<Heartbeats>,
    /// Sends password-reset emails; None without `STRATHON_SMTP_HOST`.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Per-IP throttle for login, registration and reset attempts.
    pub login_limiter: RateLimiter,
    /// Wrong second-factor codes per login challenge.
    pub mfa_limiter: RateLimiter,
    pub draining: Draining,
}

/// Set once a shutdown signal arrives: `/ready` answers 503 so load
/// balancers stop routing here, while requests are still served.
#[derive(Default, Clone)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
