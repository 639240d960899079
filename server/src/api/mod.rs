//! One module per resource; the module name follows the URL path, so
//! `/v1/project/settings` lives in `project_settings.rs`.

use utoipa_actix_web::service_config::ServiceConfig;

pub mod agents;
pub mod agents_inventory;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod audit_streams;
pub mod auth;
pub mod auth_mfa;
pub mod budgets;
pub mod circuit_breakers;
pub mod compliance;
pub mod costs;
pub mod credentials;
pub mod export;
pub mod halts;
pub mod health;
pub mod incidents;
pub mod integrations_github;
pub mod integrations_slack;
pub mod intervention;
pub mod mcp;
pub mod members;
pub mod metrics;
pub mod model_prices;
pub mod notification_channels;
pub mod openapi;
pub mod overview;
pub mod ownership_transfers;
pub mod params;
pub mod password_reset;
pub mod policies;
pub mod policy_templates;
pub mod project_members;
pub mod project_settings;
pub mod projects;
pub mod ready;
pub mod sessions;
pub mod spans;
pub mod topology;
pub mod traces;
pub mod version;
pub mod views;
pub mod webhook_deliveries;
pub mod webhook_signing_keys;

/// Every route, in matching order (a literal segment before a `{param}`
/// in the same place). Each handler carries its method and path in its
/// route attribute and its documentation in `#[utoipa::path]`, so the
/// OpenAPI document is collected from exactly what is registered here.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi::document)
        .service(openapi::page)
        .service(health::get)
        .service(ready::get)
        .service(metrics::get)
        .service(version::get)
        .service(traces::ingest)
        .service(traces::list)
        .service(traces::get)
        .service(traces::tree)
        .service(spans::search)
        .service(spans::aggregate)
        .service(spans::get)
        .service(policies::list)
        .service(policies::create)
        .service(policies::export)
        .service(policies::import)
        .service(policies::batch)
        .service(policies::simulate)
        .service(policies::conflicts)
        .service(policies::suggest)
        .service(policies::generate)
        .service(policies::validate_expression)
        .service(policies::get)
        .service(policies::patch)
        .service(policies::delete)
        .service(policies::versions)
        .service(policies::version)
        .service(policies::shadow_stats)
        .service(policy_templates::list)
        .service(policy_templates::get)
        .service(policy_templates::apply)
        .service(halts::list)
        .service(halts::create)
        .service(halts::get)
        .service(halts::clear)
        .service(intervention::sync)
        .service(intervention::halt)
        .service(budgets::list)
        .service(budgets::create)
        .service(budgets::get)
        .service(budgets::patch)
        .service(budgets::delete)
        .service(budgets::spend)
        .service(approvals::list)
        .service(approvals::create)
        .service(approvals::get)
        .service(approvals::approve)
        .service(approvals::deny)
        .service(api_keys::list)
        .service(api_keys::create)
        .service(api_keys::patch)
        .service(api_keys::revoke)
        .service(api_keys::rotate)
        .service(projects::list)
        .service(projects::create)
        .service(projects::get)
        .service(projects::patch)
        .service(projects::delete)
        .service(project_members::list)
        .service(project_members::add)
        .service(project_members::change_role)
        .service(project_members::remove)
        .service(model_prices::list)
        .service(model_prices::upsert)
        .service(model_prices::delete)
        .service(agents::list)
        .service(compliance::export)
        .service(compliance::sarif)
        .service(agents_inventory::get)
        .service(export::export)
        .service(audit::list)
        .service(audit::get)
        .service(audit::verify_one)
        .service(audit::verify_chain)
        .service(audit::anchors)
        .service(audit::anchor_status)
        .service(audit_streams::list)
        .service(audit_streams::create)
        .service(audit_streams::get)
        .service(audit_streams::patch)
        .service(audit_streams::delete)
        .service(notification_channels::list)
        .service(notification_channels::create)
        .service(notification_channels::patch)
        .service(notification_channels::delete)
        .service(webhook_signing_keys::list)
        .service(webhook_signing_keys::create)
        .service(webhook_signing_keys::revoke)
        .service(webhook_deliveries::list)
        .service(webhook_deliveries::get)
        .service(webhook_deliveries::replay)
        .service(auth::register)
        .service(auth::login)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::update_me)
        .service(auth::export_me)
        .service(sessions::list)
        .service(sessions::revoke_others)
        .service(sessions::revoke)
        .service(auth::change_password)
        .service(auth::admin_reset_password)
        .service(auth_mfa::setup)
        .service(auth_mfa::enable)
        .service(auth_mfa::verify_setup)
        .service(auth_mfa::disable)
        .service(auth_mfa::verify)
        .service(password_reset::request)
        .service(password_reset::request_legacy)
        .service(password_reset::confirm)
        .service(password_reset::confirm_legacy)
        .service(auth::capabilities)
        .service(members::list)
        .service(members::invite)
        .service(members::pending)
        .service(members::revoke_invitation)
        .service(members::change_role)
        .service(members::remove)
        .service(members::reset_password)
        .service(members::disable_mfa)
        .service(members::transfer_ownership)
        .service(ownership_transfers::pending)
        .service(ownership_transfers::accept)
        .service(ownership_transfers::reject)
        .service(circuit_breakers::list)
        .service(circuit_breakers::reset)
        .service(integrations_github::list)
        .service(integrations_github::create)
        .service(integrations_github::commits)
        .service(integrations_github::webhook)
        .service(integrations_github::delete)
        .service(integrations_slack::actions)
        .service(incidents::list)
        .service(mcp::proxy)
        .service(credentials::patterns)
        .service(credentials::scan)
        .service(costs::list)
        .service(costs::forecast)
        .service(topology::get)
        .service(overview::get)
        .service(project_settings::view_get)
        .service(project_settings::view_patch)
        .service(project_settings::get)
        .service(project_settings::patch);
}
