//! `GET /health`: liveness. Touches nothing but the event loop, so a
//! database outage never gets a healthy pod restarted.

use actix_web::get;
use actix_web::HttpResponse;
use serde::Serialize;

/// The process is up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// Always `strathon-receiver`.
    service: &'static str,
    version: &'static str,
}

/// Liveness
///
/// Answers as long as the process serves requests; it checks nothing else
/// (readiness is `GET /ready`). Needs no credential.
#[utoipa::path(
    tag = "Operations",
    operation_id = "get_health",
    security(()),
    responses((status = 200, description = "The process is alive.", body = Health)),
)]
#[get("/health")]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        service: "strathon-receiver",
        version: env!("CARGO_PKG_VERSION"),
    })
}
