//! Policy analysis without I/O: conflicting pairs and suggestions.

use std::collections::BTreeSet;

use regex::Regex;
use serde_json::{json, Value};
use strathon_schema::policies::Policy;

fn tools_named(expression: &str) -> BTreeSet<String> {
    static TOOL: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r#"attrs\["gen_ai\.tool\.name"\]\s*==\s*"([^"]+)""#).expect("static pattern compiles")
    });
    TOOL.captures_iter(expression).map(|c| c[1].to_owned()).collect()
}

/// Pairs of enabled policies that contradict or duplicate each other.
pub fn conflicts(policies: &[Policy]) -> Vec<Value> {
    let enabled: Vec<&Policy> = policies.iter().filter(|p| p.enabled).collect();
    let mut found = Vec::new();
    for (i, a) in enabled.iter().enumerate() {
        for b in &enabled[i + 1..] {
            let pair = |kind: &str, reason: String| json!({"type": kind, "policy_a": {"id": a.id, "name": a.name}, "policy_b": {"id": b.id, "name": b.name}, "reason": reason});
            if a.match_expression == b.match_expression {
                if a.action == b.action {
                    found.push(pair(
                        "redundancy",
                        format!("both policies match the same expression with action '{}'", a.action),
                    ));
                } else {
                    found.push(pair(
                        "contradiction",
                        format!(
                            "the same expression leads to '{}' in one and '{}' in the other",
                            a.action, b.action
                        ),
                    ));
                }
                continue;
            }
            let shared: Vec<String> = tools_named(&a.match_expression)
                .intersection(&tools_named(&b.match_expression))
                .cloned()
                .collect();
            let decisive =
                ["block", "allow"].contains(&a.action.as_str()) || ["block", "allow"].contains(&b.action.as_str());
            if !shared.is_empty() && a.action != b.action && decisive {
                found.push(pair(
                    "contradiction",
                    format!(
                        "both target tool '{}' with different actions ('{}' vs '{}')",
                        shared[0], a.action, b.action
                    ),
                ));
            }
        }
    }
    found
}

/// Tools that can do damage if misused; agents using them deserve a policy.
pub const SENSITIVE_TOOLS: [&str; 18] = [
    "shell_exec",
    "eval",
    "exec",
    "os_system",
    "subprocess_run",
    "rm",
    "rmdir",
    "drop_table",
    "delete_database",
    "format_disk",
    "send_email",
    "send_message",
    "http_request",
    "fetch",
    "web_request",
    "curl",
    "database_query",
    "sql_query",
];

/// (agent, tools used, tool calls per hour, cost) → suggestions.
pub fn suggestions(policies: &[Policy], agents: &[(String, Vec<String>, f64, f64)], has_budget: bool) -> Vec<Value> {
    let enabled: Vec<&Policy> = policies.iter().filter(|p| p.enabled).collect();
    let mentions = |tool: &str| enabled.iter().any(|p| p.match_expression.contains(tool));
    let has_action = |a: &str| enabled.iter().any(|p| p.action == a);
    let mut out = Vec::new();
    for (agent, tools, calls_per_hour, _) in agents {
        let sensitive: Vec<&String> = tools.iter().filter(|t| SENSITIVE_TOOLS.contains(&t.as_str())).collect();
        let uncovered: Vec<&&String> = sensitive.iter().filter(|t| !mentions(t)).collect();
        if let Some(tool) = uncovered.first() {
            out.push(json!({
                "risk_level": "high", "owasp_ref": "ASI-02",
                "description": format!("Agent '{agent}' uses sensitive tool '{tool}' with no policy naming it"),
                "reason": format!("'{tool}' can cause irreversible damage if misused"),
                "recommendation": format!("Block or gate '{tool}' for agent '{agent}'"),
                "policy": {"name": format!("block-{tool}"), "match_expression": format!("attrs[\"gen_ai.tool.name\"] == \"{tool}\""),
                           "action": "block", "description": format!("Block {tool}")},
            }));
        }
        if enabled.is_empty() {
            out.push(json!({
                "risk_level": "high", "owasp_ref": "ASI-10",
                "description": format!("Agent '{agent}' runs with no policy at all"),
                "reason": "nothing records or limits what this agent does",
                "recommendation": "Start with a log policy to see what the agent does",
                "policy": {"name": format!("log-{agent}"), "match_expression": "true", "action": "log", "description": "Log every call"},
            }));
        }
        if *calls_per_hour > 100.0 && !has_action("throttle") {
            out.push(json!({
                "risk_level": "medium", "owasp_ref": "ASI-06",
                "description": format!("Agent '{agent}' makes {calls_per_hour:.0} tool calls an hour with no throttle"),
                "reason": "runaway loops burn money and hit rate limits",
                "recommendation": "Throttle tool calls per agent",
                "policy": {"name": format!("throttle-{agent}"), "match_expression": "true", "action": "throttle",
                           "action_config": {"max_calls": 100, "window_seconds": 3600, "scope": "agent"}, "description": "At most 100 calls an hour"},
            }));
        }
        if !sensitive.is_empty() && !has_action("require_approval") {
            out.push(json!({
                "risk_level": "medium", "owasp_ref": "ASI-09",
                "description": format!("Agent '{agent}' uses sensitive tools without human approval"),
                "reason": "a person should confirm irreversible actions",
                "recommendation": "Require approval for sensitive tools",
                "policy": {"name": format!("approve-{}", sensitive[0]), "match_expression": format!("attrs[\"gen_ai.tool.name\"] == \"{}\"", sensitive[0]),
                           "action": "require_approval", "action_config": {"timeout_seconds": 300}, "description": "Human approval"},
            }));
        }
    }
    if !has_budget && agents.iter().any(|(_, _, _, cost)| *cost > 0.0) {
        out.push(json!({
            "risk_level": "medium", "owasp_ref": "ASI-06",
            "description": "Agents spend money and no budget is set",
            "reason": "nothing stops a runaway agent's spend",
            "recommendation": "Create a cost budget (POST /v1/budgets)",
            "policy": null,
        }));
    }
    out.sort_by_key(|s| if s["risk_level"] == "high" { 0 } else { 1 });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, expr: &str, action: &str) -> Policy {
        Policy {
            id: uuid::Uuid::new_v4(),
            project_id: uuid::Uuid::nil(),
            name: name.into(),
            description: None,
            match_expression: expr.into(),
            action: action.into(),
            action_config: json!({}),
            applies_to: vec![],
            enabled: true,
            priority: 0,
            shadow: false,
            match_count: 0,
            last_matched_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn finds_contradictions_and_redundancy() {
        let a = policy("a", r#"attrs["gen_ai.tool.name"] == "rm""#, "block");
        let b = policy("b", r#"attrs["gen_ai.tool.name"] == "rm" && true"#, "allow");
        let c = policy("c", "true", "log");
        let d = policy("d", "true", "log");
        let found = conflicts(&[a, b, c, d]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["type"], "contradiction");
        assert_eq!(found[1]["type"], "redundancy");
    }

    #[test]
    fn suggests_policies_for_uncovered_sensitive_tools() {
        let agents = vec![("mailer".to_string(), vec!["send_email".to_string()], 500.0, 1.0)];
        let s = suggestions(&[], &agents, false);
        assert_eq!(s[0]["risk_level"], "high");
        assert!(s.iter().any(|x| x["policy"]["action"] == "throttle"));
        assert!(s.iter().any(|x| x["policy"].is_null()));
        let covered = suggestions(
            &[policy(
                "p",
                r#"attrs["gen_ai.tool.name"] == "send_email""#,
                "require_approval",
            )],
            &agents,
            true,
        );
        assert!(covered.iter().all(|x| x["risk_level"] != "high"));
    }
}
