//! Building OTLP requests the way SDKs send them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;

pub fn now_ns() -> u64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
}

pub fn kv(key: &str, value: impl Into<Val>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(value.into().0),
        }),
        ..Default::default()
    }
}

pub struct Val(any_value::Value);

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val(any_value::Value::StringValue(s.into()))
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val(any_value::Value::StringValue(s))
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val(any_value::Value::IntValue(i))
    }
}
impl From<f64> for Val {
    fn from(f: f64) -> Self {
        Val(any_value::Value::DoubleValue(f))
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val(any_value::Value::BoolValue(b))
    }
}

/// A span builder with SDK-like defaults (INTERNAL, OK, 1 ms long, now).
pub struct SpanB(pub Span);

pub fn span(trace: u8, id: u8, name: &str) -> SpanB {
    let start = now_ns();
    SpanB(Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        status: Some(Status {
            code: status::StatusCode::Ok as i32,
            message: String::new(),
        }),
        ..Default::default()
    })
}

pub fn trace_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[15] = n;
    id
}

pub fn span_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xcd; 8];
    id[7] = n;
    id
}

impl SpanB {
    pub fn attr(mut self, key: &str, value: impl Into<Val>) -> Self {
        self.0.attributes.push(kv(key, value));
        self
    }
    pub fn parent(mut self, id: u8) -> Self {
        self.0.parent_span_id = span_id(id);
        self
    }
    pub fn error(mut self, message: &str) -> Self {
        self.0.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: message.into(),
        });
        self
    }
    pub fn start(mut self, ns: u64) -> Self {
        let len = self.0.end_time_unix_nano.saturating_sub(self.0.start_time_unix_nano);
        self.0.start_time_unix_nano = ns;
        self.0.end_time_unix_nano = ns + len;
        self
    }
    pub fn end(mut self, ns: u64) -> Self {
        self.0.end_time_unix_nano = ns;
        self
    }
    pub fn ids(mut self, trace: Vec<u8>, span: Vec<u8>) -> Self {
        self.0.trace_id = trace;
        self.0.span_id = span;
        self
    }
}

pub fn request(service: &str, spans: Vec<SpanB>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("deployment.environment", "test"),
                    kv("telemetry.sdk.language", "python"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "strathon".into(),
                    version: "1.4.0".into(),
                    ..Default::default()
                }),
                spans: spans.into_iter().map(|s| s.0).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn protobuf(req: &ExportTraceServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}
