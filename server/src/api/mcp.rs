//! `POST /v1/mcp/proxy`: the MCP gateway (see `crate::mcp`). Bad gateway
//! input is a 422; everything about the MCP message itself is answered the
//! MCP way, as a JSON-RPC object with status 200.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::params::object;
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::mcp::{self, client, Input};
use crate::state::AppState;

const FIELDS: [&str; 6] = [
    "upstream_url",
    "request",
    "blocked_tools",
    "scan_responses",
    "agent_name",
    "session_id",
];

fn invalid(loc: &str, kind: &str, msg: &str, input: Option<&Value>) -> ApiError {
    ApiError::Unprocessable(vec![
        json!({"type": kind, "loc": ["body", loc], "msg": msg, "input": input}),
    ])
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn parse(req: &HttpRequest, body: web::Json<Value>) -> Result<Input, ApiError> {
    let mut body = object(body)?;
    if let Some(extra) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(
            extra,
            "extra_forbidden",
            "Extra inputs are not permitted",
            None,
        ));
    }
    let upstream_url = match body.remove("upstream_url") {
        Some(Value::String(u)) if !u.trim().is_empty() => u,
        Some(other) => {
            return Err(invalid(
                "upstream_url",
                "string_type",
                "Input should be a non-empty string",
                Some(&other),
            ))
        }
        None => return Err(invalid("upstream_url", "missing", "Field required", None)),
    };
    let request = match body.remove("request") {
        Some(Value::Object(r)) => r,
        Some(other) => {
            return Err(invalid(
                "request",
                "dict_type",
                "Input should be a JSON-RPC request object",
                Some(&other),
            ))
        }
        None => return Err(invalid("request", "missing", "Field required", None)),
    };
    let blocked_tools = match body.remove("blocked_tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("blocked_tools", "list_type", "Input should be a list of strings", None))?,
        Some(other) => {
            return Err(invalid(
                "blocked_tools",
                "list_type",
                "Input should be a list of strings",
                Some(&other),
            ))
        }
    };
    let scan_responses = match body.remove("scan_responses") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(invalid(
                "scan_responses",
                "bool_type",
                "Input should be a valid boolean",
                Some(&other),
            ))
        }
    };
    let text = |body: &mut serde_json::Map<String, Value>, key: &str| match body.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => Ok(Some(s)),
        Some(other) => Err(invalid(
            key,
            "string_type",
            "Input should be a string of 1 to 256 characters",
            Some(&other),
        )),
    };
    let agent_name = text(&mut body, "agent_name")?;
    let session = text(&mut body, "session_id")?.or_else(|| header(req, client::SESSION_HEADER));
    Ok(Input {
        upstream_url,
        request,
        blocked_tools,
        scan_responses,
        agent_name,
        session,
        protocol: header(req, client::PROTOCOL_HEADER),
        traceparent: header(req, "traceparent"),
    })
}

/// `POST /v1/mcp/proxy`.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation: `parse` reads the body field by field
pub struct McpProxyRequest {
    /// The MCP server (streamable HTTP) to forward to; checked against the
    /// SSRF guard when a message is forwarded.
    #[schema(min_length = 1)]
    upstream_url: String,
    /// An MCP JSON-RPC 2.0 message (`jsonrpc`, `method`, `id`, `params`).
    #[schema(value_type = Object)]
    request: serde_json::Value,
    /// Tools refused outright (and removed from `tools/list`).
    blocked_tools: Option<Vec<String>>,
    /// Redact credentials in responses (default true).
    scan_responses: Option<bool>,
    /// The agent the call is attributed to in its span.
    #[schema(min_length = 1, max_length = 256)]
    agent_name: Option<String>,
    /// The MCP session; the `Mcp-Session-Id` header may carry it instead.
    #[schema(min_length = 1, max_length = 256)]
    session_id: Option<String>,
}

/// Call a tool through the MCP gateway
///
/// Evaluates a `tools/call` against the project's policies (block, steer,
/// require approval, throttle) before forwarding it to `upstream_url`,
/// filters `tools/list`, and redacts credentials in responses. Every
/// decision is recorded as a span. Whatever happens to the MCP message is
/// answered the MCP way: a JSON-RPC result or error with status 200.
#[utoipa::path(
    tag = "MCP gateway",
    operation_id = "proxy_mcp",
    security(("bearer" = ["traces:write"])),
    request_body = McpProxyRequest,
    responses(
        (status = 200, description = "The JSON-RPC answer: the upstream's, or the gateway's error (`-32040` blocked, `-32041` needs approval, `-32043` throttled, `-32603` upstream failure).",
            body = Object,
            headers(("Mcp-Session-Id" = String, description = "The upstream's MCP session, when it has one."))),
        (status = 202, description = "A notification the upstream accepted; no body.",
            headers(("Mcp-Session-Id" = String, description = "The upstream's MCP session, when it has one."))),
    ),
)]
#[post("/v1/mcp/proxy")]
pub async fn proxy(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_WRITE)?;
    let input = parse(&req, body)?;
    let reply = mcp::handle(&state, &auth, input).await;
    let mut response = match reply.message {
        Some(_) => HttpResponse::Ok(),
        // A notification the upstream accepted has no answer.
        None => HttpResponse::Accepted(),
    };
    if let Some(session) = &reply.session {
        response.insert_header((client::SESSION_HEADER, session.as_str()));
    }
    Ok(match reply.message {
        Some(message) => response.json(message),
        None => response.finish(),
    })
}
