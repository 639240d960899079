//! Each gateway decision as a span, built as an SDK would send it and stored
//! through ingest, so it shows in traces, search and the dashboard, is
//! redacted and matched like any other span, and counts toward budgets,
//! breakers and the detectors.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;

pub struct Record {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The status message of a span that ended in error.
    pub error: Option<String>,
    pub service: String,
    pub attributes: Vec<(&'static str, Value)>,
}

/// A W3C `traceparent` (`00-<trace>-<parent>-<flags>`), so the gateway's span
/// joins the caller's trace.
pub fn parse_traceparent(header: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = header.trim().split('-');
    let (_version, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
    let trace = hex::decode(trace)
        .ok()
        .filter(|t| t.len() == 16 && t.iter().any(|b| *b != 0))?;
    let parent = hex::decode(parent)
        .ok()
        .filter(|p| p.len() == 8 && p.iter().any(|b| *b != 0))?;
    Some((trace, parent))
}

/// A random trace (16 bytes) or span (8 bytes) id, from a v4 UUID's bytes.
pub fn random_id(len: usize) -> Vec<u8> {
    loop {
        let id = uuid::Uuid::new_v4().as_bytes()[..len.min(16)].to_vec();
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

fn any(value: &Value) -> Option<AnyValue> {
    let v = match value {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        Value::Null => return None,
        other => any_value::Value::StringValue(other.to_string()),
    };
    Some(AnyValue { value: Some(v) })
}

fn kv(key: &str, value: &Value) -> Option<KeyValue> {
    Some(KeyValue {
        key: key.to_owned(),
        value: Some(any(value)?),
        ..Default::default()
    })
}

impl Record {
    pub fn request(&self) -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: self.trace_id.clone(),
            span_id: self.span_id.clone(),
            parent_span_id: self.parent_span_id.clone(),
            name: self.name.clone(),
            // CLIENT: the gateway calls the upstream server on the agent's behalf.
            kind: 3,
            start_time_unix_nano: self.start_ns,
            end_time_unix_nano: self.end_ns.max(self.start_ns),
            attributes: self.attributes.iter().filter_map(|(k, v)| kv(k, v)).collect(),
            status: Some(match &self.error {
                Some(message) => Status {
                    code: status::StatusCode::Error as i32,
                    message: message.clone(),
                },
                None => Status {
                    code: status::StatusCode::Ok as i32,
                    message: String::new(),
                },
            }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: [("service.name", Value::String(self.service.clone()))]
                        .iter()
                        .filter_map(|(k, v)| kv(k, v))
                        .collect(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "strathon.mcp_gateway".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let (trace, parent) = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex::encode(trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(parent), "00f067aa0ba902b7");
        assert!(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(parse_traceparent("garbage").is_none());
        assert_eq!(random_id(8).len(), 8);
    }
}
