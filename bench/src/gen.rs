//! SDK-shaped span batches.
//!
//! A batch looks like one flush of the published SDK's `BatchSpanProcessor`
//! from a LangGraph agent: several whole agent runs (traces), each a root
//! `langgraph.chain.*` span, node chain spans, LLM calls (`openai.chat.*`,
//! `anthropic.messages.*`, `langgraph.llm`) with `gen_ai.*` model, prompt
//! and token attributes, tool spans with `strathon.tool.*` arguments (JSON)
//! and output, the odd retriever span and, now and then, a blocked
//! intervention span (status ERROR).
//!
//! Batches are built once as templates whose ids are unmistakable marker
//! bytes; sending a batch copies the encoded template and overwrites the
//! markers with fresh ids, so the generator spends its CPU on the network,
//! not on protobuf encoding. The same templates also yield the stored rows
//! (denormalized the way the receiver does it) for the raw COPY baseline.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use serde_json::{json, Map, Value};

/// A small deterministic PRNG (SplitMix64); the content only has to vary.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

const WORDS: &[&str] = &[
    "the",
    "customer",
    "order",
    "refund",
    "shipment",
    "account",
    "please",
    "check",
    "status",
    "of",
    "latest",
    "invoice",
    "and",
    "summarize",
    "policy",
    "for",
    "delivery",
    "delayed",
    "warehouse",
    "tracking",
    "number",
    "issue",
    "resolved",
    "escalate",
    "to",
    "support",
    "team",
    "within",
    "hours",
    "product",
    "replacement",
    "available",
    "stock",
    "region",
    "europe",
    "billing",
    "address",
    "updated",
    "confirm",
    "payment",
    "method",
    "subscription",
    "renewal",
    "plan",
    "upgrade",
    "discount",
    "applied",
    "ticket",
    "priority",
    "agent",
    "handoff",
    "response",
    "draft",
    "email",
    "reply",
    "tone",
    "friendly",
    "concise",
    "next",
    "steps",
    "documentation",
    "retrieved",
    "context",
    "relevant",
    "passages",
    "answer",
    "question",
    "user",
    "asked",
];

fn sentence(rng: &mut Rng, min: u64, max: u64) -> String {
    let chars = rng.range(min, max) as usize;
    let mut s = String::with_capacity(chars + 16);
    while s.len() < chars {
        if !s.is_empty() {
            s.push(if rng.chance(8) { '.' } else { ' ' });
            if s.ends_with('.') {
                s.push(' ');
            }
        }
        s.push_str(rng.pick(WORDS));
    }
    s
}

/// An attribute value as the Python SDK sends it.
#[derive(Debug, Clone)]
pub enum Val {
    Str(String),
    Int(i64),
    F64(f64),
    Bool(bool),
}

impl Val {
    fn otlp(&self) -> any_value::Value {
        match self {
            Val::Str(s) => any_value::Value::StringValue(s.clone()),
            Val::Int(i) => any_value::Value::IntValue(*i),
            Val::F64(f) => any_value::Value::DoubleValue(*f),
            Val::Bool(b) => any_value::Value::BoolValue(*b),
        }
    }
    pub fn json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::Int(i) => json!(i),
            Val::F64(f) => json!(f),
            Val::Bool(b) => json!(b),
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Str(s.into())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Str(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}
impl From<f64> for Val {
    fn from(f: f64) -> Self {
        Val::F64(f)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val::Bool(b)
    }
}

/// One span of a template, before ids are assigned.
#[derive(Debug, Clone)]
pub struct SpanSpec {
    pub trace: u16,
    pub index: u16,
    pub parent: Option<u16>,
    pub name: String,
    pub start: i64,
    pub end: i64,
    pub error: Option<String>,
    pub attrs: Vec<(&'static str, Val)>,
}

impl SpanSpec {
    fn get(&self, key: &str) -> Option<&Val> {
        self.attrs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    fn text(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Val::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }
    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Val::Int(i)) => Some(*i),
            _ => None,
        }
    }
}

pub const SERVICE_NAME: &str = "support-agent";

fn resource_attrs() -> Vec<(&'static str, Val)> {
    vec![
        ("service.name", SERVICE_NAME.into()),
        ("deployment.environment", "production".into()),
        ("telemetry.sdk.language", "python".into()),
        ("telemetry.sdk.name", "opentelemetry".into()),
        ("telemetry.sdk.version", "1.45.0".into()),
    ]
}

/// USD per token in units of 1e-8 USD (exact), for the models used here;
/// the receiver's catalog has the same prices.
fn price(model: &str) -> Option<(i64, i64)> {
    match model {
        "gpt-4o" => Some((250, 1000)),
        "gpt-4o-mini" => Some((15, 60)),
        "claude-3-5-sonnet-20241022" => Some((300, 1500)),
        _ => None,
    }
}

const TOOLS: &[&str] = &[
    "search_web",
    "lookup_order",
    "get_weather",
    "send_email",
    "query_database",
    "read_file",
];
const NODES: &[&str] = &["planner", "agent", "tools", "reviewer", "responder"];

struct TraceCtx {
    trace: u16,
    run_id: String,
    conversation: String,
    workflow: &'static str,
    clock: i64,
}

fn common(t: &TraceCtx, node: &str, step: i64) -> Vec<(&'static str, Val)> {
    vec![
        ("strathon.framework", "langgraph".into()),
        ("strathon.agent.name", SERVICE_NAME.into()),
        ("langgraph.run_id", t.run_id.clone().into()),
        ("langgraph.node.name", node.to_string().into()),
        ("langgraph.step", step.into()),
        ("langgraph.tags", format!("graph:step:{step},seq:{node}").into()),
        ("gen_ai.conversation.id", t.conversation.clone().into()),
    ]
}

fn llm_span(rng: &mut Rng, t: &mut TraceCtx, index: u16, parent: u16, node: &str, step: i64) -> SpanSpec {
    let (name, provider, model) = match rng.range(0, 9) {
        0..=3 => ("openai.chat.gpt-4o".to_string(), "openai", "gpt-4o"),
        4..=6 => ("langgraph.llm".to_string(), "openai", "gpt-4o-mini"),
        _ => (
            "anthropic.messages.claude-3-5-sonnet-20241022".to_string(),
            "anthropic",
            "claude-3-5-sonnet-20241022",
        ),
    };
    let input = rng.range(400, 4000) as i64;
    let output = rng.range(40, 900) as i64;
    let start = t.clock;
    let end = start + rng.range(300, 3000) as i64 * 1_000_000;
    t.clock = end + 1_000_000;
    let mut attrs = common(t, node, step);
    attrs.extend([
        ("gen_ai.operation.name", "chat".into()),
        ("gen_ai.provider.name", provider.into()),
        ("gen_ai.request.model", model.into()),
        ("gen_ai.response.model", format!("{model}-2024").into()),
        ("gen_ai.request.temperature", 0.2.into()),
        ("gen_ai.request.max_tokens", 1024i64.into()),
        ("gen_ai.prompt", sentence(rng, 600, 1800).into()),
        ("gen_ai.completion", sentence(rng, 150, 700).into()),
        ("gen_ai.prompt.message_count", (rng.range(2, 12) as i64).into()),
        ("gen_ai.response.id", format!("chatcmpl-{:016x}", rng.next_u64()).into()),
        ("gen_ai.response.finish_reason", "stop".into()),
        ("gen_ai.request.tool_names", TOOLS[..4].join(",").into()),
        ("gen_ai.usage.input_tokens", input.into()),
        ("gen_ai.usage.output_tokens", output.into()),
        ("gen_ai.usage.total_tokens", (input + output).into()),
        ("gen_ai.usage.cache_read.input_tokens", (input / 4).into()),
        ("strathon.llm.call_type", "chat".into()),
        (
            "strathon.llm.call_id",
            format!("{:032x}", u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())).into(),
        ),
    ]);
    SpanSpec {
        trace: t.trace,
        index,
        parent: Some(parent),
        name,
        start,
        end,
        error: None,
        attrs,
    }
}

fn tool_span(rng: &mut Rng, t: &mut TraceCtx, index: u16, parent: u16, node: &str, step: i64) -> SpanSpec {
    let tool = rng.pick(TOOLS);
    let args = json!({
        "query": sentence(rng, 30, 120),
        "max_results": rng.range(1, 10),
        "filters": {"region": "eu", "since_days": rng.range(1, 90)},
    });
    let start = t.clock;
    let duration_ms = rng.range(5, 500) as i64;
    let end = start + duration_ms * 1_000_000;
    t.clock = end + 1_000_000;
    let mut attrs = common(t, node, step);
    attrs.extend([
        ("gen_ai.tool.name", tool.into()),
        ("strathon.tool.name", tool.into()),
        ("strathon.tool.args", args.to_string().into()),
        ("strathon.tool.output", sentence(rng, 120, 800).into()),
        ("strathon.tool.duration_ms", duration_ms.into()),
        ("strathon.tool.class", "StructuredTool".into()),
        ("strathon.tool.run_attempts", 1i64.into()),
        ("strathon.tool.from_cache", false.into()),
    ]);
    SpanSpec {
        trace: t.trace,
        index,
        parent: Some(parent),
        name: format!("langgraph.tool.{tool}"),
        start,
        end,
        error: None,
        attrs,
    }
}

fn blocked_span(rng: &mut Rng, t: &mut TraceCtx, index: u16, parent: u16, node: &str, step: i64) -> SpanSpec {
    let mut span = tool_span(rng, t, index, parent, node, step);
    span.name = "tool.send_email".into();
    span.end = span.start;
    span.attrs
        .retain(|(k, _)| !k.starts_with("strathon.tool.") || *k == "strathon.tool.args");
    span.attrs.extend([
        ("strathon.tool.name", "send_email".into()),
        ("strathon.agent.intervention.state", "blocked".into()),
        ("strathon.policy.blocked", true.into()),
        ("strathon.policy.id", "3f1f4c36-3a47-4c55-9d0c-2a1b7f8e9d01".into()),
        ("strathon.policy.name", "no-external-email".into()),
        (
            "strathon.policy.message",
            "Sending email outside the company domain is blocked".into(),
        ),
        ("strathon.project.environment", "production".into()),
    ]);
    span.error = Some("blocked by policy no-external-email".into());
    span
}

fn retriever_span(rng: &mut Rng, t: &mut TraceCtx, index: u16, parent: u16, node: &str, step: i64) -> SpanSpec {
    let start = t.clock;
    let end = start + rng.range(20, 200) as i64 * 1_000_000;
    t.clock = end + 1_000_000;
    let mut attrs = common(t, node, step);
    attrs.extend([
        ("strathon.retriever.name", "kb_docs".into()),
        ("strathon.retriever.query", sentence(rng, 40, 160).into()),
        ("strathon.retriever.doc_count", (rng.range(1, 8) as i64).into()),
    ]);
    SpanSpec {
        trace: t.trace,
        index,
        parent: Some(parent),
        name: "langgraph.retriever.kb_docs".into(),
        start,
        end,
        error: None,
        attrs,
    }
}

fn chain_span(rng: &mut Rng, t: &TraceCtx, index: u16, parent: Option<u16>, name: &str, step: i64) -> SpanSpec {
    let mut attrs = common(t, name, step);
    attrs.extend([
        ("langgraph.chain.name", name.to_string().into()),
        (
            "langgraph.chain.inputs",
            json!({"messages": [sentence(rng, 80, 300)], "step": step})
                .to_string()
                .into(),
        ),
        (
            "langgraph.chain.outputs",
            json!({"messages": [sentence(rng, 60, 250)]}).to_string().into(),
        ),
        ("gen_ai.workflow.name", t.workflow.into()),
        ("gen_ai.agent.name", SERVICE_NAME.into()),
        ("gen_ai.operation.name", "agent_call".into()),
    ]);
    SpanSpec {
        trace: t.trace,
        index,
        parent,
        name: format!("langgraph.chain.{name}"),
        start: t.clock,
        end: t.clock,
        error: None,
        attrs,
    }
}

/// Builds the spans of one batch: whole traces of 8-30 spans until
/// `spans` are reached (the last trace is cut to fit).
pub fn batch_specs(rng: &mut Rng, spans: usize, now_ns: i64) -> Vec<SpanSpec> {
    let mut out: Vec<SpanSpec> = Vec::with_capacity(spans);
    let mut trace: u16 = 0;
    while out.len() < spans {
        let size = (rng.range(8, 30) as usize).min(spans - out.len());
        let mut t = TraceCtx {
            trace,
            run_id: format!("{:032x}", u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())),
            conversation: format!("conv-{:012x}", rng.next_u64() >> 16),
            workflow: rng.pick(&["customer_support", "order_triage", "refund_flow"]),
            // Finished within the last few minutes, so it lies in a month
            // whose partition exists.
            clock: now_ns - rng.range(60, 240) as i64 * 1_000_000_000,
        };
        let root = out.len() as u16;
        let root_pos = out.len();
        out.push(chain_span(rng, &t, root, None, t.workflow, 0));
        t.clock += 2_000_000;
        let mut node_idx = root;
        let mut step = 0i64;
        let mut in_node = 0;
        let mut blocked = false;
        while out.len() - root_pos < size {
            let index = out.len() as u16;
            if in_node == 0 {
                step += 1;
                let node = NODES[(step as usize - 1) % NODES.len()];
                let s = chain_span(rng, &t, index, Some(root), node, step);
                node_idx = index;
                out.push(s);
                in_node = rng.range(2, 4);
                t.clock += 1_000_000;
                continue;
            }
            let node = NODES[(step as usize - 1) % NODES.len()];
            let s = match rng.range(0, 19) {
                0..=8 => llm_span(rng, &mut t, index, node_idx, node, step),
                9..=16 => tool_span(rng, &mut t, index, node_idx, node, step),
                17 if !blocked && trace.is_multiple_of(3) => {
                    blocked = true;
                    blocked_span(rng, &mut t, index, node_idx, node, step)
                }
                _ => retriever_span(rng, &mut t, index, node_idx, node, step),
            };
            out.push(s);
            in_node -= 1;
            if in_node == 0 {
                // The node span ends after its children.
                out[node_idx as usize].end = t.clock;
            }
        }
        let last = t.clock;
        if node_idx != root && out[node_idx as usize].end <= out[node_idx as usize].start {
            out[node_idx as usize].end = last;
        }
        out[root as usize].end = last + 1_000_000;
        trace += 1;
    }
    out
}

/// Marker ids: bytes 0xFE/0xFF never occur in UTF-8 text, and the rest of
/// the pattern makes an accidental match in numbers practically impossible.
fn trace_marker(t: u16) -> [u8; 16] {
    let [hi, lo] = t.to_be_bytes();
    [
        0xFE, 0xFF, 0xA5, 0x5A, 0xFE, 0xFF, hi, lo, 0xC3, 0x3C, 0xFE, 0xFF, 0x96, 0x69, hi, lo,
    ]
}

fn span_marker(s: u16) -> [u8; 8] {
    let [hi, lo] = s.to_be_bytes();
    [0xFF, 0xFE, 0x5A, 0xA5, hi, lo, 0xFF, 0xFE]
}

/// Fresh ids for batch number `seq` of this process (`nonce` tells
/// processes apart): unique trace ids everywhere, unique span ids within a
/// run.
pub fn trace_id(nonce: u32, seq: u64, t: u16) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&nonce.to_be_bytes());
    id[4..12].copy_from_slice(&seq.to_be_bytes());
    id[14..].copy_from_slice(&t.to_be_bytes());
    id
}

pub fn span_id(seq: u64, s: u16) -> [u8; 8] {
    let mut id = [0u8; 8];
    id[..6].copy_from_slice(&seq.to_be_bytes()[2..]);
    id[6..].copy_from_slice(&s.to_be_bytes());
    id
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Trace(u16),
    Span(u16),
}

/// A span row as the receiver would store it, minus the ids.
pub struct RowTemplate {
    pub trace: u16,
    pub index: u16,
    pub parent: Option<u16>,
    pub start: i64,
    pub end: i64,
    pub name: String,
    pub status_code: &'static str,
    pub status_message: Option<String>,
    pub operation_name: Option<String>,
    pub provider_name: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub workflow_name: Option<String>,
    pub conversation_id: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Postgres binary `numeric` for cost_usd.
    pub cost: Option<Vec<u8>>,
    pub intervention_state: Option<String>,
    /// Postgres binary `jsonb` (version byte + text) for attributes.
    pub attributes: Vec<u8>,
}

/// A trace row as the rollup leaves it, minus the id.
pub struct TraceTemplate {
    pub start: i64,
    pub end: i64,
    pub agent_name: Option<String>,
    pub workflow_name: Option<String>,
    pub cost: Option<Vec<u8>>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub span_count: i32,
    pub intervention_state: &'static str,
}

pub struct Template {
    body: Vec<u8>,
    slots: Vec<(usize, Slot)>,
    pub spans: usize,
    pub rows: Vec<RowTemplate>,
    pub traces: Vec<TraceTemplate>,
}

impl Template {
    pub fn build(seed: u64, spans: usize, now_ns: i64) -> anyhow::Result<Template> {
        let mut rng = Rng::new(seed);
        let specs = batch_specs(&mut rng, spans, now_ns);
        let request = request(&specs);
        let body = request.encode_to_vec();

        let mut slots = Vec::new();
        let traces = specs.iter().map(|s| s.trace).max().map_or(0, |t| t + 1);
        for t in 0..traces {
            slots.extend(find(&body, &trace_marker(t)).map(|at| (at, Slot::Trace(t))));
        }
        for s in 0..specs.len() as u16 {
            slots.extend(find(&body, &span_marker(s)).map(|at| (at, Slot::Span(s))));
        }
        let expected = specs.len() * 2 + specs.iter().filter(|s| s.parent.is_some()).count();
        anyhow::ensure!(
            slots.len() == expected,
            "template ids: found {} marker slots, expected {expected}",
            slots.len()
        );

        let rows: Vec<RowTemplate> = specs.iter().map(row).collect();
        let traces = (0..traces).map(|t| rollup(&rows, t)).collect();
        Ok(Template {
            body,
            slots,
            spans: specs.len(),
            rows,
            traces,
        })
    }

    pub fn encoded_len(&self) -> usize {
        self.body.len()
    }

    /// The encoded request with the ids of batch `seq`.
    pub fn instantiate(&self, nonce: u32, seq: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        for (at, slot) in &self.slots {
            match *slot {
                Slot::Trace(t) => body[*at..*at + 16].copy_from_slice(&trace_id(nonce, seq, t)),
                Slot::Span(s) => body[*at..*at + 8].copy_from_slice(&span_id(seq, s)),
            }
        }
        body
    }
}

fn find<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

fn kv(key: &str, value: &Val) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(value.otlp()),
        }),
        ..Default::default()
    }
}

fn request(specs: &[SpanSpec]) -> ExportTraceServiceRequest {
    let spans = specs
        .iter()
        .map(|s| Span {
            trace_id: trace_marker(s.trace).to_vec(),
            span_id: span_marker(s.index).to_vec(),
            parent_span_id: s.parent.map(|p| span_marker(p).to_vec()).unwrap_or_default(),
            name: s.name.clone(),
            kind: 1,
            start_time_unix_nano: s.start as u64,
            end_time_unix_nano: s.end as u64,
            attributes: s.attrs.iter().map(|(k, v)| kv(k, v)).collect(),
            status: Some(match &s.error {
                Some(m) => Status {
                    code: status::StatusCode::Error as i32,
                    message: m.clone(),
                },
                None => Status {
                    code: status::StatusCode::Ok as i32,
                    message: String::new(),
                },
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attrs().iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "strathon".into(),
                    version: "1.4.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Postgres binary `numeric` for `units` × 1e-8 (non-negative).
pub fn numeric_1e8(units: i64) -> Vec<u8> {
    assert!(units >= 0, "costs are never negative");
    let int = units / 100_000_000;
    let frac = units % 100_000_000;
    let mut groups = Vec::new();
    let mut i = int;
    while i > 0 {
        groups.insert(0, (i % 10_000) as i16);
        i /= 10_000;
    }
    let mut weight = groups.len() as i16 - 1;
    groups.push((frac / 10_000) as i16);
    groups.push((frac % 10_000) as i16);
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&8u16.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

fn jsonb(value: &Value) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(value.to_string().as_bytes());
    out
}

/// The receiver's denormalization (§2.4 step 10), without redaction.
fn row(s: &SpanSpec) -> RowTemplate {
    let mut merged: Map<String, Value> = resource_attrs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.json()))
        .collect();
    for (k, v) in &s.attrs {
        merged.insert(k.to_string(), v.json());
    }
    let request_model = s.text("gen_ai.request.model");
    let input_tokens = s.int("gen_ai.usage.input_tokens");
    let output_tokens = s.int("gen_ai.usage.output_tokens");
    let cost_units = request_model
        .as_deref()
        .and_then(price)
        .map(|(i, o)| i * input_tokens.unwrap_or(0) + o * output_tokens.unwrap_or(0));
    if let Some(units) = cost_units {
        merged.insert("gen_ai.usage.cost".into(), json!(units as f64 / 1e8));
    }
    RowTemplate {
        trace: s.trace,
        index: s.index,
        parent: s.parent,
        start: s.start,
        end: s.end,
        name: s.name.clone(),
        status_code: if s.error.is_some() { "ERROR" } else { "OK" },
        status_message: s.error.clone(),
        operation_name: s.text("gen_ai.operation.name"),
        provider_name: s.text("gen_ai.provider.name").or_else(|| s.text("gen_ai.system")),
        request_model,
        response_model: s.text("gen_ai.response.model"),
        agent_name: s
            .text("gen_ai.agent.name")
            .or_else(|| s.text("strathon.agent.name"))
            .or_else(|| Some(SERVICE_NAME.into())),
        agent_id: s.text("gen_ai.agent.id").or_else(|| s.text("strathon.agent.id")),
        tool_name: s.text("gen_ai.tool.name"),
        workflow_name: s.text("gen_ai.workflow.name"),
        conversation_id: s.text("gen_ai.conversation.id"),
        input_tokens,
        output_tokens,
        cost: cost_units.map(numeric_1e8),
        intervention_state: s.text("strathon.agent.intervention.state"),
        attributes: jsonb(&Value::Object(merged)),
    }
}

fn rollup(rows: &[RowTemplate], t: u16) -> TraceTemplate {
    let mine: Vec<&RowTemplate> = rows.iter().filter(|r| r.trace == t).collect();
    let cost: i64 = mine
        .iter()
        .filter_map(|r| {
            let model = r.request_model.as_deref()?;
            let (i, o) = price(model)?;
            Some(i * r.input_tokens.unwrap_or(0) + o * r.output_tokens.unwrap_or(0))
        })
        .sum();
    let halted = mine.iter().any(|r| {
        r.intervention_state
            .as_deref()
            .is_some_and(|s| s != "running" && s != "approval_granted")
    });
    TraceTemplate {
        start: mine.iter().map(|r| r.start).min().unwrap_or_default(),
        end: mine.iter().map(|r| r.end).max().unwrap_or_default(),
        agent_name: mine.iter().filter_map(|r| r.agent_name.clone()).min(),
        workflow_name: mine.iter().filter_map(|r| r.workflow_name.clone()).min(),
        cost: (cost > 0).then(|| numeric_1e8(cost)),
        input_tokens: mine.iter().filter_map(|r| r.input_tokens).sum(),
        output_tokens: mine.iter().filter_map(|r| r.output_tokens).sum(),
        span_count: mine.len() as i32,
        intervention_state: if halted { "halted" } else { "running" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_every_id_slot_and_realistic_attributes() {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let t = Template::build(7, 100, now).unwrap();
        assert_eq!(t.spans, 100);
        let a = t.instantiate(1, 1);
        let b = t.instantiate(1, 2);
        assert_ne!(a, b);
        let req = ExportTraceServiceRequest::decode(a.as_slice()).unwrap();
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 100);
        let ids: std::collections::HashSet<_> = spans.iter().map(|s| (s.trace_id.clone(), s.span_id.clone())).collect();
        assert_eq!(ids.len(), 100);
        for s in spans {
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano, "{}", s.name);
            assert!(
                (10..=30).contains(&s.attributes.len()),
                "{}: {}",
                s.name,
                s.attributes.len()
            );
            if !s.parent_span_id.is_empty() {
                assert!(spans
                    .iter()
                    .any(|p| p.span_id == s.parent_span_id && p.trace_id == s.trace_id));
            }
        }
    }

    #[test]
    fn numeric_encoding() {
        assert_eq!(numeric_1e8(0), vec![0, 0, 0, 0, 0, 0, 0, 8]);
        // 0.00375 = 0.0037 5000 -> digits [37, 5000], weight -1
        assert_eq!(numeric_1e8(375_000), vec![0, 2, 255, 255, 0, 0, 0, 8, 0, 37, 19, 136]);
        // 12.5 -> [12, 5000], weight 0
        assert_eq!(numeric_1e8(1_250_000_000), vec![0, 2, 0, 0, 0, 0, 0, 8, 0, 12, 19, 136]);
    }
}
