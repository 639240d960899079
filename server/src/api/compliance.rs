//! `POST /v1/compliance/export`: the EU AI Act evidence report (see
//! `crate::compliance`) as JSON or SARIF 2.1.0; `GET /v1/compliance/sarif`:
//! the policy violations of the last hours as SARIF, for code-scanning
//! dashboards that poll.

use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::params::{self, object, Params};
use crate::auth::{scope, Auth};
use crate::compliance;
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /v1/compliance/export`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ComplianceExportRequest {
    /// `json` (default) or `sarif`.
    format: Option<String>,
    /// The framework the JSON report names (default `eu_ai_act`).
    framework: Option<String>,
}

/// The EU AI Act evidence report.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `compliance::report`
pub struct ComplianceReport {
    framework: String,
    generated_at: String,
    project_id: uuid::Uuid,
    /// By article (`article_9_risk_management`, `article_11_technical_documentation`,
    /// `article_12_event_logging`, `article_14_human_oversight`, `article_15_robustness`,
    /// `article_19_retention`): the evidence and whether it is `compliant`.
    #[schema(value_type = Object)]
    articles: serde_json::Value,
    /// What to do for each article that is not compliant.
    recommendations: Vec<String>,
    recommendation_count: i64,
}

/// Compliance evidence report
///
/// The evidence the EU AI Act asks for (risk management, documentation,
/// logging, human oversight, robustness, retention), article by article,
/// as JSON or as a SARIF 2.1.0 file.
#[utoipa::path(
    tag = "Compliance",
    operation_id = "export_compliance_report",
    security(("bearer" = ["data:export"])),
    request_body = ComplianceExportRequest,
    responses(
        (status = 200, description = "The report; with `format=sarif` a SARIF 2.1.0 download.", content(
            (ComplianceReport = "application/json"),
            (Object = "application/sarif+json"),
        )),
        (status = 400, description = "`format` is neither `json` nor `sarif`."),
    ),
)]
#[post("/v1/compliance/export")]
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
    let evidence = compliance::gather(&mut conn, auth.project_id).await?;
    if format == "sarif" {
        return Ok(HttpResponse::Ok()
            .content_type("application/sarif+json")
            .insert_header((
                CONTENT_DISPOSITION,
                "attachment; filename=\"strathon-compliance.sarif\"",
            ))
            .json(compliance::sarif(&evidence)));
    }
    let framework = body.get("framework").and_then(Value::as_str).unwrap_or("eu_ai_act");
    Ok(HttpResponse::Ok().json(compliance::report(&evidence, framework)))
}

/// Policy violations as SARIF
///
/// The policy matches of the last `hours` hours as a SARIF 2.1.0 log, for
/// code-scanning dashboards that poll.
#[utoipa::path(
    tag = "Compliance",
    operation_id = "get_compliance_sarif",
    security(("bearer" = ["audit:read"])),
    params(
        ("hours" = Option<i64>, Query, minimum = 1, maximum = 720, description = "Look back this many hours (default 24)."),
    ),
    responses((status = 200, description = "A SARIF 2.1.0 log.", body = Object, content_type = "application/sarif+json")),
)]
#[get("/v1/compliance/sarif")]
pub async fn sarif(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let hours = params::bounded_int(&query, "hours", 24, 1, 720)?;
    let mut conn = state.pool.get().await?;
    let since = chrono::Utc::now() - chrono::Duration::hours(hours);
    let evidence = compliance::gather_since(&mut conn, auth.project_id, since).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/sarif+json")
        .json(compliance::sarif(&evidence)))
}
