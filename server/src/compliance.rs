//! The EU AI Act evidence report: what the project's own configuration and
//! records show, as JSON or SARIF 2.1.0. Gathering reads the database once;
//! rendering is pure, so the compliance export, the data export and SARIF
//! consumers share one report.

use serde_json::{json, Value};
use strathon_schema::policies::Policy;
use strathon_schema::{budgets, policies, settings, AsyncPgConnection};
use uuid::Uuid;

/// Deployers must keep logs at least six months.
const MIN_RETENTION_DAYS: i32 = 180;

/// What the report is made from.
pub struct Evidence {
    pub project_id: Uuid,
    pub policies: Vec<Policy>,
    pub budget_count: usize,
    pub retention_days: i32,
    pub matches: Vec<policies::RecentMatch>,
}

/// Reads the policies, budgets, retention and the last 30 days' matches.
pub async fn gather(conn: &mut AsyncPgConnection, project_id: Uuid) -> diesel::QueryResult<Evidence> {
    gather_since(conn, project_id, chrono::Utc::now() - chrono::Duration::days(30)).await
}

/// As [`gather`], with the matches since `since`.
pub async fn gather_since(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    since: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<Evidence> {
    Ok(Evidence {
        project_id,
        policies: policies::list(conn, project_id).await?,
        budget_count: budgets::list(conn, project_id, false, 500).await?.len(),
        retention_days: settings::get(conn, project_id).await?.trace_retention_days,
        matches: policies::recent_matches(conn, project_id, since, 1000).await?,
    })
}

pub fn sarif(e: &Evidence) -> Value {
    let rules: Vec<Value> = e
        .policies
        .iter()
        .map(|p| json!({"id": p.name, "name": p.name, "shortDescription": {"text": p.description.clone().unwrap_or_else(|| p.match_expression.clone())},
                        "properties": {"action": p.action, "match_expression": p.match_expression}}))
        .collect();
    let results: Vec<Value> = e
        .matches
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
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "Strathon", "version": env!("CARGO_PKG_VERSION"), "rules": rules}}, "results": results}],
    })
}

pub fn report(e: &Evidence, framework: &str) -> Value {
    let all = &e.policies;
    let enabled: Vec<_> = all.iter().filter(|p| p.enabled && !p.shadow).collect();
    let count = |action: &str| enabled.iter().filter(|p| p.action == action).count();
    let (retention, budget_count) = (e.retention_days, e.budget_count);
    let articles = json!({
        "article_9_risk_management": {"enabled_policies": enabled.len(), "compliant": !enabled.is_empty()},
        "article_11_technical_documentation": {"policies_documented": all.len(), "compliant": all.iter().all(|p| p.description.is_some()) && !all.is_empty()},
        "article_12_event_logging": {"policy_matches_last_30d": e.matches.len(), "trace_retention_days": retention, "compliant": retention >= MIN_RETENTION_DAYS},
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
    json!({
        "framework": framework,
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "project_id": e.project_id,
        "articles": articles,
        "recommendations": recommendations,
        "recommendation_count": recommendations.len(),
    })
}
