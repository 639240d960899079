//! How the MCP gateway decides a `tools/call`: the same first-decisive-match
//! rule the SDK applies at the tool boundary (contract §7.5), over the
//! receiver's three-valued evaluation (§7.3), failing closed.
//!
//! Policies are walked in evaluation order (priority, then name), shadow
//! ones skipped. `block`, `steer`, `require_approval` and `allow` decide;
//! `throttle` decides only when its bucket is empty (the caller checks the
//! bucket, which lives in the database); `log` and `alert` never decide. So
//! a higher-priority `log` match no longer lets a call past a lower `block`
//! (the original's quirk 14). An enforcing policy (`block`, `throttle`,
//! `require_approval`) that cannot be evaluated before a decision is
//! reached blocks the call, as does a set where every candidate errors.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::cel::{self, Outcome};
use super::{applies_to, CompiledPolicy};

/// One step of the walk.
pub enum Step<'a> {
    /// This policy decides (block, steer, require_approval, allow).
    Decide(&'a CompiledPolicy),
    /// A throttle matched: it decides only if its bucket is empty.
    Throttle(&'a CompiledPolicy),
}

/// The outcome of evaluating the policies against one call.
pub enum Evaluation<'a> {
    /// The decisive candidates in order (throttles, then at most one
    /// deciding policy), and the observing matches (log, alert) met on the way.
    Steps {
        steps: Vec<Step<'a>>,
        observed: Vec<&'a CompiledPolicy>,
    },
    /// Evaluation failed where it mattered: the call must be refused.
    Unavailable { policy: Option<&'a CompiledPolicy> },
}

fn enforcing(action: &str) -> bool {
    matches!(action, "block" | "throttle" | "require_approval")
}

pub fn evaluate<'a>(
    policies: &'a [CompiledPolicy],
    name: &str,
    attrs: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Evaluation<'a> {
    let candidates: Vec<&CompiledPolicy> = policies
        .iter()
        .filter(|p| !p.shadow && applies_to::applies(&p.applies_to, name))
        .collect();
    if candidates.is_empty() {
        return Evaluation::Steps {
            steps: Vec::new(),
            observed: Vec::new(),
        };
    }
    let Some(results) = cel::with_span(name, attrs, now, |ctx| {
        // Lazily, in order: nothing past a decision is evaluated.
        let mut steps = Vec::new();
        let mut observed = Vec::new();
        let mut errors = 0;
        for p in &candidates {
            match cel::run(&p.program, ctx) {
                Outcome::Error if enforcing(&p.action) => return Evaluation::Unavailable { policy: Some(*p) },
                Outcome::Error => errors += 1,
                Outcome::NoMatch => {}
                Outcome::Match => match p.action.as_str() {
                    "log" | "alert" => observed.push(*p),
                    "throttle" => steps.push(Step::Throttle(p)),
                    _ => {
                        steps.push(Step::Decide(p));
                        return Evaluation::Steps { steps, observed };
                    }
                },
            }
        }
        if errors == candidates.len() {
            return Evaluation::Unavailable { policy: None };
        }
        Evaluation::Steps { steps, observed }
    }) else {
        // The call's attributes could not be given to CEL at all.
        return Evaluation::Unavailable { policy: None };
    };
    results
}

/// A throttle policy's bucket: `(capacity, refill per second, scope)`, or
/// None when its configuration is unusable (the call is then refused, as
/// the SDK does).
pub fn throttle_config(p: &CompiledPolicy) -> Option<(f64, f64, &str)> {
    let c = &p.action_config;
    let max = c.get("max_calls").and_then(Value::as_u64).filter(|n| *n > 0)? as f64;
    let window = c
        .get("window_seconds")
        .filter(|v| !v.is_boolean())
        .and_then(Value::as_f64)
        .filter(|w| *w > 0.0 && w.is_finite())?;
    let scope = match c.get("scope") {
        None | Some(Value::Null) => "agent",
        Some(Value::String(s)) if s == "agent" || s == "global" => s,
        Some(_) => return None,
    };
    Some((max, max / window, scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn policy(name: &str, action: &str, expression: &str) -> CompiledPolicy {
        CompiledPolicy {
            id: Uuid::new_v4(),
            name: name.into(),
            action: action.into(),
            action_config: json!({}),
            applies_to: vec![],
            shadow: false,
            program: cel::compile_str(expression).unwrap(),
        }
    }

    fn attrs() -> Map<String, Value> {
        json!({"gen_ai.tool.name": "delete_file", "strathon.tool.args": "{\"path\": \"/etc\"}"})
            .as_object()
            .unwrap()
            .clone()
    }

    fn names(e: &Evaluation) -> Vec<String> {
        match e {
            Evaluation::Steps { steps, .. } => steps
                .iter()
                .map(|s| match s {
                    Step::Decide(p) => format!("decide:{}", p.name),
                    Step::Throttle(p) => format!("throttle:{}", p.name),
                })
                .collect(),
            Evaluation::Unavailable { policy } => vec![format!("unavailable:{:?}", policy.map(|p| &p.name))],
        }
    }

    #[test]
    fn a_higher_log_match_does_not_shadow_a_lower_block() {
        let set = [policy("watch", "log", "true"), policy("stop", "block", "true")];
        let e = evaluate(&set, "delete_file", &attrs(), Utc::now());
        assert_eq!(names(&e), ["decide:stop"]);
        let Evaluation::Steps { observed, .. } = e else {
            panic!()
        };
        assert_eq!(observed[0].name, "watch");
    }

    #[test]
    fn throttles_queue_up_until_something_decides_and_allow_shields() {
        let set = [
            policy("slow", "throttle", "true"),
            policy("ok", "allow", r#"attrs["gen_ai.tool.name"] == "delete_file""#),
            policy("stop", "block", "true"),
        ];
        let e = evaluate(&set, "delete_file", &attrs(), Utc::now());
        assert_eq!(names(&e), ["throttle:slow", "decide:ok"]);
    }

    #[test]
    fn shadow_and_non_applicable_policies_are_skipped() {
        let mut shadow = policy("dry", "block", "true");
        shadow.shadow = true;
        let mut elsewhere = policy("other", "block", "true");
        elsewhere.applies_to = vec!["send_email".into()];
        let set = [shadow, elsewhere];
        let e = evaluate(&set, "delete_file", &attrs(), Utc::now());
        assert_eq!(names(&e), Vec::<String>::new());
    }

    #[test]
    fn enforcing_errors_fail_closed_and_others_are_skipped() {
        let broken_block = policy("broken", "block", r#"attrs["missing"] == 1"#);
        let e = evaluate(std::slice::from_ref(&broken_block), "delete_file", &attrs(), Utc::now());
        assert_eq!(names(&e), ["unavailable:Some(\"broken\")"]);
        // An erroring steer is skipped; the block below still decides.
        let set = [
            policy("weird", "steer", r#"attrs["missing"] == 1"#),
            policy("stop", "block", "true"),
        ];
        assert_eq!(
            names(&evaluate(&set, "delete_file", &attrs(), Utc::now())),
            ["decide:stop"]
        );
        // Nothing but errors: no basis for a decision.
        let set = [policy("weird", "steer", r#"attrs["missing"] == 1"#)];
        assert_eq!(
            names(&evaluate(&set, "delete_file", &attrs(), Utc::now())),
            ["unavailable:None"]
        );
        // An erroring block below a decision is never reached.
        let set = [policy("ok", "allow", "true"), broken_block];
        assert_eq!(
            names(&evaluate(&set, "delete_file", &attrs(), Utc::now())),
            ["decide:ok"]
        );
    }

    #[test]
    fn throttle_configuration() {
        let mut p = policy("t", "throttle", "true");
        p.action_config = json!({"max_calls": 2, "window_seconds": 60});
        assert_eq!(throttle_config(&p), Some((2.0, 2.0 / 60.0, "agent")));
        p.action_config = json!({"max_calls": 2, "window_seconds": 1, "scope": "global"});
        assert_eq!(throttle_config(&p).map(|c| c.2), Some("global"));
        for bad in [
            json!({"max_calls": 0, "window_seconds": 1}),
            json!({"max_calls": 2}),
            json!({"max_calls": 2, "window_seconds": true}),
            json!({"max_calls": 2, "window_seconds": 1, "scope": "team"}),
        ] {
            p.action_config = bad.clone();
            assert_eq!(throttle_config(&p), None, "{bad}");
        }
    }
}
