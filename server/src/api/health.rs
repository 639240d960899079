//! `GET /health`: liveness. Touches nothing but the event loop, so a
//! database outage never gets a healthy pod restarted.

use actix_web::get;
use actix_web::HttpResponse;
use serde_json::json;

#[utoipa::path(tag = "Operations", responses((status = 200, description = "OK")))]
#[get("/health")]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "service": "strathon-receiver",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
