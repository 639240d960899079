//! The built-in policy templates: common guardrails, ready to apply.

use serde_json::{json, Value};

pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub owasp_risks: &'static [&'static str],
    pub action: &'static str,
    pub action_config: fn() -> Value,
    pub tags: &'static [&'static str],
    pub match_expression: String,
}

const TOOL: &str = r#"attrs["gen_ai.tool.name"]"#;
const ARGS: &str = r#"attrs["strathon.tool.args"]"#;
const OUTPUT: &str = r#"attrs["strathon.tool.output"]"#;

fn one_of(values: &[&str]) -> String {
    format!(
        "{TOOL} in [{}]",
        values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
    )
}

fn contains_any(subject: &str, needles: &[&str]) -> String {
    let parts: Vec<String> = needles.iter().map(|n| format!("{subject}.contains(\"{n}\")")).collect();
    format!("({})", parts.join(" || "))
}

const MEMORY_WRITES: [&str; 10] = [
    "memory_write",
    "memory_store",
    "memory_set",
    "memory_add",
    "upsert_memory",
    "add_memory",
    "store_memory",
    "save_memory",
    "set_context",
    "update_context",
];

const INJECTION: [&str; 7] = [
    "IGNORE PREVIOUS",
    "ignore all previous",
    "disregard instructions",
    "you are now",
    "new system prompt",
    "override system",
    "forget everything",
];

fn empty() -> Value {
    json!({})
}

pub fn all() -> Vec<Template> {
    vec![
        Template {
            id: "block-dangerous-tools",
            name: "Block dangerous tool names",
            description: "Blocks tools that execute code, delete data or touch the file system destructively, whatever the arguments.",
            owasp_risks: &["ASI-02", "ASI-05"],
            action: "block",
            action_config: empty,
            tags: &["security", "tool-misuse", "code-execution"],
            match_expression: one_of(&[
                "shell_exec", "eval", "exec", "os_system", "subprocess_run", "rm", "rmdir", "drop_table", "delete_database", "format_disk",
            ]),
        },
        Template {
            id: "block-data-exfiltration",
            name: "Block data exfiltration via HTTP tools",
            description: "Blocks HTTP-capable tools whose arguments carry a URL, the usual path for sending data out of the agent's environment.",
            owasp_risks: &["ASI-02"],
            action: "block",
            action_config: empty,
            tags: &["security", "data-exfiltration"],
            match_expression: format!("{} && {ARGS}.contains(\"http\")", one_of(&["http_request", "fetch", "web_request", "curl"])),
        },
        Template {
            id: "throttle-expensive-models",
            name: "Rate-limit expensive model calls",
            description: "Admits at most 10 calls a minute per agent to the most expensive models.",
            owasp_risks: &["ASI-06"],
            action: "throttle",
            action_config: || json!({"max_calls": 10, "window_seconds": 60}),
            tags: &["cost", "rate-limit"],
            match_expression: r#"attrs["gen_ai.request.model"] in ["gpt-4o", "gpt-4-turbo", "claude-3-opus-20240229", "claude-opus-4-20250514", "claude-4-opus"]"#.into(),
        },
        Template {
            id: "block-competitor-email",
            name: "Block communication to competitor domains",
            description: "Stops email and messaging tools from addressing competitor domains.",
            owasp_risks: &["ASI-02"],
            action: "block",
            action_config: empty,
            tags: &["compliance", "communication"],
            match_expression: format!(
                "{} && {}",
                one_of(&["send_email", "send_message"]),
                contains_any(ARGS, &["@competitor.com", "@rival.com"])
            ),
        },
        Template {
            id: "block-sql-injection-patterns",
            name: "Block SQL injection in tool arguments",
            description: "Blocks tool calls whose arguments contain classic SQL injection fragments.",
            owasp_risks: &["ASI-02", "ASI-05"],
            action: "block",
            action_config: empty,
            tags: &["security", "injection"],
            match_expression: contains_any(ARGS, &["DROP TABLE", "UNION SELECT", "DELETE FROM", "; --", "1=1"]),
        },
        Template {
            id: "enforce-business-hours",
            name: "Block tool calls outside business hours",
            description: "Blocks every tool call outside Monday to Friday, 09:00 to 18:00 UTC.",
            owasp_risks: &["ASI-10"],
            action: "block",
            action_config: empty,
            tags: &["compliance", "time-based"],
            match_expression: "now.getDayOfWeek() < 1 || now.getDayOfWeek() > 5 || now.getHours() < 9 || now.getHours() >= 18".into(),
        },
        Template {
            id: "alert-on-high-cost",
            name: "Alert when a single call costs over $1",
            description: "Raises an alert for any single LLM call that costs more than one dollar.",
            owasp_risks: &["ASI-06"],
            action: "alert",
            action_config: empty,
            tags: &["cost", "monitoring"],
            match_expression: r#"double(attrs["gen_ai.usage.cost"]) > 1.0"#.into(),
        },
        Template {
            id: "steer-internal-data",
            name: "Steer responses mentioning internal data",
            description: "Replaces tool results that carry internal-only markings with a neutral message.",
            owasp_risks: &["ASI-03"],
            action: "steer",
            action_config: || {
                json!({"replacement": "This information is classified as internal. Please contact the appropriate team for access."})
            },
            tags: &["compliance", "data-protection"],
            match_expression: contains_any(OUTPUT, &["CONFIDENTIAL", "INTERNAL ONLY", "DO NOT DISTRIBUTE"]),
        },
        Template {
            id: "block-memory-write-injection",
            name: "Block memory writes containing injection patterns",
            description: "Blocks writes to agent memory that carry prompt-injection phrases, so they cannot poison later turns.",
            owasp_risks: &["ASI-01", "ASI-06"],
            action: "block",
            action_config: empty,
            tags: &["security", "memory-poisoning", "prompt-injection"],
            match_expression: format!("{} && {}", one_of(&MEMORY_WRITES), contains_any(ARGS, &INJECTION)),
        },
        Template {
            id: "block-memory-system-key-overwrite",
            name: "Block writes to protected memory keys",
            description: "Blocks memory writes that target keys holding the agent's instructions or identity.",
            owasp_risks: &["ASI-06", "ASI-02"],
            action: "block",
            action_config: empty,
            tags: &["security", "memory-poisoning", "config-protection"],
            match_expression: format!(
                "{} && {}",
                one_of(&["memory_write", "memory_store", "memory_set", "upsert_memory", "set_context", "update_context"]),
                contains_any(ARGS, &["system_prompt", "system_instructions", "persona", "core_config", "agent_role", "base_instructions"])
            ),
        },
        Template {
            id: "throttle-memory-write-flood",
            name: "Rate-limit memory write operations",
            description: "Admits at most 10 memory writes a minute per agent.",
            owasp_risks: &["ASI-06", "ASI-04"],
            action: "throttle",
            action_config: || json!({"max_calls": 10, "window_seconds": 60, "scope": "agent"}),
            tags: &["security", "memory-poisoning", "rate-limit"],
            match_expression: one_of(&MEMORY_WRITES),
        },
        Template {
            id: "alert-memory-retrieval-injection",
            name: "Alert on retrieved memory containing injection patterns",
            description: "Raises an alert when memory reads return prompt-injection phrases.",
            owasp_risks: &["ASI-01", "ASI-06"],
            action: "alert",
            action_config: empty,
            tags: &["security", "memory-poisoning", "detection"],
            match_expression: format!(
                "{} && {}",
                one_of(&["memory_read", "memory_get", "memory_search", "memory_retrieve", "get_memory", "search_memory", "recall", "get_context"]),
                contains_any(OUTPUT, &INJECTION[..5])
            ),
        },
    ]
}

impl Template {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "owasp_risks": self.owasp_risks,
            "action": self.action,
            "match_expression": self.match_expression,
            "action_config": (self.action_config)(),
            "applies_to": [],
            "tags": self.tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_templates_that_compile_and_validate() {
        let all = all();
        assert_eq!(all.len(), 12);
        for t in &all {
            super::super::cel::compile_str(&t.match_expression).unwrap_or_else(|e| panic!("{}: {e}", t.id));
            let config = (t.action_config)();
            super::super::validate::check_config(t.action, config.as_object().unwrap()).unwrap();
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 12);
    }
}
