//! One module per resource; the module name follows the URL path, so
//! `/v1/project/settings` lives in `project_settings.rs`.

use actix_web::web;

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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health::get)))
        .service(web::resource("/ready").route(web::get().to(ready::get)))
        .service(web::resource("/metrics").route(web::get().to(metrics::get)))
        .service(web::resource("/v1/version").route(web::get().to(version::get)))
        .service(
            web::resource("/v1/traces")
                .route(web::post().to(traces::ingest))
                .route(web::get().to(traces::list)),
        )
        .service(web::resource("/v1/traces/{trace_id}").route(web::get().to(traces::get)))
        .service(web::resource("/v1/traces/{trace_id}/tree").route(web::get().to(traces::tree)))
        .service(web::resource("/v1/spans").route(web::get().to(spans::search)))
        .service(web::resource("/v1/spans/aggregate").route(web::get().to(spans::aggregate)))
        .service(web::resource("/v1/spans/{trace_id}/{span_id}").route(web::get().to(spans::get)))
        .service(
            web::resource("/v1/policies")
                .route(web::get().to(policies::list))
                .route(web::post().to(policies::create)),
        )
        .service(web::resource("/v1/policies/export").route(web::get().to(policies::export)))
        .service(web::resource("/v1/policies/import").route(web::post().to(policies::import)))
        .service(web::resource("/v1/policies/batch").route(web::post().to(policies::batch)))
        .service(web::resource("/v1/policies/simulate").route(web::post().to(policies::simulate)))
        .service(web::resource("/v1/policies/conflicts").route(web::get().to(policies::conflicts)))
        .service(web::resource("/v1/policies/suggest").route(web::get().to(policies::suggest)))
        .service(web::resource("/v1/policies/generate").route(web::post().to(policies::generate)))
        .service(web::resource("/v1/policies/validate").route(web::post().to(policies::validate_expression)))
        .service(
            web::resource("/v1/policies/{policy_id}")
                .route(web::get().to(policies::get))
                .route(web::patch().to(policies::patch))
                .route(web::delete().to(policies::delete)),
        )
        .service(web::resource("/v1/policies/{policy_id}/versions").route(web::get().to(policies::versions)))
        .service(web::resource("/v1/policies/{policy_id}/versions/{version}").route(web::get().to(policies::version)))
        .service(web::resource("/v1/policies/{policy_id}/shadow-stats").route(web::get().to(policies::shadow_stats)))
        .service(web::resource("/v1/policy-templates").route(web::get().to(policy_templates::list)))
        .service(web::resource("/v1/policy-templates/{template_id}").route(web::get().to(policy_templates::get)))
        .service(
            web::resource("/v1/policy-templates/{template_id}/apply").route(web::post().to(policy_templates::apply)),
        )
        .service(
            web::resource("/v1/halts")
                .route(web::get().to(halts::list))
                .route(web::post().to(halts::create)),
        )
        .service(
            web::resource("/v1/halts/{halt_id}")
                .route(web::get().to(halts::get))
                .route(web::delete().to(halts::clear)),
        )
        .service(web::resource("/v1/intervention/sync").route(web::post().to(intervention::sync)))
        .service(web::resource("/v1/intervention/halt").route(web::post().to(intervention::halt)))
        .service(
            web::resource("/v1/budgets")
                .route(web::get().to(budgets::list))
                .route(web::post().to(budgets::create)),
        )
        .service(
            web::resource("/v1/budgets/{budget_id}")
                .route(web::get().to(budgets::get))
                .route(web::patch().to(budgets::patch))
                .route(web::delete().to(budgets::delete)),
        )
        .service(web::resource("/v1/budgets/{budget_id}/spend").route(web::get().to(budgets::spend)))
        .service(
            web::resource("/v1/approvals")
                .route(web::get().to(approvals::list))
                .route(web::post().to(approvals::create)),
        )
        .service(web::resource("/v1/approvals/{approval_id}").route(web::get().to(approvals::get)))
        .service(web::resource("/v1/approvals/{approval_id}/approve").route(web::post().to(approvals::approve)))
        .service(web::resource("/v1/approvals/{approval_id}/deny").route(web::post().to(approvals::deny)))
        .service(
            web::resource("/v1/api_keys")
                .route(web::get().to(api_keys::list))
                .route(web::post().to(api_keys::create)),
        )
        .service(
            web::resource("/v1/api_keys/{key_id}")
                .route(web::patch().to(api_keys::patch))
                .route(web::delete().to(api_keys::revoke)),
        )
        .service(web::resource("/v1/api_keys/{key_id}/rotate").route(web::post().to(api_keys::rotate)))
        .service(
            web::resource("/v1/projects")
                .route(web::get().to(projects::list))
                .route(web::post().to(projects::create)),
        )
        .service(
            web::resource("/v1/projects/{slug}")
                .route(web::get().to(projects::get))
                .route(web::patch().to(projects::patch))
                .route(web::delete().to(projects::delete)),
        )
        .service(
            web::resource("/v1/projects/{slug}/members")
                .route(web::get().to(project_members::list))
                .route(web::post().to(project_members::add)),
        )
        .service(
            web::resource("/v1/projects/{slug}/members/{user_id}")
                .route(web::patch().to(project_members::change_role))
                .route(web::delete().to(project_members::remove)),
        )
        .service(
            web::resource("/v1/model_prices")
                .route(web::get().to(model_prices::list))
                .route(web::post().to(model_prices::upsert)),
        )
        .service(web::resource("/v1/model_prices/{model_name}").route(web::delete().to(model_prices::delete)))
        .service(web::resource("/v1/agents").route(web::get().to(agents::list)))
        .service(web::resource("/v1/compliance/export").route(web::post().to(compliance::export)))
        .service(web::resource("/v1/compliance/sarif").route(web::get().to(compliance::sarif)))
        .service(web::resource("/v1/agents/inventory").route(web::get().to(agents_inventory::get)))
        .service(web::resource("/v1/export").route(web::post().to(export::export)))
        .service(web::resource("/v1/audit/events").route(web::get().to(audit::list)))
        .service(web::resource("/v1/audit/events/{event_id}").route(web::get().to(audit::get)))
        .service(web::resource("/v1/audit/events/{event_id}/verify").route(web::get().to(audit::verify_one)))
        .service(web::resource("/v1/audit/verify").route(web::get().to(audit::verify_chain)))
        .service(web::resource("/v1/audit/anchors").route(web::get().to(audit::anchors)))
        .service(web::resource("/v1/audit/anchors/status").route(web::get().to(audit::anchor_status)))
        .service(
            web::resource("/v1/audit/streams")
                .route(web::get().to(audit_streams::list))
                .route(web::post().to(audit_streams::create)),
        )
        .service(
            web::resource("/v1/audit/streams/{stream_id}")
                .route(web::get().to(audit_streams::get))
                .route(web::patch().to(audit_streams::patch))
                .route(web::delete().to(audit_streams::delete)),
        )
        .service(
            web::resource("/v1/notification-channels")
                .route(web::get().to(notification_channels::list))
                .route(web::post().to(notification_channels::create)),
        )
        .service(
            web::resource("/v1/notification-channels/{channel_id}")
                .route(web::patch().to(notification_channels::patch))
                .route(web::delete().to(notification_channels::delete)),
        )
        .service(
            web::resource("/v1/webhook_signing_keys")
                .route(web::get().to(webhook_signing_keys::list))
                .route(web::post().to(webhook_signing_keys::create)),
        )
        .service(
            web::resource("/v1/webhook_signing_keys/{key_id}").route(web::delete().to(webhook_signing_keys::revoke)),
        )
        .service(web::resource("/v1/webhook_deliveries").route(web::get().to(webhook_deliveries::list)))
        .service(web::resource("/v1/webhook_deliveries/{delivery_id}").route(web::get().to(webhook_deliveries::get)))
        .service(
            web::resource("/v1/webhook_deliveries/{delivery_id}/replay")
                .route(web::post().to(webhook_deliveries::replay)),
        )
        .service(web::resource("/v1/auth/register").route(web::post().to(auth::register)))
        .service(web::resource("/v1/auth/login").route(web::post().to(auth::login)))
        .service(web::resource("/v1/auth/logout").route(web::post().to(auth::logout)))
        .service(
            web::resource("/v1/auth/me")
                .route(web::get().to(auth::me))
                .route(web::patch().to(auth::update_me)),
        )
        .service(web::resource("/v1/auth/me/export").route(web::get().to(auth::export_me)))
        .service(
            web::resource("/v1/auth/sessions")
                .route(web::get().to(sessions::list))
                .route(web::delete().to(sessions::revoke_others)),
        )
        .service(web::resource("/v1/auth/sessions/{session_id}").route(web::delete().to(sessions::revoke)))
        .service(web::resource("/v1/auth/change-password").route(web::post().to(auth::change_password)))
        .service(web::resource("/v1/auth/admin-reset-password").route(web::post().to(auth::admin_reset_password)))
        .service(web::resource("/v1/auth/mfa/setup").route(web::post().to(auth_mfa::setup)))
        .service(web::resource("/v1/auth/mfa/enable").route(web::post().to(auth_mfa::setup)))
        .service(web::resource("/v1/auth/mfa/verify-setup").route(web::post().to(auth_mfa::verify_setup)))
        .service(web::resource("/v1/auth/mfa/disable").route(web::post().to(auth_mfa::disable)))
        .service(web::resource("/v1/auth/mfa/verify").route(web::post().to(auth_mfa::verify)))
        .service(web::resource("/v1/auth/reset-password/request").route(web::post().to(password_reset::request)))
        .service(web::resource("/v1/auth/password-reset-request").route(web::post().to(password_reset::request)))
        .service(web::resource("/v1/auth/reset-password/confirm").route(web::post().to(password_reset::confirm)))
        .service(web::resource("/v1/auth/password-reset").route(web::post().to(password_reset::confirm)))
        .service(web::resource("/v1/auth/capabilities").route(web::get().to(auth::capabilities)))
        .service(
            web::resource("/v1/members")
                .route(web::get().to(members::list))
                .route(web::post().to(members::invite)),
        )
        .service(web::resource("/v1/members/pending").route(web::get().to(members::pending)))
        .service(web::resource("/v1/members/pending/{email}").route(web::delete().to(members::revoke_invitation)))
        .service(
            web::resource("/v1/members/{user_id}")
                .route(web::patch().to(members::change_role))
                .route(web::delete().to(members::remove)),
        )
        .service(web::resource("/v1/members/{user_id}/reset-password").route(web::post().to(members::reset_password)))
        .service(web::resource("/v1/members/{user_id}/disable-mfa").route(web::post().to(members::disable_mfa)))
        .service(
            web::resource("/v1/members/{user_id}/transfer-ownership")
                .route(web::post().to(members::transfer_ownership)),
        )
        .service(web::resource("/v1/ownership-transfers/pending").route(web::get().to(ownership_transfers::pending)))
        .service(
            web::resource("/v1/ownership-transfers/{id}/accept").route(web::post().to(ownership_transfers::accept)),
        )
        .service(
            web::resource("/v1/ownership-transfers/{id}/reject").route(web::post().to(ownership_transfers::reject)),
        )
        .service(web::resource("/v1/circuit-breakers").route(web::get().to(circuit_breakers::list)))
        .service(web::resource("/v1/circuit-breakers/reset").route(web::post().to(circuit_breakers::reset)))
        .service(
            web::resource("/v1/integrations/github")
                .route(web::get().to(integrations_github::list))
                .route(web::post().to(integrations_github::create)),
        )
        .service(web::resource("/v1/integrations/github/commits").route(web::get().to(integrations_github::commits)))
        .service(web::resource("/v1/integrations/github/webhooks").route(web::post().to(integrations_github::webhook)))
        .service(
            web::resource("/v1/integrations/github/{integration_id}")
                .route(web::delete().to(integrations_github::delete)),
        )
        .service(web::resource("/v1/integrations/slack/actions").route(web::post().to(integrations_slack::actions)))
        .service(web::resource("/v1/incidents").route(web::get().to(incidents::list)))
        .service(web::resource("/v1/mcp/proxy").route(web::post().to(mcp::proxy)))
        .service(web::resource("/v1/credentials/patterns").route(web::get().to(credentials::patterns)))
        .service(web::resource("/v1/credentials/scan").route(web::post().to(credentials::scan)))
        .service(web::resource("/v1/costs").route(web::get().to(costs::list)))
        .service(web::resource("/v1/costs/forecast").route(web::get().to(costs::forecast)))
        .service(web::resource("/v1/topology").route(web::get().to(topology::get)))
        .service(web::resource("/v1/overview").route(web::get().to(overview::get)))
        .service(
            web::resource("/v1/settings")
                .route(web::get().to(project_settings::view_get))
                .route(web::patch().to(project_settings::view_patch)),
        )
        .service(
            web::resource("/v1/project/settings")
                .route(web::get().to(project_settings::get))
                .route(web::patch().to(project_settings::patch)),
        );
}
