//! The dashboard's outer layer: refuse cross-site writes before any handler
//! runs, put the security headers on every answer, and log one line per
//! request with the route pattern only (never a path with ids, a query
//! string, a cookie or a form value).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, HOST, ORIGIN};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::{session, DashState};

/// No inline script or style anywhere, nothing from other origins, and no
/// framing: the policy a server-rendered app can afford.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a write comes from another site, by the browser's own account
/// (`Sec-Fetch-Site`) or by an `Origin` that is not this host.
fn cross_site(req: &ServiceRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site") {
        return true;
    }
    match (
        req.headers().get(ORIGIN).and_then(|v| v.to_str().ok()),
        req.headers().get(HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        _ => false,
    }
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let https = req
        .app_data::<web::Data<DashState>>()
        .is_some_and(|st| session::is_https(req.request(), st));
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut res = if writes && cross_site(&req) {
        tracing::warn!(method = %method, "dashboard refused a cross-site request");
        let page = super::frame::refusal(
            req.request(),
            "This request came from another site, so it was refused. Use the dashboard's own forms.",
        );
        req.into_response(page)
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".into());
    let asset = route.starts_with("/assets/");
    let headers = res.headers_mut();
    let set = |headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if https {
        set(headers, "strict-transport-security", "max-age=31536000");
    }
    if !asset {
        // Pages carry the user's data: never keep them in shared caches.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !asset {
        tracing::info!(
            method = %method,
            route = %route,
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "dashboard request"
        );
    }
    Ok(res)
}
