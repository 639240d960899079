//! The actix-web application: middleware order, body limits and routes.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, Error, HttpRequest};
use utoipa_actix_web::AppExt as _;

use crate::error::ApiError;
use crate::middleware;
use crate::state::AppState;

/// Builds the application around `routes`. Middleware runs outermost first:
/// observe (request id, log, metrics) → security headers → rate limit →
/// JSON error bodies → input hygiene → panic containment → handler.
pub fn build(
    state: web::Data<AppState>,
    routes: impl FnOnce(&mut utoipa_actix_web::service_config::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    // The routes and the OpenAPI document come from the same registration.
    let (app, collected) = App::new().into_utoipa_app().configure(routes).split_for_parts();
    app.app_data(state)
        .app_data(web::Data::new(crate::api::openapi::Document::new(collected)))
        .app_data(
            web::JsonConfig::default()
                .limit(crate::hygiene::JSON_LIMIT)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::NotFound(e.to_string()).into()))
        .default_service(web::to(crate::api::openapi::unmatched))
        .wrap(from_fn(middleware::contain_panics))
        .wrap(from_fn(crate::hygiene::guard))
        .wrap(
            ErrorHandlers::new()
                .handler(StatusCode::NOT_FOUND, middleware::json_status_body)
                .handler(StatusCode::METHOD_NOT_ALLOWED, middleware::json_status_body),
        )
        .wrap(from_fn(middleware::rate_limit))
        .wrap(from_fn(middleware::security_headers))
        .wrap(from_fn(middleware::observe))
}

fn validation(loc: &str, msg: String) -> ApiError {
    ApiError::Unprocessable(vec![
        serde_json::json!({ "type": "value_error", "loc": [loc], "msg": msg }),
    ])
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> Error {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            ApiError::PayloadTooLarge(format!("Payload too large: {length} bytes (max {limit})")).into()
        }
        JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("Payload too large (max {limit} bytes)")).into()
        }
        JsonPayloadError::ContentType => validation("body", "expected Content-Type: application/json".into()).into(),
        other => validation("body", other.to_string()).into(),
    }
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> Error {
    validation("query", err.to_string()).into()
}
