//! Helpers shared by the benchmark binaries (`strathon-dashboard-bench`,
//! `strathon-api-timing`, `strathon-big-trace`). `strathon-load` keeps its
//! own modules (`src/main.rs`).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// The well-known development key (`STRATHON_SEED_DEV_KEY=true`); it belongs
/// to the default project and has every scope.
pub const DEV_KEY: &str = "stra_dev_local_default_project_do_not_use_in_production";

/// Nearest-rank percentile (`p` in 0..=100) of an ascending slice: the
/// smallest value with at least `p` % of the values at or below it. NaN for
/// an empty slice (there is no such value).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Lower-case hex of an id.
pub fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One agent run of `n` spans, started a minute ago: a root, steps under it,
/// tool and model calls under each step, as a LangGraph run nests them.
/// Returns the trace id and the OTLP request that stores it.
pub fn big_trace(n: usize) -> (Vec<u8>, ExportTraceServiceRequest) {
    let trace_id = uuid::Uuid::new_v4().as_bytes().to_vec();
    let start = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64 - 60_000_000_000;
    let span_id = |i: usize| -> Vec<u8> { (i as u64 + 1).to_be_bytes().to_vec() };
    let spans = (0..n)
        .map(|i| {
            let parent = match i {
                0 => Vec::new(),
                i if i % 10 == 1 => span_id(0),
                i => span_id(i - (i - 1) % 10),
            };
            let begin = start + i as u64 * 20_000_000;
            let mut attributes = vec![text("gen_ai.agent.name", "bench-agent")];
            let name = if i == 0 {
                "langgraph.chain.bench".to_owned()
            } else if i % 10 == 1 {
                format!("langgraph.node.step_{i}")
            } else if i % 2 == 0 {
                attributes.push(text("gen_ai.tool.name", "search_orders"));
                attributes.push(text("strathon.tool.args", r#"{"order": 4711}"#));
                "langgraph.tool.search_orders".to_owned()
            } else {
                attributes.push(text("gen_ai.request.model", "gpt-4o-mini"));
                attributes.push(text("gen_ai.prompt", &"Summarise the order history. ".repeat(20)));
                "openai.chat.gpt-4o-mini".to_owned()
            };
            Span {
                trace_id: trace_id.clone(),
                span_id: span_id(i),
                parent_span_id: parent,
                name,
                kind: 1,
                start_time_unix_nano: begin,
                end_time_unix_nano: begin + if i == 0 { n as u64 * 20_000_000 } else { 15_000_000 },
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "bench-agent")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (trace_id, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn big_trace_nests_under_one_root() {
        let (id, request) = big_trace(500);
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 500);
        assert!(spans.iter().all(|s| s.trace_id == id));
        assert_eq!(spans.iter().filter(|s| s.parent_span_id.is_empty()).count(), 1);
    }
}
