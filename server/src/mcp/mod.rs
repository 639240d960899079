//! The MCP gateway behind `POST /v1/mcp/proxy`: an agent sends each MCP
//! JSON-RPC message through it. A `tools/call` is decided against the
//! project's policies before anything reaches the upstream server (blocked,
//! steered, held for approval, throttled, or forwarded), `tools/list` loses
//! the tools the caller blocks, results are scanned for credentials, and
//! every decision is stored as a span. Evaluation that cannot complete
//! refuses the call.

pub mod args;
pub mod client;
pub mod record;
pub mod sse;

use std::time::Duration;

use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::{json, Map, Value};
use strathon_schema::approvals::{self, NewApproval};
use strathon_schema::{gateway, settings};
use uuid::Uuid;

use crate::auth::Auth;
use crate::ingest::credentials;
use crate::policy::gateway::{self as engine, Evaluation, Step};
use crate::policy::CompiledPolicy;
use crate::state::AppState;
use client::{Answer, Call, Failure};
use record::Record;

/// JSON-RPC error codes (contract §6.15).
pub const BLOCKED: i64 = -32040;
pub const APPROVAL_REQUIRED: i64 = -32041;
pub const THROTTLED: i64 = -32043;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL: i64 = -32603;

#[derive(Clone)]
pub struct McpMetrics {
    pub decisions: IntCounterVec,
}

impl McpMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let decisions = IntCounterVec::new(
            Opts::new(
                "strathon_receiver_mcp_gateway_decisions_total",
                "MCP gateway requests by decision",
            ),
            &["method", "decision"],
        )?;
        registry.register(Box::new(decisions.clone()))?;
        Ok(McpMetrics { decisions })
    }
}

/// One request to the gateway, validated.
pub struct Input {
    pub upstream_url: String,
    pub request: Map<String, Value>,
    pub blocked_tools: Vec<String>,
    pub scan_responses: bool,
    /// Who is calling (policies see it as `gen_ai.agent.name`; throttles count per agent).
    pub agent_name: Option<String>,
    pub session: Option<String>,
    pub protocol: Option<String>,
    pub traceparent: Option<String>,
}

/// What the gateway answers: a JSON-RPC message (None for an accepted
/// notification) and the upstream's MCP session, if it named one.
pub struct Reply {
    pub message: Option<Value>,
    pub session: Option<String>,
}

enum Decision {
    Forward {
        allowed_by: Option<(Uuid, String)>,
    },
    Blocked {
        policy: Option<(Uuid, String)>,
        message: String,
    },
    Steered {
        policy: (Uuid, String),
        replacement: String,
    },
    Approval {
        policy: (Uuid, String),
        approval_id: Uuid,
        status: String,
    },
    Throttled {
        policy: (Uuid, String),
        retry_after: Option<f64>,
    },
}

fn named(p: &CompiledPolicy) -> (Uuid, String) {
    (p.id, p.name.clone())
}

fn rpc_error(id: &Value, code: i64, message: String, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// Everything a decision's span records besides the tool.
struct Outcome {
    decision: &'static str,
    intervention: Option<&'static str>,
    error: Option<String>,
    attributes: Vec<(&'static str, Value)>,
}

impl Outcome {
    fn new(decision: &'static str) -> Outcome {
        Outcome {
            decision,
            intervention: None,
            error: None,
            attributes: Vec::new(),
        }
    }
}

pub async fn handle(state: &AppState, auth: &Auth, input: Input) -> Reply {
    let started = now_ns();
    let request = Value::Object(input.request.clone());
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (trace_id, parent_span_id) = input
        .traceparent
        .as_deref()
        .and_then(record::parse_traceparent)
        .unwrap_or_else(|| (record::random_id(16), Vec::new()));
    let span_id = record::random_id(8);
    let ids = (trace_id, span_id, parent_span_id);

    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || method.is_empty() {
        count(state, "invalid", "invalid_request");
        return Reply {
            message: Some(rpc_error(
                &id,
                INVALID_REQUEST,
                "Invalid Request: a JSON-RPC 2.0 message with a method is required".into(),
                None,
            )),
            session: None,
        };
    }

    if method == "tools/call" {
        return tools_call(state, auth, &input, &request, &id, started, ids).await;
    }

    let mut outcome = Outcome::new("forwarded");
    let reply = match forward(state, &input, &request).await {
        Ok(answer) => {
            let mut message = answer.message;
            if let Some(m) = message.as_mut() {
                if method == "tools/list" {
                    let removed = filter_tools(m, &input.blocked_tools);
                    if removed > 0 {
                        outcome.decision = "filtered";
                        outcome.attributes.push(("strathon.mcp.tools_removed", json!(removed)));
                    }
                }
                if input.scan_responses && matches!(method.as_str(), "resources/read" | "prompts/get") {
                    let n = redact(m);
                    if n > 0 {
                        outcome.attributes.push(("strathon.mcp.redactions", json!(n)));
                    }
                }
            }
            Reply {
                message,
                session: answer.session,
            }
        }
        Err(failure) => failed(&mut outcome, &id, failure),
    };
    count(state, &method, outcome.decision);
    // Only what shapes a call is recorded: the handshake and lists that the
    // gateway changed (a filtered list), never routine pings.
    if outcome.decision != "forwarded" || matches!(method.as_str(), "resources/read" | "prompts/get") {
        store(state, auth, &input, &method, None, ids, started, outcome).await;
    }
    reply
}

async fn tools_call(
    state: &AppState,
    auth: &Auth,
    input: &Input,
    request: &Value,
    id: &Value,
    started: u64,
    ids: (Vec<u8>, Vec<u8>, Vec<u8>),
) -> Reply {
    let params = request.get("params").and_then(Value::as_object);
    let name = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let arguments = params.and_then(|p| p.get("arguments")).cloned().unwrap_or(json!({}));
    let (Some(name), true) = (name, arguments.is_object()) else {
        count(state, "tools/call", "invalid_params");
        return Reply {
            message: Some(rpc_error(
                id,
                INVALID_PARAMS,
                "Invalid params: tools/call needs params.name (a string) and params.arguments (an object, if given)"
                    .into(),
                None,
            )),
            session: None,
        };
    };
    let args_json = args::python_json(&arguments);
    let decision = decide(state, auth, input, name, &args_json, &ids).await;
    let mut outcome = Outcome::new("forwarded");
    let reply = match decision {
        Decision::Blocked { policy, message } => {
            let text = match &policy {
                None => format!("Tool '{name}' is blocked by Strathon policy"),
                Some((_, p)) => format!("Blocked by policy '{p}': {message}"),
            };
            outcome.decision = if policy.as_ref().is_some_and(|(_, p)| p == "_fail_closed") {
                "fail_closed"
            } else {
                "blocked"
            };
            outcome.intervention = Some("blocked");
            outcome.error = Some(text.clone());
            outcome.attributes.push(("strathon.policy.blocked", json!(true)));
            outcome.attributes.push(("strathon.policy.message", json!(text)));
            let blocked_tools = (Uuid::nil(), "_blocked_tools".to_owned());
            policy_attributes(&mut outcome, Some(policy.as_ref().unwrap_or(&blocked_tools)));
            Reply {
                message: Some(rpc_error(id, BLOCKED, text, None)),
                session: None,
            }
        }
        Decision::Steered { policy, replacement } => {
            outcome.decision = "steered";
            outcome.intervention = Some("steered");
            outcome.attributes.push(("strathon.policy.steered", json!(true)));
            outcome.attributes.push((
                "strathon.policy.replacement",
                json!(replacement.chars().take(1500).collect::<String>()),
            ));
            policy_attributes(&mut outcome, Some(&policy));
            Reply {
                message: Some(json!({
                    "jsonrpc": "2.0", "id": id,
                    "result": {
                        "content": [{"type": "text", "text": replacement}],
                        "isError": false,
                        "_strathon": {"steered_by": policy.1},
                    },
                })),
                session: None,
            }
        }
        Decision::Approval {
            policy,
            approval_id,
            status,
        } => {
            outcome.decision = "approval_required";
            outcome.intervention = Some("approval_requested");
            outcome
                .attributes
                .push(("strathon.policy.approval_required", json!(true)));
            outcome
                .attributes
                .push(("strathon.approval.id", json!(approval_id.to_string())));
            policy_attributes(&mut outcome, Some(&policy));
            Reply {
                message: Some(rpc_error(
                    id,
                    APPROVAL_REQUIRED,
                    format!("Tool call '{name}' requires human approval before it can run."),
                    Some(json!({
                        "approval_id": approval_id, "approval_url": format!("/v1/approvals/{approval_id}"),
                        "status": status, "policy_name": policy.1,
                    })),
                )),
                session: None,
            }
        }
        Decision::Throttled { policy, retry_after } => {
            let text = match retry_after {
                Some(secs) => format!(
                    "Tool call '{name}' rate-limited by policy '{}'. Retry after {}s.",
                    policy.1,
                    secs.ceil().max(1.0)
                ),
                None => format!(
                    "Tool call '{name}' rate-limited by policy '{}': its throttle configuration is unusable.",
                    policy.1
                ),
            };
            outcome.decision = "throttled";
            outcome.intervention = Some("throttled");
            outcome.error = Some(text.clone());
            outcome.attributes.push(("strathon.policy.throttled", json!(true)));
            if let Some(secs) = retry_after {
                outcome
                    .attributes
                    .push(("strathon.policy.retry_after_seconds", json!(secs.ceil().max(1.0))));
            }
            policy_attributes(&mut outcome, Some(&policy));
            Reply {
                message: Some(rpc_error(
                    id,
                    THROTTLED,
                    text,
                    retry_after.map(|s| json!({"retry_after_seconds": s.ceil().max(1.0)})),
                )),
                session: None,
            }
        }
        Decision::Forward { allowed_by } => {
            policy_attributes(&mut outcome, allowed_by.as_ref());
            match forward(state, input, request).await {
                Ok(answer) => {
                    let mut message = answer.message;
                    if let (true, Some(m)) = (input.scan_responses, message.as_mut()) {
                        let n = redact(m);
                        if n > 0 {
                            outcome.attributes.push(("strathon.mcp.redactions", json!(n)));
                        }
                    }
                    if let Some(error) = message.as_ref().and_then(|m| m.get("error")) {
                        outcome.error = Some(format!("upstream error: {error}"));
                    } else if message
                        .as_ref()
                        .and_then(|m| m["result"].get("isError"))
                        .and_then(Value::as_bool)
                        == Some(true)
                    {
                        outcome.error = Some("the tool reported an error".into());
                    }
                    Reply {
                        message,
                        session: answer.session,
                    }
                }
                Err(failure) => failed(&mut outcome, id, failure),
            }
        }
    };
    count(state, "tools/call", outcome.decision);
    store(
        state,
        auth,
        input,
        "tools/call",
        Some((name, &args_json)),
        ids,
        started,
        outcome,
    )
    .await;
    reply
}

fn policy_attributes(outcome: &mut Outcome, policy: Option<&(Uuid, String)>) {
    if let Some((id, name)) = policy {
        if !name.starts_with('_') {
            outcome.attributes.push(("strathon.policy.id", json!(id.to_string())));
        }
        outcome.attributes.push(("strathon.policy.name", json!(name)));
    }
}

fn failed(outcome: &mut Outcome, id: &Value, failure: Failure) -> Reply {
    let (decision, text) = match failure {
        Failure::Rejected(why) => ("upstream_rejected", format!("upstream_url rejected: {why}")),
        Failure::Upstream(why) => ("upstream_error", format!("Upstream MCP server error: {why}")),
    };
    outcome.decision = decision;
    outcome.error = Some(text.clone());
    Reply {
        message: Some(rpc_error(id, INTERNAL, text, None)),
        session: None,
    }
}

async fn decide(
    state: &AppState,
    auth: &Auth,
    input: &Input,
    name: &str,
    args_json: &str,
    ids: &(Vec<u8>, Vec<u8>, Vec<u8>),
) -> Decision {
    let fail_closed = || Decision::Blocked {
        policy: Some((Uuid::nil(), "_fail_closed".into())),
        message: "policy engine unavailable".into(),
    };
    if input.blocked_tools.iter().any(|t| t == name) {
        return Decision::Blocked {
            policy: None,
            message: String::new(),
        };
    }
    let project = match state.contexts.get(&state.pool, auth.project_id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "MCP gateway could not load policies; refusing the call");
            return fail_closed();
        }
    };
    let mut attrs = Map::new();
    attrs.insert("strathon.tool.name".into(), json!(name));
    attrs.insert("gen_ai.tool.name".into(), json!(name));
    attrs.insert("strathon.tool.args".into(), json!(args_json));
    attrs.insert("strathon.source".into(), json!("mcp_gateway"));
    if let Some(agent) = &input.agent_name {
        attrs.insert("gen_ai.agent.name".into(), json!(agent));
        attrs.insert("strathon.agent.name".into(), json!(agent));
    }
    let steps = match engine::evaluate(&project.policies, name, &attrs, chrono::Utc::now()) {
        Evaluation::Unavailable { policy } => {
            tracing::warn!(tool = name, policy = ?policy.map(|p| &p.name), "a policy could not be evaluated; refusing the call");
            return fail_closed();
        }
        Evaluation::Steps { steps, .. } => steps,
    };
    for step in steps {
        match step {
            Step::Throttle(p) => match throttle(state, input, name, p).await {
                Ok(None) => continue,
                Ok(Some(decision)) => return decision,
                Err(()) => return fail_closed(),
            },
            Step::Decide(p) => {
                return match p.action.as_str() {
                    "block" => Decision::Blocked {
                        policy: Some(named(p)),
                        message: p
                            .action_config
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("policy violation")
                            .to_owned(),
                    },
                    "steer" => Decision::Steered {
                        policy: named(p),
                        replacement: p
                            .action_config
                            .get("replacement")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("[Strathon policy '{}' redirected this call]", p.name)),
                    },
                    "require_approval" => match approval(state, auth, input, name, args_json, p, ids).await {
                        Ok(decision) => decision,
                        Err(()) => fail_closed(),
                    },
                    _ => Decision::Forward {
                        allowed_by: Some(named(p)),
                    },
                };
            }
        }
    }
    let default_block = match state.pool.get().await {
        Ok(mut conn) => match settings::get(&mut conn, auth.project_id).await {
            Ok(s) => s.intervention_default_action == "block",
            Err(_) => return fail_closed(),
        },
        Err(_) => return fail_closed(),
    };
    if default_block {
        return Decision::Blocked {
            policy: Some((Uuid::nil(), "_default_deny".into())),
            message: "no policy explicitly allowed this call (project is in allow-list mode: intervention_default_action=block)".into(),
        };
    }
    Decision::Forward { allowed_by: None }
}

/// A matching throttle: None when a token was free (evaluation goes on),
/// the refusal otherwise.
async fn throttle(state: &AppState, input: &Input, name: &str, p: &CompiledPolicy) -> Result<Option<Decision>, ()> {
    let Some((capacity, rate, scope)) = engine::throttle_config(p) else {
        return Ok(Some(Decision::Throttled {
            policy: named(p),
            retry_after: None,
        }));
    };
    let key = match (scope, &input.agent_name) {
        ("global", _) => "global".to_owned(),
        (_, Some(agent)) => agent.clone(),
        (_, None) => format!("unknown:{name}"),
    };
    let mut conn = state.pool.get().await.map_err(|_| ())?;
    match gateway::take_token(&mut conn, p.id, &key, capacity, rate).await {
        Ok(Ok(())) => Ok(None),
        Ok(Err(wait)) => Ok(Some(Decision::Throttled {
            policy: named(p),
            retry_after: Some(wait),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "MCP gateway throttle bucket unavailable; refusing the call");
            Err(())
        }
    }
}

/// A call that needs a person: an approval already granted for exactly this
/// call is used up and lets it through; one still pending is pointed to
/// again; otherwise a new one is requested (and announced like any other).
async fn approval(
    state: &AppState,
    auth: &Auth,
    input: &Input,
    name: &str,
    args_json: &str,
    p: &CompiledPolicy,
    ids: &(Vec<u8>, Vec<u8>, Vec<u8>),
) -> Result<Decision, ()> {
    let mut conn = state.pool.get().await.map_err(|_| ())?;
    let existing = approvals::for_call(&mut conn, auth.project_id, p.id, name, args_json)
        .await
        .map_err(|_| ())?;
    if let Some(a) = existing {
        if a.status == "approved" && approvals::consume(&mut conn, a.id).await.map_err(|_| ())? {
            return Ok(Decision::Forward {
                allowed_by: Some(named(p)),
            });
        }
        if a.status == "pending" {
            return Ok(Decision::Approval {
                policy: named(p),
                approval_id: a.id,
                status: a.status,
            });
        }
    }
    let config = |k: &str| p.action_config.get(k).and_then(Value::as_i64).filter(|n| *n > 0);
    let timeout = config("timeout_seconds")
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(300);
    let new = NewApproval {
        project_id: auth.project_id,
        policy_id: p.id,
        span_name: Some(name.to_owned()),
        agent_name: input.agent_name.clone(),
        tool_name: Some(name.to_owned()),
        tool_args: Some(args_json.to_owned()),
        policy_name: Some(p.name.clone()),
        timeout_seconds: timeout,
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(i64::from(timeout)),
        approvers_required: config("approvers_required")
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(1),
    };
    let created = approvals::insert_for_span(&mut conn, &new, &ids.0, &ids.1)
        .await
        .map_err(|e| tracing::warn!(error = %e, "MCP gateway could not request an approval"))?;
    Ok(Decision::Approval {
        policy: named(p),
        approval_id: created.id,
        status: created.status,
    })
}

async fn forward(state: &AppState, input: &Input, request: &Value) -> Result<Answer, Failure> {
    client::forward(Call {
        url: &input.upstream_url,
        message: request,
        session: input.session.as_deref(),
        protocol: input.protocol.as_deref(),
        timeout: Duration::from_secs(state.config.integrations.mcp_upstream_timeout_seconds),
        guard: state.config.ssrf_guard(),
    })
    .await
}

/// Removes blocked tools from a `tools/list` result; returns how many.
fn filter_tools(message: &mut Value, blocked: &[String]) -> usize {
    let Some(tools) = message.pointer_mut("/result/tools").and_then(Value::as_array_mut) else {
        return 0;
    };
    let before = tools.len();
    tools.retain(|t| {
        !t.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| blocked.iter().any(|b| b == n))
    });
    before - tools.len()
}

/// Redacts credentials in every string of a response's `result` (text
/// content, structured content, resource contents); returns how many.
fn redact(message: &mut Value) -> usize {
    fn walk(v: &mut Value) -> usize {
        match v {
            Value::String(s) => {
                let (text, n) = credentials::redact(std::mem::take(s));
                *s = text;
                n
            }
            Value::Array(items) => items.iter_mut().map(walk).sum(),
            Value::Object(map) => map.values_mut().map(walk).sum(),
            _ => 0,
        }
    }
    message.get_mut("result").map(walk).unwrap_or(0)
}

fn count(state: &AppState, method: &str, decision: &str) {
    let method = match method {
        "tools/call" | "tools/list" | "resources/read" | "prompts/get" | "initialize" => method,
        "invalid" => "invalid",
        _ => "other",
    };
    state.metrics.mcp.decisions.with_label_values(&[method, decision]).inc();
}

fn now_ns() -> u64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
}

#[allow(clippy::too_many_arguments)]
async fn store(
    state: &AppState,
    auth: &Auth,
    input: &Input,
    method: &str,
    tool: Option<(&str, &str)>,
    (trace_id, span_id, parent_span_id): (Vec<u8>, Vec<u8>, Vec<u8>),
    started: u64,
    outcome: Outcome,
) {
    let mut attributes: Vec<(&'static str, Value)> = vec![
        ("strathon.source", json!("mcp_gateway")),
        ("strathon.mcp.method", json!(method)),
        ("strathon.mcp.decision", json!(outcome.decision)),
    ];
    if let Ok(url) = reqwest::Url::parse(&input.upstream_url) {
        attributes.push(("strathon.mcp.server", json!(url.host_str().unwrap_or_default())));
    }
    if let Some((name, args)) = tool {
        attributes.push(("gen_ai.tool.name", json!(name)));
        attributes.push(("strathon.tool.name", json!(name)));
        attributes.push(("strathon.tool.args", json!(args)));
    }
    if let Some(agent) = &input.agent_name {
        attributes.push(("gen_ai.agent.name", json!(agent)));
    }
    if let Some(state) = outcome.intervention {
        attributes.push(("strathon.agent.intervention.state", json!(state)));
    }
    attributes.extend(outcome.attributes);
    let record = Record {
        trace_id,
        span_id,
        parent_span_id,
        // What the policies saw as `name`, so ingest matches it the same way.
        name: tool
            .map(|(n, _)| n.to_owned())
            .unwrap_or_else(|| format!("mcp.{method}")),
        start_ns: started,
        end_ns: now_ns(),
        error: outcome.error,
        service: input.agent_name.clone().unwrap_or_else(|| "mcp_gateway".into()),
        attributes,
    };
    if let Err(e) = crate::ingest::pipeline::store(state, auth.project_id, record.request()).await {
        tracing::warn!(error = %e, "MCP gateway decision could not be recorded as a span");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_lose_blocked_tools_and_results_lose_credentials() {
        let mut list =
            json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "a"}, {"name": "rm"}, {"name": "b"}]}});
        assert_eq!(filter_tools(&mut list, &["rm".into()]), 1);
        assert_eq!(list["result"]["tools"], json!([{"name": "a"}, {"name": "b"}]));
        let mut result = json!({"jsonrpc": "2.0", "id": 2, "result": {
            "content": [{"type": "text", "text": "key AKIAIOSFODNN7EXAMPLE found"}],
            "structuredContent": {"token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
        }});
        assert_eq!(redact(&mut result), 2);
        assert_eq!(
            result["result"]["content"][0]["text"],
            "key [AWS ACCESS KEY ID_REDACTED] found"
        );
        assert_eq!(
            result["result"]["structuredContent"]["token"],
            "[GITHUB PERSONAL ACCESS TOKEN_REDACTED]"
        );
    }
}
