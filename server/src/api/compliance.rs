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

#[utoipa::path(tag = "Compliance", responses((status = 200, description = "OK")))]
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

#[utoipa::path(tag = "Compliance", responses((status = 200, description = "OK")))]
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
