//! `GET /metrics`: Prometheus text exposition, optionally behind a token.

use actix_web::get;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::bearer_token;
use crate::state::AppState;

/// Prometheus metrics
///
/// The text exposition format (0.0.4). Public unless the receiver sets
/// `STRATHON_METRICS_AUTH_TOKEN`; then it needs `Authorization: Bearer
/// <that token>` (not an API key).
#[utoipa::path(
    tag = "Operations",
    operation_id = "get_metrics",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Every metric, as Prometheus text.", body = String, content_type = "text/plain"),
        (status = 401, description = "A metrics token is configured and none was sent.", body = String, content_type = "text/plain"),
        (status = 403, description = "The token sent is not the metrics token.", body = String, content_type = "text/plain"),
    ),
)]
#[get("/metrics")]
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = state.config.metrics_token() {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        match given {
            None => {
                return HttpResponse::Unauthorized()
                    .content_type("text/plain")
                    .body("Unauthorized")
            }
            Some(token) if !constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
                return HttpResponse::Forbidden().content_type("text/plain").body("Forbidden");
            }
            Some(_) => {}
        }
    }
    let pool = state.pool.state();
    let gauges = &state.metrics.pool_connections;
    gauges
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    gauges
        .with_label_values(&["in_use"])
        .set(i64::from(pool.connections - pool.idle_connections));
    gauges
        .with_label_values(&["max"])
        .set(i64::from(state.config.db_pool_size));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Compares digests so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let digest = |x: &[u8]| ring::digest::digest(&ring::digest::SHA256, x);
    digest(a).as_ref() == digest(b).as_ref()
}
