//! `/v1/traces`: OTLP/HTTP ingest (POST) and the trace read API (GET).

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use serde_json::{json, Value};
use strathon_schema::traces::{self, Trace, TraceQuery, TraceSort};

use super::params::{self, Params};
use super::views;
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::ingest::otlp::{self, DecodeError, Format, MAX_WIRE_BYTES};
use crate::ingest::pipeline;
use crate::state::AppState;

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn too_large(size: Option<usize>) -> ApiError {
    match size {
        Some(n) => ApiError::PayloadTooLarge(format!("Payload too large: {n} bytes (max {MAX_WIRE_BYTES})")),
        None => ApiError::PayloadTooLarge(format!("Payload too large: more than {MAX_WIRE_BYTES} bytes")),
    }
}

/// Reads the body only after authentication succeeded (the `Auth` extractor
/// runs first), never buffering more than the wire limit.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let declared = header(req, CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_WIRE_BYTES) {
        return Err(too_large(declared));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8192).min(MAX_WIRE_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_WIRE_BYTES {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge => ApiError::PayloadTooLarge(e.to_string()),
            DecodeError::UnsupportedEncoding(_) => ApiError::UnsupportedMediaType(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

#[utoipa::path(tag = "Traces", responses((status = 200, description = "OK")))]
#[post("/v1/traces")]
pub async fn ingest(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_WRITE)?;
    let format = Format::from_content_type(header(&req, CONTENT_TYPE));
    let body = read_body(&req, payload).await?;
    let decoded = otlp::decompress(&body, header(&req, CONTENT_ENCODING))?;
    let request = otlp::decode(&decoded, format)?;
    drop(decoded);

    let stored = pipeline::store(&state, auth.project_id, request).await?;
    let (rejected, message) = (stored.rejected, stored.message);
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(otlp::response(rejected as i64, message, format)))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TraceCursor {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    t: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    o: Option<i64>,
}

fn trace_sort(name: &str) -> Option<TraceSort> {
    Some(match name {
        "started" => TraceSort::Started,
        "duration" => TraceSort::Duration,
        "spans" => TraceSort::Spans,
        "cost" => TraceSort::Cost,
        "agent" => TraceSort::Agent,
        _ => return None,
    })
}

#[utoipa::path(tag = "Traces", responses((status = 200, description = "OK")))]
#[get("/v1/traces")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let p = query.into_inner();
    let limit = params::limit(&p, 50, 1000)?;
    let sort = params::sort(&p, trace_sort);
    let mut q = TraceQuery {
        start_after: params::time_ns(&p, "start_after")?,
        start_before: params::time_ns(&p, "start_before")?,
        agent_name: p.get("agent_name").cloned(),
        workflow_name: p.get("workflow_name").cloned(),
        intervention_state: p.get("intervention_state").cloned(),
        git_commit: match p.get("git_commit").map(|c| c.trim().to_ascii_lowercase()) {
            Some(c) if c.len() >= 4 && c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_hexdigit()) => Some(c),
            Some(c) => {
                return Err(ApiError::BadRequest(format!(
                    "git_commit must be 4 to 64 hex characters of a commit hash, got {c:?}"
                )))
            }
            None => None,
        },
        sort,
        limit: limit + 1,
        ..Default::default()
    };
    if let Some(c) = params::decode_cursor::<TraceCursor>(&p)? {
        match (sort, c) {
            (Some(_), TraceCursor { o: Some(offset), .. }) => q.offset = offset.max(0),
            (
                None,
                TraceCursor {
                    t: Some(t),
                    id: Some(id),
                    ..
                },
            ) => {
                let id =
                    hex::decode(id).map_err(|_| ApiError::BadRequest("invalid cursor: malformed position".into()))?;
                q.after = Some((t, id));
            }
            _ => {
                return Err(ApiError::BadRequest(
                    "invalid cursor: it does not match the requested order".into(),
                ))
            }
        }
    }
    let mut conn = state.pool.get().await?;
    let mut found = traces::list(&mut conn, auth.project_id, &q).await?;
    let next = (found.len() as i64 > limit).then(|| {
        found.truncate(limit as usize);
        let last = found.last();
        params::encode_cursor(&match sort {
            Some(_) => TraceCursor {
                t: None,
                id: None,
                o: Some(q.offset + limit),
            },
            None => TraceCursor {
                t: last.map(|t| t.start_time_unix_nano),
                id: last.map(|t| hex::encode(&t.id)),
                o: None,
            },
        })
    });
    let data: Vec<Value> = found.iter().map(super::views::trace).collect();
    // `traces` repeats `data` for the published CLI, which reads that key.
    Ok(HttpResponse::Ok().json(json!({ "data": data, "traces": data, "next_cursor": next })))
}

async fn load_trace(
    state: &AppState,
    auth: &Auth,
    raw_id: &str,
) -> Result<(Trace, Vec<strathon_schema::spans::Span>), ApiError> {
    let not_found = || ApiError::NotFound(format!("trace {raw_id} not found"));
    let id = params::hex_id(raw_id, 16).ok_or_else(not_found)?;
    let mut conn = state.pool.get().await?;
    let trace = traces::find(&mut conn, auth.project_id, &id)
        .await?
        .ok_or_else(not_found)?;
    let spans = strathon_schema::spans::for_trace(&mut conn, auth.project_id, &id, MAX_TREE_SPANS).await?;
    Ok((trace, spans))
}

/// The most spans a trace detail or tree returns.
const MAX_TREE_SPANS: i64 = 10_000;

#[utoipa::path(tag = "Traces", responses((status = 200, description = "OK")))]
#[get("/v1/traces/{trace_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let (trace, spans) = load_trace(&state, &auth, &path).await?;
    let mut body = super::views::trace(&trace);
    if let Some(sha) = &trace.git_commit_sha {
        let mut conn = state.pool.get().await?;
        let commit = strathon_schema::integrations::commit_of_trace(&mut conn, auth.project_id, sha).await?;
        body["git_commit"] = commit.as_ref().map(super::views::git_commit).unwrap_or(Value::Null);
    }
    body["spans"] = Value::Array(spans.iter().map(super::views::span).collect());
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(tag = "Traces", responses((status = 200, description = "OK")))]
#[get("/v1/traces/{trace_id}/tree")]
pub async fn tree(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let (trace, spans) = load_trace(&state, &auth, &path).await?;
    let root = views::tree::build(&spans, trace.workflow_name.as_deref());
    Ok(HttpResponse::Ok()
        .json(json!({ "trace": super::views::trace(&trace), "root": root, "span_count": spans.len() })))
}
