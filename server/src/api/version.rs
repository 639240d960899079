//! `GET /v1/version`.

use actix_web::HttpResponse;
use serde_json::json;

pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "version": env!("CARGO_PKG_VERSION"), "api_version": "v1" }))
}
