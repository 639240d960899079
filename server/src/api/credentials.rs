//! `/v1/credentials`: the credential catalogue ingest redaction uses, and a
//! scanner for text a user pastes in (a prompt, a config file) before it
//! goes anywhere.

use actix_web::{get, post};
use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::params::object;
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::ingest::credentials::{self, Finding};

/// Longest text one scan takes, in characters.
const MAX_TEXT: usize = 100_000;

/// A kind of credential the scanner recognises.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the catalogue is rendered as JSON
pub struct CredentialPattern {
    id: String,
    name: String,
    /// `critical`, `high` or `medium`.
    severity: String,
    category: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the catalogue is rendered as JSON
pub struct CredentialPatterns {
    total_patterns: i64,
    /// Sorted.
    categories: Vec<String>,
    /// Patterns per severity.
    severity_counts: std::collections::BTreeMap<String, i64>,
    patterns: Vec<CredentialPattern>,
}

/// `POST /v1/credentials/scan`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct CredentialScan {
    /// The text to scan (a prompt, a config file).
    #[schema(max_length = 100000)]
    text: String,
}

/// A credential found in the text. Offsets count characters.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: findings are rendered as JSON
pub struct CredentialFinding {
    pattern_id: String,
    pattern_name: String,
    severity: String,
    category: String,
    match_start: i64,
    match_end: i64,
    match_length: i64,
    /// The first four characters, then `********`.
    preview: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: findings are rendered as JSON
pub struct CredentialFindings {
    findings_count: i64,
    findings: Vec<CredentialFinding>,
}

/// The credential catalogue
///
/// The kinds of credential ingest redacts from span attributes and the
/// scanner finds.
#[utoipa::path(
    tag = "Credentials",
    operation_id = "list_credential_patterns",
    security(("bearer" = ["policies:read"])),
    responses((status = 200, description = "The catalogue.", body = CredentialPatterns)),
)]
#[get("/v1/credentials/patterns")]
pub async fn patterns(auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let all: Vec<_> = credentials::patterns().collect();
    let mut severity_counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut categories: Vec<&str> = Vec::new();
    for p in &all {
        *severity_counts.entry(p.severity).or_default() += 1;
        if !categories.contains(&p.category) {
            categories.push(p.category);
        }
    }
    categories.sort_unstable();
    let patterns: Vec<Value> = all
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name, "severity": p.severity, "category": p.category}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "total_patterns": all.len(),
        "categories": categories,
        "severity_counts": severity_counts,
        "patterns": patterns,
    })))
}

/// Scan text for credentials
///
/// Finds API keys, tokens and other secrets in a text before it goes
/// anywhere. Nothing is stored, and the answer never repeats a secret.
#[utoipa::path(
    tag = "Credentials",
    operation_id = "scan_credentials",
    security(("bearer" = ["traces:read"])),
    request_body = CredentialScan,
    responses((status = 200, description = "What was found, in order.", body = CredentialFindings)),
)]
#[post("/v1/credentials/scan")]
pub async fn scan(auth: Auth, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let body = object(body)?;
    let text = match body.get("text") {
        Some(Value::String(t)) => t,
        Some(other) => {
            return Err(ApiError::Unprocessable(vec![json!({
                "type": "string_type", "loc": ["body", "text"], "msg": "Input should be a valid string", "input": other,
            })]))
        }
        None => return Err(ApiError::field("text", "Field required")),
    };
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::Unprocessable(vec![json!({
            "type": "string_too_long", "loc": ["body", "text"],
            "msg": format!("String should have at most {MAX_TEXT} characters"),
        })]));
    }
    let findings: Vec<Value> = credentials::find(text).iter().map(|f| finding(text, f)).collect();
    Ok(HttpResponse::Ok().json(json!({ "findings_count": findings.len(), "findings": findings })))
}

/// Offsets in characters (what a client's string indexing uses) and a
/// preview that shows where the secret is without repeating it.
fn finding(text: &str, f: &Finding) -> Value {
    let start = text[..f.start].chars().count();
    let length = text[f.start..f.end].chars().count();
    json!({
        "pattern_id": f.pattern.id,
        "pattern_name": f.pattern.name,
        "severity": f.pattern.severity,
        "category": f.pattern.category,
        "match_start": start,
        "match_end": start + length,
        "match_length": length,
        "preview": preview(&text[f.start..f.end]),
    })
}

/// The first four characters, then asterisks: enough to recognise which
/// key it is, too little to use it.
pub fn preview(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}{}", "*".repeat(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_never_carry_the_secret() {
        assert_eq!(preview("AKIAIOSFODNN7EXAMPLE"), "AKIA********");
        assert_eq!(preview("ab"), "ab********");
    }
}
