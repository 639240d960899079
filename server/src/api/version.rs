//! `GET /v1/version`.

use actix_web::get;
use actix_web::HttpResponse;
use serde::Serialize;

/// This receiver's version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    /// The receiver's release, e.g. `1.4.0`.
    version: &'static str,
    /// Always `v1`.
    api_version: &'static str,
}

/// The receiver's version
///
/// Needs no credential.
#[utoipa::path(
    tag = "Operations",
    operation_id = "get_version",
    security(()),
    responses((status = 200, description = "The release and API version.", body = VersionInfo)),
)]
#[get("/v1/version")]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        api_version: "v1",
    })
}
