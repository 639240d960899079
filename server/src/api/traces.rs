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

use super::views::{GitCommitView, SpanView, TraceView};

/// An OTLP `ExportTraceServiceRequest` in protobuf (binary).
#[derive(utoipa::ToSchema)]
#[schema(format = Binary, content_media_type = "application/x-protobuf")]
#[allow(dead_code)] // documentation of the protobuf bodies
pub struct OtlpProtobuf(String);

/// What OTLP/JSON calls a partial success: some spans were refused.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation of `otlp::response`
pub struct OtlpPartialSuccess {
    rejected_spans: i64,
    /// Why.
    error_message: String,
}

/// An OTLP `ExportTraceServiceResponse` in JSON: `{}` when every span was
/// accepted.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation of `otlp::response`
pub struct OtlpExportResponse {
    partial_success: Option<OtlpPartialSuccess>,
}

/// A page of traces.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the page is built as JSON
pub struct TracePage {
    data: Vec<TraceView>,
    /// The same as `data` (the CLI reads it here).
    traces: Vec<TraceView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A trace with its spans.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct TraceDetail {
    #[schema(inline)]
    #[serde(flatten)]
    trace: TraceView,
    /// The commit the trace ran, when it names one (null when the commit
    /// is not known); absent when it names none.
    git_commit: Option<GitCommitView>,
    /// In start order, at most 10 000.
    spans: Vec<SpanView>,
}

/// A span in the tree, with its children.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `views::tree`
pub struct TraceTreeNode {
    /// Null for the synthetic root that holds several top-level spans.
    span_id: Option<String>,
    parent_span_id: Option<String>,
    name: String,
    kind: String,
    /// True on the synthetic root.
    synthetic: Option<bool>,
    start_time: String,
    end_time: Option<String>,
    duration_ms: Option<f64>,
    status_code: Option<String>,
    agent_name: Option<String>,
    tool_name: Option<String>,
    request_model: Option<String>,
    operation_name: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    /// Decimal string, USD.
    cost_usd: Option<String>,
    intervention_state: Option<String>,
    #[schema(no_recursion)]
    children: Vec<TraceTreeNode>,
}

/// A trace as a tree of spans.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct TraceTree {
    trace: TraceView,
    /// The root span; several top-level spans hang under a synthetic root.
    /// Null when the trace has no spans.
    root: Option<TraceTreeNode>,
    span_count: i64,
}

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

/// Send traces (OTLP/HTTP)
///
/// The OTLP/HTTP trace endpoint: an `ExportTraceServiceRequest` as
/// protobuf (`application/x-protobuf`, the default for any other content
/// type) or as OTLP/JSON (`application/json`), optionally compressed
/// (`Content-Encoding: gzip` or `deflate`). At most 4 MiB on the wire and
/// 32 MiB decompressed. The answer is in the request's format. Spans are
/// redacted, costed and checked against the policies before they are
/// stored.
#[utoipa::path(
    tag = "Traces",
    operation_id = "ingest_traces",
    security(("bearer" = ["traces:write"])),
    request_body(description = "An OTLP `ExportTraceServiceRequest`.", content(
        (OtlpProtobuf = "application/x-protobuf"),
        (Object = "application/json"),
    )),
    responses(
        (status = 200, description = "Accepted; `partialSuccess` says how many spans were refused and why, when any were.", content(
            (OtlpExportResponse = "application/json"),
            (OtlpProtobuf = "application/x-protobuf"),
        )),
        (status = 400, description = "The body is not valid OTLP in its format (or its compression), or could not be read."),
        (status = 413, description = "The body exceeds 4 MiB, or 32 MiB once decompressed."),
        (status = 415, description = "An unsupported `Content-Encoding` (use gzip, deflate or identity)."),
    ),
)]
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

/// List traces
///
/// Newest first by default, filtered, a page at a time.
#[utoipa::path(
    tag = "Traces",
    operation_id = "list_traces",
    security(("bearer" = ["traces:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 50)."),
        ("sort" = Option<String>, Query, description = "`field:direction`, field one of `started`, `duration`, `spans`, `cost`, `agent`, direction `asc` or `desc` (default); unknown fields mean newest first."),
        ("start_after" = Option<String>, Query, description = "Only traces that started after this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("start_before" = Option<String>, Query, description = "Only traces that started before this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("agent_name" = Option<String>, Query, description = "Only this agent's traces."),
        ("workflow_name" = Option<String>, Query, description = "Only this workflow's traces."),
        ("intervention_state" = Option<String>, Query, description = "Only traces in this state (e.g. `blocked`)."),
        ("git_commit" = Option<String>, Query, description = "Only traces of the commit starting with these 4 to 64 hex characters."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (with the same `sort`)."),
    ),
    responses(
        (status = 200, description = "A page of traces.", body = TracePage),
        (status = 400, description = "A time bound that is neither nanoseconds nor ISO 8601, a `git_commit` that is not 4 to 64 hex characters, or a cursor that is invalid or does not match the order."),
    ),
)]
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

/// Read a trace
///
/// The trace with all its spans (at most 10 000) and, when it names one,
/// its git commit.
#[utoipa::path(
    tag = "Traces",
    operation_id = "get_trace",
    security(("bearer" = ["traces:read"])),
    params(("trace_id" = String, Path, description = "32 hex characters; anything else is not found.")),
    responses((status = 200, description = "The trace.", body = TraceDetail)),
)]
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

/// A trace as a tree
///
/// The trace's spans as a tree with a single root (several top-level
/// spans hang under a synthetic one), for tree printers.
#[utoipa::path(
    tag = "Traces",
    operation_id = "get_trace_tree",
    security(("bearer" = ["traces:read"])),
    params(("trace_id" = String, Path, description = "32 hex characters; anything else is not found.")),
    responses((status = 200, description = "The tree.", body = TraceTree)),
)]
#[get("/v1/traces/{trace_id}/tree")]
pub async fn tree(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let (trace, spans) = load_trace(&state, &auth, &path).await?;
    let root = views::tree::build(&spans, trace.workflow_name.as_deref());
    Ok(HttpResponse::Ok()
        .json(json!({ "trace": super::views::trace(&trace), "root": root, "span_count": spans.len() })))
}
