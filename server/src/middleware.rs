//! Request middleware: observation (one log line and metrics per request),
//! rate limiting, security headers, panic containment and JSON errors for
//! the statuses actix produces on its own (404, 405).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{web, Error, HttpResponse, ResponseError};
use futures::FutureExt as _;

use crate::error::ApiError;
use crate::rate_limit::Decision;
use crate::state::AppState;

/// Paths probes and scrapers hit: never rate limited.
const EXEMPT: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Logs one line per request and feeds the HTTP metrics. Routes are
/// labelled by template (`/v1/traces/{trace_id}/tree`), which keeps label
/// cardinality bounded and ids, keys and query strings out of the logs.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let id = request_id(&req);
    let mut result = crate::error::REQUEST_ID.scope(id.clone(), next.call(req)).await;
    let (route, status) = match &mut result {
        Ok(res) => {
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
            }
            (
                res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned()),
                res.status().as_u16(),
            )
        }
        // Only a contained panic arrives here, before a route was recorded;
        // its response was rendered (with the id) while the id was in scope.
        Err(e) => ("unmatched".to_owned(), e.as_response_error().status_code().as_u16()),
    };
    let elapsed = started.elapsed();
    if let Some(state) = state {
        let m = &state.metrics;
        m.http_requests
            .with_label_values(&[&method, &route, &status.to_string()])
            .inc();
        m.http_duration
            .with_label_values(&[&method, &route])
            .observe(elapsed.as_secs_f64());
    }
    tracing::info!(
        target: "strathon::http",
        method = %method,
        route = %route,
        status,
        duration_ms = (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        request_id = %id,
        "request"
    );
    result
}

/// The caller's `X-Request-Id` when it is a sane token (so ids can be
/// followed across a proxy), else a fresh one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Token-bucket admission per identifier, before authentication: the
/// SHA-256 of the Authorization header when present, else the client IP.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(limiter) = state.limiter.as_ref().filter(|_| !EXEMPT.contains(&req.path())) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let (key, key_type) = identify(&req, state.config.rate_limit_trust_forwarded_for);
    let limit = HeaderValue::from(limiter.capacity());
    match limiter.check(&key, Instant::now()) {
        Decision::Allowed { remaining } => {
            let mut res = next.call(req).await?;
            let headers = res.headers_mut();
            headers.insert(HeaderName::from_static("x-ratelimit-limit"), limit);
            headers.insert(
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(remaining),
            );
            Ok(res.map_into_left_body())
        }
        Decision::Limited { retry_after_secs } => {
            state.metrics.rate_limit_rejections.with_label_values(&[key_type]).inc();
            let mut res = ApiError::TooManyRequests {
                detail: format!("rate limit exceeded, retry in {retry_after_secs}s"),
                retry_after_secs,
            }
            .error_response();
            let headers = res.headers_mut();
            headers.insert(HeaderName::from_static("x-ratelimit-limit"), limit);
            headers.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(0));
            Ok(req.into_response(res).map_into_right_body())
        }
    }
}

fn identify(req: &ServiceRequest, trust_forwarded_for: bool) -> (String, &'static str) {
    if let Some(auth) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let digest = ring::digest::digest(&ring::digest::SHA256, auth.as_bytes());
        return (format!("key:{}", hex::encode(digest)), "api_key");
    }
    let ip = crate::auth::client_ip(req.request(), trust_forwarded_for).unwrap_or_else(|| "unknown".into());
    (format!("ip:{ip}"), "ip")
}

/// Security headers on every response, and `no-store` where credentials flow.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let sensitive = req.path().starts_with("/v1/auth/") || req.path().starts_with("/v1/api_keys");
    let draining = req
        .app_data::<actix_web::web::Data<AppState>>()
        .is_some_and(|s| s.draining.is_on());
    let mut res = next.call(req).await?;
    if draining {
        // Clients and proxies reconnect, and so move to a replica that stays.
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    let headers = res.headers_mut();
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if sensitive {
        headers.insert(
            actix_web::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}

/// Turns a panic inside a handler into a logged 500 instead of a dropped
/// connection; the worker keeps serving. It sits before routing, where no
/// request handle can be kept, so it answers with an error that actix renders.
pub async fn contain_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path().to_owned();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => res,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            // Rendered here, inside the request-id scope, so the 500 and
            // its log line carry the id.
            let mut response = ApiError::Internal(format!("handler for {path} panicked: {cause}")).error_response();
            if let Some(value) = crate::error::request_id().and_then(|id| HeaderValue::from_str(&id).ok()) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
            Err(actix_web::error::InternalError::from_response("handler panicked", response).into())
        }
    }
}

/// Gives actix's own 404/405 responses the `{"detail": …}` body clients parse.
pub fn json_status_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = res.status();
    let is_json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(serde_json::json!({ "detail": detail }));
    for (name, value) in old.headers() {
        if name != actix_web::http::header::CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let res: ServiceResponse<BoxBody> = ServiceResponse::new(req, new);
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App};

    use super::contain_panics;

    #[actix_rt::test]
    async fn a_panicking_handler_answers_500_and_the_worker_keeps_serving() {
        let app = test::init_service(
            App::new()
                .route(
                    "/boom",
                    web::get().to(|| async { panic!("deliberate") as &'static str }),
                )
                .route("/fine", web::get().to(|| async { "fine" }))
                .wrap(from_fn(contain_panics)),
        )
        .await;
        let result = test::try_call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        let resp = result
            .err()
            .expect("a contained panic surfaces as an error response")
            .error_response();
        assert_eq!(resp.status(), 500);
        let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["detail"], "An unexpected error occurred.");
        assert!(!body.windows(10).any(|w| w == b"deliberate"));
        let ok = test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(ok.status(), 200);
    }
}
