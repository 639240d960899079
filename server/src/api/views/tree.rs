//! A trace's spans as a tree, always with a single root so tree printers
//! (the CLI's `traces tree`) can walk it: several top-level spans hang
//! under a synthetic root that represents the trace itself.

use std::collections::HashMap;

use serde_json::{json, Value};
use strathon_schema::spans::Span;

use crate::api::params::iso;

fn node(s: &Span, children: Vec<Value>) -> Value {
    let duration_ms = s
        .end_time_unix_nano
        .map(|e| ((e - s.start_time_unix_nano) as f64 / 1e4).round() / 100.0);
    json!({
        "span_id": hex::encode(&s.span_id),
        "parent_span_id": s.parent_span_id.as_ref().map(hex::encode),
        "name": s.name,
        "kind": s.kind,
        "start_time": iso(s.start_time_unix_nano),
        "end_time": s.end_time_unix_nano.map(iso),
        "duration_ms": duration_ms,
        "status_code": s.status_code,
        "agent_name": s.agent_name,
        "tool_name": s.tool_name,
        "request_model": s.request_model,
        "operation_name": s.operation_name,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": s.cost_usd.as_ref().map(|c| c.normalized().to_plain_string()),
        "intervention_state": s.intervention_state,
        "children": children,
    })
}

/// `spans` in start order. A span whose parent is not stored counts as a root.
pub fn build(spans: &[Span], trace_name: Option<&str>) -> Value {
    let ids: HashMap<&[u8], usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_slice(), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s
            .parent_span_id
            .as_deref()
            .and_then(|p| ids.get(p))
            .filter(|p| **p != i)
        {
            Some(parent) => children.entry(*parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    // Recursion is capped at 256 levels so a deep trace cannot overflow the
    // stack; deeper spans are left out of the tree (the span list has them).
    fn assemble(i: usize, spans: &[Span], children: &HashMap<usize, Vec<usize>>, depth: usize) -> Value {
        let kids = if depth > 256 {
            Vec::new()
        } else {
            children
                .get(&i)
                .map(|k| k.iter().map(|c| assemble(*c, spans, children, depth + 1)).collect())
                .unwrap_or_default()
        };
        node(&spans[i], kids)
    }
    match roots.as_slice() {
        [] => Value::Null,
        [only] => assemble(*only, spans, &children, 0),
        many => {
            let start = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap_or(0);
            let end = spans.iter().filter_map(|s| s.end_time_unix_nano).max();
            json!({
                "span_id": null,
                "parent_span_id": null,
                "name": trace_name.unwrap_or("trace"),
                "kind": "INTERNAL",
                "synthetic": true,
                "start_time": iso(start),
                "end_time": end.map(iso),
                "duration_ms": end.map(|e| ((e - start) as f64 / 1e4).round() / 100.0),
                "status_code": null,
                "agent_name": spans[many[0]].agent_name,
                "tool_name": null,
                "request_model": null,
                "operation_name": null,
                "input_tokens": null,
                "output_tokens": null,
                "cost_usd": null,
                "intervention_state": null,
                "children": many.iter().map(|r| assemble(*r, spans, &children, 0)).collect::<Vec<_>>(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, parent: Option<u8>, start: i64) -> Span {
        Span {
            project_id: uuid::Uuid::nil(),
            start_time_unix_nano: start,
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]),
            name: format!("span-{id}"),
            kind: "INTERNAL".into(),
            end_time_unix_nano: Some(start + 2_500_000),
            status_code: Some("OK".into()),
            status_message: None,
            operation_name: None,
            provider_name: None,
            request_model: None,
            response_model: None,
            agent_name: Some("agent".into()),
            agent_id: None,
            tool_name: None,
            workflow_name: None,
            conversation_id: None,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            intervention_state: None,
            attributes: json!({}),
        }
    }

    #[test]
    fn one_root_nests_children_in_start_order() {
        let tree = build(
            &[
                span(1, None, 0),
                span(2, Some(1), 10),
                span(3, Some(1), 20),
                span(4, Some(2), 30),
            ],
            None,
        );
        assert_eq!(tree["name"], "span-1");
        assert_eq!(tree["duration_ms"], 2.5);
        assert_eq!(tree["children"][0]["name"], "span-2");
        assert_eq!(tree["children"][1]["name"], "span-3");
        assert_eq!(tree["children"][0]["children"][0]["name"], "span-4");
    }

    #[test]
    fn several_roots_get_a_synthetic_parent_and_orphans_count_as_roots() {
        let tree = build(&[span(1, None, 0), span(2, Some(9), 10)], Some("checkout"));
        assert_eq!(tree["synthetic"], true);
        assert_eq!(tree["name"], "checkout");
        assert_eq!(tree["children"].as_array().unwrap().len(), 2);
        assert_eq!(build(&[], None), Value::Null);
    }
}
