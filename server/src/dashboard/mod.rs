//! The operator dashboard (`strathon dashboard`, port 3000): server-rendered
//! pages that call the receiver's REST API with the signed-in user's session.
//!
//! It holds no database connection and no state of its own (the session
//! token lives in the user's cookie), so it runs as its own container and
//! scales apart from the receiver. The browser never sees an API key, every
//! form works without JavaScript, and the small script only adds live
//! refresh and conveniences.

mod assets;
mod chart;
mod client;
mod format;
mod frame;
mod pages;
mod security;
mod session;

use std::net::SocketAddr;

use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::DashboardSettings;

pub use client::Api;

/// What every request handler shares: the API client and the cookie policy.
pub struct DashState {
    pub api: Api,
    /// Cookies are always `Secure` (the dashboard is behind HTTPS).
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-Proto` / `X-Forwarded-For` we believe.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Binds the dashboard and returns the server (not yet awaited) and its address.
pub fn bind(settings: &DashboardSettings, api_base: String) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let state = web::Data::new(DashState {
        api: Api::new(api_base).context("building the API client")?,
        cookie_secure: settings.cookie_secure,
        trusted_proxies: settings.trusted_proxies(),
    });
    // Signals are handled by the caller (`serve` below, or `strathon dev`).
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::FormConfig::default().limit(256 * 1024))
            .configure(pages::routes)
            .default_service(web::to(pages::not_found))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(actix_web::middleware::from_fn(security::guard))
    })
    .disable_signals()
    .bind(settings.dashboard_bind)
    .with_context(|| format!("binding the dashboard to {}", settings.dashboard_bind))?;
    let bound = server.addrs().first().copied().context("no listening address")?;
    Ok((server.run(), bound))
}

/// `strathon dashboard`: serve until stopped.
pub async fn serve(settings: DashboardSettings) -> anyhow::Result<()> {
    let api = settings.api_base();
    let (server, bound) = bind(&settings, api.clone())?;
    tracing::info!(addr = %bound, api = %api, "Strathon dashboard listening");
    // No drain: the dashboard's probes only say it is alive, and a page cut
    // off by a restart is simply reloaded.
    actix_rt::spawn(crate::shutdown::on_signal(
        vec![server.handle()],
        crate::state::Draining::default(),
        std::time::Duration::ZERO,
    ));
    server.await?;
    tracing::info!("Strathon dashboard shutting down");
    Ok(())
}
