//! `POST /v1/compliance/export`: an EU AI Act evidence report from the
//! project's own configuration and records, as JSON or SARIF 2.1.0.

use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strathon_schema::{budgets, policies, settings};

use super::params::object;
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// Deployers must keep logs at least six months.
const MIN_RETENTION_DAYS: i32 = 180;

pub async fn export(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::DATA_EXPORT)?;
    let body = object(body)?;
    let format = body.get("format").and_then(Value::as_str).unwrap_or("json").to_owned();
    if !matches!(format.as_str(), "json" | "sarif") {
        return Err(ApiError::BadRequest(format!(
            "Unsupported format '{format}'. Use 'json' or 'sarif'."
        )));
    }
    let mut conn = state.pool.get().await?;
    let all = policies::list(&mut conn, auth.project_id).await?;
    let enabled: Vec<_> = all.iter().filter(|p| p.enabled && !p.shadow).collect();
    let count = |action: &str| enabled.iter().filter(|p| p.action == action).count();
    let budget_count = budgets::list(&mut conn, auth.project_id, false, 500).await?.len();
    let retention = settings::get(&mut conn, auth.project_id).await?.trace_retention_days;
    let since = chrono::Utc::now() - chrono::Duration::days(30);
    let matches = policies::recent_matches(&mut conn, auth.project_id, since, 1000).await?;
    let now = chrono::Utc::now().to_rfc3339();

    if format == "sarif" {
        let rules: Vec<Value> = all
            .iter()
            .map(|p| json!({"id": p.name, "name": p.name, "shortDescription": {"text": p.description.clone().unwrap_or_else(|| p.match_expression.clone())},
                            "properties": {"action": p.action, "match_expression": p.match_expression}}))
            .collect();
        let results: Vec<Value> = matches
            .iter()
            .map(|(name, action, outcome, trace, span, at, meta)| {
                json!({
                    "ruleId": name,
                    "level": if action == "block" { "error" } else { "warning" },
                    "message": {"text": format!("Policy '{name}' ({action}) matched span '{}': {outcome}", meta["span_name"].as_str().unwrap_or(""))},
                    "properties": {"trace_id": hex::encode(trace), "span_id": hex::encode(span), "matched_at": at.to_rfc3339()},
                })
            })
            .collect();
        let sarif = json!({
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "Strathon", "version": env!("CARGO_PKG_VERSION"), "rules": rules}}, "results": results}],
        });
        return Ok(HttpResponse::Ok()
            .content_type("application/sarif+json")
            .insert_header((
                CONTENT_DISPOSITION,
                "attachment; filename=\"strathon-compliance.sarif\"",
            ))
            .json(sarif));
    }

    let articles = json!({
        "article_9_risk_management": {"enabled_policies": enabled.len(), "compliant": !enabled.is_empty()},
        "article_11_technical_documentation": {"policies_documented": all.len(), "compliant": all.iter().all(|p| p.description.is_some()) && !all.is_empty()},
        "article_12_event_logging": {"policy_matches_last_30d": matches.len(), "trace_retention_days": retention, "compliant": retention >= MIN_RETENTION_DAYS},
        "article_14_human_oversight": {"approval_policies": count("require_approval"), "halts_available": true, "compliant": count("require_approval") > 0},
        "article_15_robustness": {"block_policies": count("block"), "throttle_policies": count("throttle"), "budgets": budget_count,
                                   "compliant": count("block") + count("throttle") > 0 && budget_count > 0},
        "article_19_retention": {"trace_retention_days": retention, "minimum_days": MIN_RETENTION_DAYS, "compliant": retention >= MIN_RETENTION_DAYS},
    });
    let advice = [
        (
            "article_9_risk_management",
            "Enable at least one enforcing policy (start from a template: GET /v1/policy-templates).",
        ),
        (
            "article_11_technical_documentation",
            "Give every policy a description explaining the risk it addresses.",
        ),
        (
            "article_12_event_logging",
            "Keep traces at least 180 days (PATCH /v1/project/settings trace_retention_days).",
        ),
        (
            "article_14_human_oversight",
            "Add a require_approval policy for irreversible tool calls.",
        ),
        (
            "article_15_robustness",
            "Add block or throttle policies and a cost budget.",
        ),
        ("article_19_retention", "Raise trace_retention_days to at least 180."),
    ];
    let recommendations: Vec<&str> = advice
        .iter()
        .filter(|(article, _)| articles[*article]["compliant"] != true)
        .map(|(_, text)| *text)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "framework": body.get("framework").and_then(Value::as_str).unwrap_or("eu_ai_act"),
        "generated_at": now,
        "project_id": auth.project_id,
        "articles": articles,
        "recommendations": recommendations,
        "recommendation_count": recommendations.len(),
    })))
}
