//! Deterministic per-trace sampling: every span of a trace gets the same
//! verdict, and anything an operator must see is always kept.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Kept by an always-keep rule although the rate would have dropped it.
    ForceKeep,
    Drop,
}

const FLAGS: [&str; 6] = [
    "strathon.policy.blocked",
    "strathon.policy.throttled",
    "strathon.policy.steered",
    "strathon.policy.steer_attempted",
    "strathon.policy.approval_required",
    "strathon.policy.matched_ids",
];

/// Token count above which an LLM call is always kept (expensive calls matter).
const EXPENSIVE_TOKENS: i64 = 5000;

/// A number in [0, 1) derived from the trace id's last 8 bytes.
pub fn trace_fraction(trace_id: &[u8]) -> f64 {
    let mut tail = [0u8; 8];
    let n = trace_id.len().min(8);
    tail[8 - n..].copy_from_slice(&trace_id[trace_id.len() - n..]);
    (u64::from_be_bytes(tail) >> 11) as f64 / (1u64 << 53) as f64
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub fn must_keep(attrs: &Map<String, Value>, is_error: bool) -> bool {
    is_error
        || attrs
            .get("strathon.agent.intervention.state")
            .and_then(Value::as_str)
            .is_some_and(|s| s != "running")
        || FLAGS.iter().any(|f| attrs.get(*f).is_some_and(truthy))
        || attrs
            .get("gen_ai.usage.total_tokens")
            .and_then(Value::as_i64)
            .is_some_and(|t| t > EXPENSIVE_TOKENS)
}

pub fn decide(rate: f64, trace_id: &[u8], attrs: &Map<String, Value>, is_error: bool) -> Verdict {
    let sampled_in = rate >= 1.0 || trace_fraction(trace_id) < rate;
    match (sampled_in, must_keep(attrs, is_error)) {
        (true, _) => Verdict::Keep,
        (false, true) => Verdict::ForceKeep,
        (false, false) => Verdict::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn fraction_uses_the_last_eight_bytes() {
        assert_eq!(trace_fraction(&[0; 16]), 0.0);
        assert!((trace_fraction(&[0xff; 16]) - 1.0).abs() < 1e-9);
        let mut id = [0u8; 16];
        id[8] = 0x80;
        assert_eq!(trace_fraction(&id), 0.5);
        assert_eq!(trace_fraction(&[]), 0.0);
    }

    #[test]
    fn rate_zero_drops_ordinary_spans_but_keeps_what_matters() {
        let id = [0x42u8; 16];
        assert_eq!(decide(1.0, &id, &Map::new(), false), Verdict::Keep);
        assert_eq!(decide(0.0, &id, &Map::new(), false), Verdict::Drop);
        assert_eq!(decide(0.0, &id, &Map::new(), true), Verdict::ForceKeep);
        let blocked = attrs(json!({"strathon.agent.intervention.state": "blocked"}));
        assert_eq!(decide(0.0, &id, &blocked, false), Verdict::ForceKeep);
        let running = attrs(json!({"strathon.agent.intervention.state": "running"}));
        assert_eq!(decide(0.0, &id, &running, false), Verdict::Drop);
        let matched = attrs(json!({"strathon.policy.matched_ids": "p1"}));
        assert_eq!(decide(0.0, &id, &matched, false), Verdict::ForceKeep);
        let big = attrs(json!({"gen_ai.usage.total_tokens": 5001}));
        assert_eq!(decide(0.0, &id, &big, false), Verdict::ForceKeep);
    }

    #[test]
    fn a_trace_is_sampled_as_a_whole() {
        let mut low = [0u8; 16];
        low[15] = 1;
        let high = [0xffu8; 16];
        assert_eq!(decide(0.5, &low, &Map::new(), false), Verdict::Keep);
        assert_eq!(decide(0.5, &high, &Map::new(), false), Verdict::Drop);
    }
}
