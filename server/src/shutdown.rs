//! Stopping without dropping anyone: on SIGTERM (or SIGINT) `/ready` turns
//! 503 at once while requests are still served for the drain period, so
//! Kubernetes endpoints and load balancers move traffic elsewhere; then the
//! listener closes, requests in flight finish (span batches are committed
//! before they are answered), and the background jobs let go of their
//! leader locks. A second signal skips the rest of the drain.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::signal::unix::{signal, SignalKind};

use crate::state::Draining;

/// Resolves on the next SIGTERM or SIGINT, naming it.
pub async fn next_signal() -> &'static str {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// Waits for a signal, drains, then stops `servers` gracefully (each waits
/// for its requests in flight up to its shutdown timeout).
pub async fn on_signal(servers: Vec<ServerHandle>, draining: Draining, drain: Duration) {
    let which = next_signal().await;
    draining.start();
    tracing::info!(
        signal = which,
        drain_seconds = drain.as_secs(),
        "shutdown requested: /ready answers 503; still serving while traffic moves away"
    );
    tokio::select! {
        _ = tokio::time::sleep(drain) => {}
        again = next_signal() => tracing::info!(signal = again, "second signal: ending the drain early"),
    }
    tracing::info!("closing the listener; waiting for requests in flight");
    futures::future::join_all(servers.iter().map(|s| s.stop(true))).await;
}
