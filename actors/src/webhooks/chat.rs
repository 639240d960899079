//! Slack and Discord channels get a one-line message instead of the raw
//! event: their incoming webhooks accept `{"text": …}` and `{"content": …}`.

use serde_json::{json, Value};

/// The request body for a delivery of `format` carrying `payload`.
pub fn body(format: &str, payload: &Value) -> Value {
    match format {
        "slack" => json!({ "text": text(payload) }),
        "discord" => json!({ "content": text(payload) }),
        _ => payload.clone(),
    }
}

fn field<'a>(payload: &'a Value, key: &str) -> &'a str {
    payload.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// A human sentence for one event.
pub fn text(p: &Value) -> String {
    let event = p.get("event").and_then(Value::as_str).unwrap_or("event");
    let what = match event {
        "policy_alert" => format!(
            "policy '{}' matched span '{}' (trace {})",
            field(p, "policy_name"),
            field(p, "span_name"),
            field(p, "trace_id")
        ),
        "approval_requested" | "approval_request" => format!(
            "approval needed: agent '{}' wants to call '{}' (policy '{}'); decide at {}",
            field(p, "agent_name"),
            field(p, "tool_name"),
            field(p, "policy_name"),
            field(p, "approval_url")
        ),
        "approval_expired" => format!(
            "approval for '{}' by agent '{}' expired unanswered",
            field(p, "tool_name"),
            field(p, "agent_name")
        ),
        "halt_created" | "budget_halt" | "halt_cleared" => {
            let target = match p.get("scope_value").and_then(Value::as_str) {
                Some(agent) => format!("agent '{agent}'"),
                None => "the project".to_owned(),
            };
            if event == "halt_cleared" {
                format!("{target} may run again (halt cleared)")
            } else {
                format!("{target} halted: {}", field(p, "reason"))
            }
        }
        "heartbeat_missed" => format!(
            "agent '{}' has sent no heartbeat for {} s",
            field(p, "agent_name"),
            p.get("silent_seconds").and_then(Value::as_i64).unwrap_or_default()
        ),
        "behavioral_drift" | "incident" => field(p, "message").to_owned(),
        _ => p.to_string(),
    };
    format!("[Strathon] {event}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_channels_get_a_sentence_others_the_event() {
        let halt = json!({"event": "halt_created", "scope": "agent", "scope_value": "billing", "reason": "runaway"});
        assert_eq!(
            body("slack", &halt),
            json!({"text": "[Strathon] halt_created: agent 'billing' halted: runaway"})
        );
        assert_eq!(
            body("discord", &halt),
            json!({"content": "[Strathon] halt_created: agent 'billing' halted: runaway"})
        );
        assert_eq!(body("standard", &halt), halt);
        let cleared = json!({"event": "halt_cleared", "scope": "project", "scope_value": null});
        assert_eq!(
            text(&cleared),
            "[Strathon] halt_cleared: the project may run again (halt cleared)"
        );
        let quiet = json!({"event": "heartbeat_missed", "agent_name": "a", "silent_seconds": 130});
        assert_eq!(
            text(&quiet),
            "[Strathon] heartbeat_missed: agent 'a' has sent no heartbeat for 130 s"
        );
    }
}
