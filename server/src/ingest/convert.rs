//! OTLP spans → stored rows: attribute decoding, validation, heartbeats,
//! cost, sampling, redaction and the denormalized columns. Pure: no I/O.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use bigdecimal::{BigDecimal, ToPrimitive as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Map, Number, Value};
use strathon_actors::heartbeats::Beat;
use strathon_schema::ingest::{ApprovalRow, MatchRow, SpanRow};
use uuid::Uuid;

use super::pricing::{self, Prices};
use super::redaction::{self, RedactionConfig};
use super::sampling::{self, Verdict};
use crate::policy::{self, CompiledPolicy};

pub const HEARTBEAT_SPAN: &str = "strathon.heartbeat";

/// What conversion needs to know about the project and the moment.
pub struct Context<'a> {
    pub project_id: Uuid,
    pub sampling_rate: f64,
    /// Start times outside `[accept_from, accept_until)` ns are rejected:
    /// the months the partition maintainer guarantees to exist.
    pub accept_from: i64,
    pub accept_until: i64,
    pub prices: &'a Prices,
    pub redaction: &'a RedactionConfig,
    pub policies: &'a [CompiledPolicy],
    pub now: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Default)]
pub struct Converted {
    pub rows: Vec<SpanRow>,
    pub received: usize,
    pub sampled_out: usize,
    pub force_kept: usize,
    /// Rejection reasons with their counts.
    pub rejected: BTreeMap<&'static str, usize>,
    pub heartbeats: Vec<Beat>,
    /// (model, USD) for each span with a positive cost.
    pub costs: Vec<(String, f64)>,
    pub unknown_model: usize,
    pub matches: Vec<MatchRow>,
    pub approvals: Vec<ApprovalRow>,
}

impl Converted {
    pub fn rejected_count(&self) -> usize {
        self.rejected.values().sum()
    }

    /// One line for `partial_success.error_message`.
    pub fn rejection_message(&self) -> String {
        let parts: Vec<String> = self.rejected.iter().map(|(why, n)| format!("{n} with {why}")).collect();
        format!("rejected {} span(s): {}", self.rejected_count(), parts.join("; "))
    }
}

pub fn any_value(value: &AnyValue) -> Value {
    match &value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Number((*i).into()),
        Some(any_value::Value::DoubleValue(d)) => Number::from_f64(*d).map(Value::Number).unwrap_or(Value::Null),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(any_value).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(attributes(&kv.values)),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex::encode(b)),
        // Dictionary-encoded strings need a request-level table that
        // OTLP/HTTP trace exports do not carry.
        Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
    }
}

pub fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map(any_value).unwrap_or(Value::Null)))
        .collect()
}

/// Longest denormalized text kept in a column (the attribute keeps it all).
const MAX_COLUMN_CHARS: usize = 1024;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_COLUMN_CHARS) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Value::String(s) if !s.is_empty() => Some(clip(&s.replace('\0', ""))),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn integer(attrs: &Map<String, Value>, key: &str) -> Option<i64> {
    match attrs.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn decimal(value: &Value) -> Option<BigDecimal> {
    match value {
        Value::Number(n) => BigDecimal::from_str(&n.to_string()).ok(),
        Value::String(s) => BigDecimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

const KINDS: [&str; 6] = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"];

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

/// Why a span cannot be stored, if it cannot.
fn problem(span: &Span, ctx: &Context) -> Option<&'static str> {
    if !valid_id(&span.trace_id, 16) {
        return Some("an invalid trace_id");
    }
    if !valid_id(&span.span_id, 8) {
        return Some("an invalid span_id");
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Some("an invalid parent_span_id");
    }
    let Ok(start) = i64::try_from(span.start_time_unix_nano) else {
        return Some("a start time out of range");
    };
    if start == 0 || !(ctx.accept_from..ctx.accept_until).contains(&start) {
        return Some("a start time outside the accepted window");
    }
    match i64::try_from(span.end_time_unix_nano) {
        Err(_) => Some("an end time out of range"),
        Ok(end) if end != 0 && end < start => Some("an end time before its start time"),
        Ok(_) => None,
    }
}

/// Postgres text and jsonb cannot hold NUL; one such character anywhere
/// would fail the whole group commit, so it never reaches the writer.
fn scrub(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', ""), v))
                    .collect();
            }
            map.values_mut().for_each(scrub);
        }
        _ => {}
    }
}

pub fn convert(request: ExportTraceServiceRequest, ctx: &Context) -> Converted {
    let mut out = Converted::default();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                out.received += 1;
                if let Some(why) = problem(&span, ctx) {
                    *out.rejected.entry(why).or_default() += 1;
                    continue;
                }
                convert_span(span, &resource, ctx, &mut out);
            }
        }
    }
    out
}

fn convert_span(span: Span, resource: &Map<String, Value>, ctx: &Context, out: &mut Converted) {
    let span_attrs = attributes(&span.attributes);
    let mut merged = resource.clone();
    merged.extend(span_attrs.iter().map(|(k, v)| (k.clone(), v.clone())));

    if span.name == HEARTBEAT_SPAN {
        out.heartbeats.push(Beat {
            agent_name: text(&merged, "strathon.agent.name")
                .or_else(|| text(&merged, "gen_ai.agent.name"))
                .unwrap_or_else(|| "unknown".into()),
            code_hash: text(&merged, "strathon.sdk.code_hash"),
            sdk_version: text(&merged, "strathon.sdk.version"),
        });
        return;
    }

    let request_model = text(&span_attrs, "gen_ai.request.model");
    let input_tokens = integer(&span_attrs, "gen_ai.usage.input_tokens");
    let output_tokens = integer(&span_attrs, "gen_ai.usage.output_tokens");
    let cost = match span_attrs.get("strathon.agent.cost.usd") {
        Some(v) => decimal(v),
        None => request_model
            .as_deref()
            .and_then(|m| pricing::cost(m, input_tokens, output_tokens, ctx.prices)),
    };
    // A cost the columns cannot hold would fail the whole shared commit;
    // such a span is refused on its own instead.
    if cost.as_ref().is_some_and(|c| !pricing::storable(c)) {
        *out.rejected.entry("a cost out of range").or_default() += 1;
        return;
    }
    if let Some(c) = cost.as_ref().and_then(|c| c.to_f64()) {
        merged.insert(
            "gen_ai.usage.cost".into(),
            Number::from_f64(c).map(Value::Number).unwrap_or(Value::Null),
        );
        if c > 0.0 {
            if let Some(model) = &request_model {
                out.costs.push((model.clone(), c));
            }
        }
    } else if let Some(model) = &request_model {
        let has_tokens = input_tokens.unwrap_or(0) > 0 || output_tokens.unwrap_or(0) > 0;
        if has_tokens && !pricing::known(model, ctx.prices) {
            out.unknown_model += 1;
        }
    }

    // Policies see the attributes before redaction, cost included.
    let matched = policy::matching(ctx.policies, &span.name, &merged, ctx.now);
    if !matched.is_empty() {
        let ids: Vec<String> = matched.iter().map(|p| p.id.to_string()).collect();
        let mut actions: Vec<&str> = matched.iter().map(|p| p.action.as_str()).collect();
        actions.sort_unstable();
        actions.dedup();
        merged.insert("strathon.policy.matched_ids".into(), Value::String(ids.join(",")));
        merged.insert(
            "strathon.policy.matched_actions".into(),
            Value::String(actions.join(",")),
        );
    }

    let status = span.status.as_ref().map(|s| s.code).unwrap_or(0);
    let is_error = status == 2;
    match sampling::decide(ctx.sampling_rate, &span.trace_id, &merged, is_error) {
        Verdict::Drop => {
            out.sampled_out += 1;
            return;
        }
        Verdict::ForceKeep => out.force_kept += 1,
        Verdict::Keep => {}
    }

    // Postgres rejects NUL in text and jsonb, and one bad row fails the batch.
    let name = clip(&span.name.replace('\0', ""));
    // The MCP gateway asks for (and uses up) its own approvals; its spans
    // only record the decision.
    let gateway = merged.get("strathon.source").and_then(Value::as_str) == Some("mcp_gateway");
    for p in &matched {
        out.matches.push(MatchRow {
            project_id: ctx.project_id,
            policy_id: p.id,
            trace_id: span.trace_id.clone(),
            span_id: span.span_id.clone(),
            action: p.action.clone(),
            outcome: p.outcome(),
            metadata: serde_json::json!({ "span_name": name, "policy_name": p.name, "shadow": p.shadow }),
        });
        if p.action == "require_approval" && !p.shadow && !gateway {
            let config = |k: &str| p.action_config.get(k).and_then(Value::as_i64).filter(|n| *n > 0);
            out.approvals.push(ApprovalRow {
                project_id: ctx.project_id,
                policy_id: p.id,
                policy_name: p.name.clone(),
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                span_name: name.clone(),
                agent_name: text(&merged, "gen_ai.agent.name").or_else(|| text(&merged, "strathon.agent.name")),
                tool_name: text(&merged, "gen_ai.tool.name"),
                tool_args: text(&merged, "strathon.tool.args"),
                timeout_seconds: config("timeout_seconds")
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(300),
                approvers_required: config("approvers_required")
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(1),
            });
        }
    }

    redaction::redact(&mut merged, ctx.redaction);
    let mut attributes = Value::Object(merged);
    scrub(&mut attributes);

    let status_message = span.status.map(|s| s.message).filter(|m| !m.is_empty());
    out.rows.push(SpanRow {
        project_id: ctx.project_id,
        start_time_unix_nano: span.start_time_unix_nano as i64,
        trace_id: span.trace_id,
        span_id: span.span_id,
        parent_span_id: (!span.parent_span_id.is_empty()).then_some(span.parent_span_id),
        // Names feed the full-text index, which refuses huge values.
        name,
        kind: KINDS.get(span.kind as usize).copied().unwrap_or("UNSPECIFIED"),
        end_time_unix_nano: (span.end_time_unix_nano != 0).then_some(span.end_time_unix_nano as i64),
        status_code: ["UNSET", "OK", "ERROR"]
            .get(status as usize)
            .copied()
            .unwrap_or("UNSET"),
        status_message: status_message.map(|m| m.replace('\0', "")),
        operation_name: text(&span_attrs, "gen_ai.operation.name"),
        provider_name: text(&span_attrs, "gen_ai.provider.name").or_else(|| text(&span_attrs, "gen_ai.system")),
        request_model,
        response_model: text(&span_attrs, "gen_ai.response.model"),
        agent_name: text(&span_attrs, "gen_ai.agent.name")
            .or_else(|| text(&span_attrs, "strathon.agent.name"))
            .or_else(|| text(resource, "service.name")),
        agent_id: text(&span_attrs, "gen_ai.agent.id").or_else(|| text(&span_attrs, "strathon.agent.id")),
        tool_name: text(&span_attrs, "gen_ai.tool.name"),
        workflow_name: text(&span_attrs, "gen_ai.workflow.name"),
        conversation_id: text(&span_attrs, "gen_ai.conversation.id"),
        input_tokens,
        output_tokens,
        cost_usd: cost.map(|c| c.to_string()),
        intervention_state: text(&span_attrs, "strathon.agent.intervention.state"),
        attributes,
    });
}
