//! `POST /v1/export`: the project's data as one JSON document, or as a ZIP
//! of CSV files with a manifest. Each dataset holds at most
//! [`MAX_ROWS`] rows of the chosen time range, newest first; the manifest
//! says when one was cut.

use actix_web::post;
use std::io::Write as _;

use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use strathon_schema::{analytics, approvals, audit as rows, budgets, policies, spans, traces};

use super::params::object;
use super::views;
use crate::auth::{scope, Auth};
use crate::compliance;
use crate::error::ApiError;
use crate::state::AppState;

pub const DATASETS: [&str; 8] = [
    "policies",
    "traces",
    "spans",
    "approvals",
    "agents",
    "audit",
    "budgets",
    "compliance",
];
const RANGES: [(&str, i64); 6] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90), ("1y", 365), ("all", 0)];
pub const MAX_ROWS: i64 = 10_000;

/// `POST /v1/export`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ExportRequest {
    /// Any of `policies`, `traces`, `spans`, `approvals`, `agents`, `audit`,
    /// `budgets`, `compliance`.
    #[schema(min_items = 1)]
    datasets: Vec<String>,
    /// `24h`, `7d` (default), `30d`, `90d`, `1y` or `all`.
    time_range: Option<String>,
    /// `json` (default) or `csv` (a ZIP of CSV files with a manifest).
    format: Option<String>,
}

/// The project's data as one JSON document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the document is built as JSON
pub struct ExportDocument {
    generated_at: String,
    project_id: uuid::Uuid,
    time_range: String,
    /// By dataset name, its rows (at most 10 000, newest first), each as
    /// the API shows it elsewhere.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<Object>>)]
    datasets: serde_json::Value,
    /// The compliance report, when `compliance` was asked for.
    #[schema(value_type = Option<Object>)]
    compliance: Option<serde_json::Value>,
}

/// A ZIP archive.
#[derive(utoipa::ToSchema)]
#[schema(format = Binary, content_media_type = "application/zip")]
#[allow(dead_code)] // documentation of the `format=csv` answer
pub struct ZipArchive(String);

/// Export the project's data
///
/// The chosen datasets of the chosen time range, as one JSON document or
/// as a ZIP of CSV files with a `manifest.json` (a file download). Each
/// dataset holds at most 10 000 rows, newest first.
#[utoipa::path(
    tag = "Compliance",
    operation_id = "export_data",
    security(("bearer" = ["data:export"])),
    request_body = ExportRequest,
    responses(
        (status = 200, description = "The export.", content(
            (ExportDocument = "application/json"),
            (ZipArchive = "application/zip"),
        )),
        (status = 400, description = "No datasets, an unknown dataset, `time_range` or `format`."),
    ),
)]
#[post("/v1/export")]
pub async fn export(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::DATA_EXPORT)?;
    let body = object(body)?;
    let wanted: Vec<String> = match body.get("datasets") {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|v| v.as_str().unwrap_or("").to_owned()).collect()
        }
        _ => return Err(ApiError::BadRequest("Provide a non-empty 'datasets' list.".into())),
    };
    let unknown: Vec<&String> = wanted.iter().filter(|d| !DATASETS.contains(&d.as_str())).collect();
    if !unknown.is_empty() {
        return Err(ApiError::BadRequest(
            format!("Unknown dataset(s): {unknown:?}").replace('"', "'"),
        ));
    }
    let range = body.get("time_range").and_then(Value::as_str).unwrap_or("7d");
    let Some(days) = RANGES.iter().find(|r| r.0 == range).map(|r| r.1) else {
        return Err(ApiError::BadRequest(
            format!(
                "Unsupported time_range '{range}'. Use one of {:?}.",
                RANGES.map(|r| r.0)
            )
            .replace('"', "'"),
        ));
    };
    let format = body.get("format").and_then(Value::as_str).unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(ApiError::BadRequest(format!(
            "Unsupported format '{format}'. Use 'json' or 'csv'."
        )));
    }
    let now = chrono::Utc::now();
    let since = (days > 0).then(|| now - chrono::Duration::days(days));
    let since_ns = since.and_then(|t| t.timestamp_nanos_opt());
    let project = auth.project_id;
    let mut conn = state.pool.get().await?;
    let mut datasets = Map::new();
    let mut compliance_report = None;
    for name in &wanted {
        let rows: Vec<Value> = match name.as_str() {
            "policies" => policies::list(&mut conn, project).await?.iter().map(views::policy).collect(),
            "traces" => {
                let q = traces::TraceQuery { start_after: since_ns, limit: MAX_ROWS, ..Default::default() };
                traces::list(&mut conn, project, &q).await?.iter().map(views::trace).collect()
            }
            "spans" => {
                let q = spans::SpanQuery { start_after: since_ns, limit: MAX_ROWS, ..Default::default() };
                spans::search(&mut conn, project, &q).await?.iter().map(views::span).collect()
            }
            "approvals" => approvals::list(&mut conn, project, None, MAX_ROWS)
                .await?
                .iter()
                .filter(|a| since.is_none_or(|s| a.requested_at >= s))
                .map(views::approval)
                .collect(),
            "agents" => analytics::agents(&mut conn, project, since_ns.unwrap_or(0), 500)
                .await?
                .iter()
                .map(|a| json!({
                    "agent_name": a.agent_name, "first_seen": super::params::iso(a.first_seen),
                    "last_active": super::params::iso(a.last_active), "total_spans": a.total_spans,
                    "total_cost_usd": super::params::decimal(&a.total_cost_usd), "total_tool_calls": a.total_tool_calls,
                    "tools_used": a.tools_used, "models_used": a.models_used, "interventions": a.interventions,
                }))
                .collect(),
            "audit" => {
                let filter = since.map(rows::occurred_since);
                rows::list(&mut conn, project, filter, None, MAX_ROWS).await?.iter().map(views::audit_event).collect()
            }
            "budgets" => budgets::list(&mut conn, project, true, 500)
                .await?
                .iter()
                .map(|b| views::budget(b, false))
                .collect(),
            _ => {
                let evidence = compliance::gather(&mut conn, project).await?;
                compliance_report = Some(compliance::report(&evidence, "eu_ai_act"));
                continue;
            }
        };
        datasets.insert(name.clone(), Value::Array(rows));
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let manifest = json!({
        "generated_at": now.to_rfc3339(), "project_id": project, "time_range": range,
        "row_limit_per_dataset": MAX_ROWS,
        "counts": datasets.iter().map(|(k, v)| (k.clone(), json!(v.as_array().map_or(0, Vec::len)))).collect::<Map<_, _>>(),
    });
    if format == "json" {
        let mut doc = json!({"generated_at": manifest["generated_at"], "project_id": project, "time_range": range, "datasets": datasets});
        if let Some(c) = compliance_report {
            doc["compliance"] = c;
        }
        return Ok(HttpResponse::Ok()
            .insert_header((
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"strathon-export-{stamp}.json\""),
            ))
            .json(doc));
    }
    let zipped = zip_csv(&datasets, &manifest, compliance_report.as_ref()).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"strathon-export-{stamp}.zip\""),
        ))
        .body(zipped))
}

/// One CSV per dataset: the union of its rows' top-level keys as columns,
/// nested values as JSON text.
pub fn to_csv(rows: &[Value]) -> Result<Vec<u8>, csv::Error> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.as_object().into_iter().flat_map(Map::keys) {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&columns)?;
    for row in rows {
        out.write_record(columns.iter().map(|c| match &row[c] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    out.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn zip_csv(datasets: &Map<String, Value>, manifest: &Value, compliance: Option<&Value>) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), String> {
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())
    };
    for (name, rows) in datasets {
        let csv = to_csv(rows.as_array().map_or(&[][..], Vec::as_slice)).map_err(|e| e.to_string())?;
        add(&format!("{name}.csv"), &csv)?;
    }
    add(
        "manifest.json",
        &serde_json::to_vec_pretty(manifest).unwrap_or_default(),
    )?;
    if let Some(c) = compliance {
        add("compliance.json", &serde_json::to_vec_pretty(c).unwrap_or_default())?;
    }
    zip.finish().map(|c| c.into_inner()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_are_the_union_and_nested_values_are_json() {
        let rows = vec![json!({"a": 1, "b": {"x": true}}), json!({"a": null, "c": "t,ext"})];
        let text = String::from_utf8(to_csv(&rows).unwrap()).unwrap();
        assert_eq!(text, "a,b,c\n1,\"{\"\"x\"\":true}\",\n,,\"t,ext\"\n");
    }
}
