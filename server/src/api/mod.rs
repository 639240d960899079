//! One module per resource; the module name follows the URL path, so
//! `/v1/project/settings` lives in `project_settings.rs`.

use actix_web::web;

pub mod health;
pub mod metrics;
pub mod params;
pub mod project_settings;
pub mod ready;
pub mod span_tree;
pub mod spans;
pub mod traces;
pub mod version;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health::get)))
        .service(web::resource("/ready").route(web::get().to(ready::get)))
        .service(web::resource("/metrics").route(web::get().to(metrics::get)))
        .service(web::resource("/v1/version").route(web::get().to(version::get)))
        .service(web::resource("/v1/traces").route(web::post().to(traces::ingest)).route(web::get().to(traces::list)))
        .service(web::resource("/v1/traces/{trace_id}").route(web::get().to(traces::get)))
        .service(web::resource("/v1/traces/{trace_id}/tree").route(web::get().to(traces::tree)))
        .service(web::resource("/v1/spans").route(web::get().to(spans::search)))
        .service(web::resource("/v1/spans/{trace_id}/{span_id}").route(web::get().to(spans::get)))
        .service(
            web::resource("/v1/project/settings")
                .route(web::get().to(project_settings::get))
                .route(web::patch().to(project_settings::patch)),
        );
}
