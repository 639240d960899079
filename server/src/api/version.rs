//! `GET /v1/version`.

use actix_web::get;
use actix_web::HttpResponse;
use serde_json::json;

#[utoipa::path(tag = "Operations", responses((status = 200, description = "OK")))]
#[get("/v1/version")]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "version": env!("CARGO_PKG_VERSION"), "api_version": "v1" }))
}
