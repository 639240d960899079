//! Slack and Discord channels get a one-line message instead of the raw
//! event: their incoming webhooks accept `{"text": …}` and `{"content": …}`.

use serde_json::{json, Value};

/// The request body for a delivery of `format` carrying `payload`. With
/// `buttons` (a Slack app's signing secret is configured, so presses can be
/// verified), an approval request to Slack carries Approve and Deny buttons
/// that post back to `/v1/integrations/slack/actions`.
pub fn body(format: &str, payload: &Value, buttons: bool) -> Value {
    match format {
        "slack" => {
            let sentence = text(payload);
            let approval = payload
                .get("approval_id")
                .and_then(Value::as_str)
                .filter(|_| buttons && payload.get("event").and_then(Value::as_str) == Some("approval_requested"));
            match approval {
                Some(id) => json!({
                    "text": sentence,
                    "blocks": [
                        {"type": "section", "text": {"type": "mrkdwn", "text": sentence}},
                        {"type": "actions", "block_id": "strathon_approval", "elements": [
                            button("strathon_approve", "Approve", "primary", id),
                            button("strathon_deny", "Deny", "danger", id),
                        ]},
                    ],
                }),
                None => json!({ "text": sentence }),
            }
        }
        "discord" => json!({ "content": text(payload) }),
        _ => payload.clone(),
    }
}

fn button(action: &str, label: &str, style: &str, approval_id: &str) -> Value {
    json!({
        "type": "button", "action_id": action, "style": style,
        "text": {"type": "plain_text", "text": label},
        "value": json!({"approval_id": approval_id}).to_string(),
    })
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
    fn approval_requests_to_slack_carry_buttons_when_presses_can_be_verified() {
        let request = json!({"event": "approval_requested", "approval_id": "a1", "agent_name": "bot",
            "tool_name": "transfer", "policy_name": "money", "approval_url": "/v1/approvals/a1"});
        let message = body("slack", &request, true);
        let actions = &message["blocks"][1]["elements"];
        assert_eq!(actions[0]["action_id"], "strathon_approve");
        assert_eq!(actions[1]["action_id"], "strathon_deny");
        assert_eq!(actions[0]["value"], r#"{"approval_id":"a1"}"#);
        assert!(message["text"].as_str().unwrap().contains("wants to call 'transfer'"));
        assert_eq!(body("slack", &request, false).get("blocks"), None);
    }

    #[test]
    fn chat_channels_get_a_sentence_others_the_event() {
        let halt = json!({"event": "halt_created", "scope": "agent", "scope_value": "billing", "reason": "runaway"});
        assert_eq!(
            body("slack", &halt, true),
            json!({"text": "[Strathon] halt_created: agent 'billing' halted: runaway"})
        );
        assert_eq!(
            body("discord", &halt, false),
            json!({"content": "[Strathon] halt_created: agent 'billing' halted: runaway"})
        );
        assert_eq!(body("standard", &halt, true), halt);
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
