//! Policies as pure logic: the CEL environment the SDK shares, `applies_to`
//! matching, write-time validation and the template catalog. No I/O.

pub mod analysis;
pub mod applies_to;
pub mod cel;
pub mod gateway;
pub mod templates;
pub mod validate;

pub const ACTIONS: [&str; 7] = [
    "alert",
    "allow",
    "block",
    "log",
    "require_approval",
    "steer",
    "throttle",
];

use serde_json::{Map, Value};
use strathon_schema::policies::Policy;
use uuid::Uuid;

/// An enabled policy ready to evaluate at ingest.
pub struct CompiledPolicy {
    pub id: Uuid,
    pub name: String,
    pub action: String,
    pub action_config: Value,
    pub applies_to: Vec<String>,
    pub shadow: bool,
    pub program: ::cel::Program,
}

impl CompiledPolicy {
    /// `None` for a disabled policy, or one whose stored expression no
    /// longer compiles (writes validate, so only a hand-edited row).
    pub fn from_row(p: Policy) -> Option<CompiledPolicy> {
        if !p.enabled {
            return None;
        }
        let program = match cel::compile_str(&p.match_expression) {
            Ok(program) => program,
            Err(e) => {
                tracing::warn!(policy_id = %p.id, error = %e, "skipping a stored policy that does not compile");
                return None;
            }
        };
        Some(CompiledPolicy {
            id: p.id,
            name: p.name,
            action: p.action,
            action_config: p.action_config,
            applies_to: p.applies_to,
            shadow: p.shadow,
            program,
        })
    }

    /// What ingest records for a match of this policy.
    pub fn outcome(&self) -> &'static str {
        match (self.shadow, self.action.as_str()) {
            (true, "block" | "steer" | "throttle") => "shadow_recorded",
            (_, "log") => "logged",
            (_, "alert") => "alert_queued",
            (_, "block") => "block_recorded",
            (_, "steer") => "steer_recorded",
            (_, "require_approval") => "approval_requested",
            _ => "recorded",
        }
    }
}

/// Every enabled policy (shadow included) that matches the span, in
/// evaluation order. Policies that error are skipped: ingest records, it
/// does not enforce.
pub fn matching<'a>(
    policies: &'a [CompiledPolicy],
    name: &str,
    attrs: &Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<&'a CompiledPolicy> {
    let applicable: Vec<&CompiledPolicy> = policies
        .iter()
        .filter(|p| applies_to::applies(&p.applies_to, name))
        .collect();
    // Building the CEL context converts every attribute; with no policy to
    // run (the common case) that was half of ingest's CPU per span.
    if applicable.is_empty() {
        return applicable;
    }
    cel::with_span(name, attrs, now, |ctx| {
        applicable
            .into_iter()
            .filter(|p| cel::run(&p.program, ctx) == cel::Outcome::Match)
            .collect()
    })
    .unwrap_or_default()
}
