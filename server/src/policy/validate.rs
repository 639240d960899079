//! Write-time validation of policy bodies, with the messages clients of the
//! original server match on. Order: missing fields, action, action_config,
//! expression; wrong JSON types get a 400 naming the field (never a 500).

use serde_json::{Map, Value};
use strathon_schema::policies::PolicyFields;

use super::{cel, ACTIONS};

/// Python's repr of a JSON value, as the original's messages print it.
pub fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("'{k}': {}", repr(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn list_repr(items: &[&str]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    )
}

pub fn check_action(action: &Value) -> Result<String, String> {
    match action.as_str().filter(|a| ACTIONS.contains(a)) {
        Some(a) => Ok(a.to_owned()),
        None => Err(format!(
            "action must be one of {}, got {}",
            list_repr(&ACTIONS),
            match action {
                Value::String(s) => format!("'{s}'"),
                other => repr(other),
            }
        )),
    }
}

fn positive_int(v: Option<&Value>) -> bool {
    v.and_then(Value::as_i64).is_some_and(|n| n > 0) && !v.is_some_and(Value::is_boolean)
}

/// Per-action `action_config` rules.
pub fn check_config(action: &str, config: &Map<String, Value>) -> Result<(), String> {
    match action {
        "throttle" => {
            let max_calls = config.get("max_calls");
            if !positive_int(max_calls) {
                return Err(format!(
                    "throttle action_config.max_calls must be a positive integer, got {}",
                    repr(max_calls.unwrap_or(&Value::Null))
                ));
            }
            let window = config.get("window_seconds");
            let positive = window.is_some_and(|w| !w.is_boolean() && w.as_f64().is_some_and(|n| n > 0.0));
            if !positive {
                return Err(format!(
                    "throttle action_config.window_seconds must be a positive number, got {}",
                    repr(window.unwrap_or(&Value::Null))
                ));
            }
            if let Some(scope) = config.get("scope") {
                if !matches!(scope.as_str(), Some("agent" | "global")) {
                    return Err(format!(
                        "throttle action_config.scope must be one of ['agent', 'global'], got {}",
                        repr(scope)
                    ));
                }
            }
        }
        "require_approval" => {
            if let Some(n) = config.get("approvers_required") {
                if !positive_int(Some(n)) {
                    return Err(format!(
                        "require_approval action_config.approvers_required must be a positive integer, got {}",
                        repr(n)
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be a string, got {}", cel::json_type(other))),
    }
}

fn boolean(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{key} must be a boolean, got {}", cel::json_type(other))),
    }
}

fn priority(body: &Map<String, Value>) -> Result<Option<i32>, String> {
    match body.get("priority") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("priority must be a 32-bit integer, got {}", repr(v))),
        Some(other) => Err(format!("priority must be an integer, got {}", cel::json_type(other))),
    }
}

fn config(body: &Map<String, Value>) -> Result<Option<Map<String, Value>>, String> {
    match body.get("action_config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(format!(
            "action_config must be an object, got {}",
            cel::json_type(other)
        )),
    }
}

fn applies_to(body: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    match body.get("applies_to") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "applies_to must be a list of strings".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!(
            "applies_to must be a list of strings, got {}",
            cel::json_type(other)
        )),
    }
}

/// A complete policy from a create (or import, or template) body.
pub fn create(body: &Map<String, Value>) -> Result<PolicyFields, String> {
    let mut missing: Vec<&str> = ["action", "match_expression", "name"]
        .into_iter()
        .filter(|k| body.get(*k).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(format!("missing required fields: {}", list_repr(&missing)));
    }
    let action = check_action(&body["action"])?;
    let action_config = config(body)?.unwrap_or_default();
    check_config(&action, &action_config)?;
    cel::compile(&body["match_expression"]).map_err(|e| format!("invalid match expression: {e}"))?;
    let name = string(body, "name")?.unwrap_or_default();
    if name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    Ok(PolicyFields {
        name: Some(name),
        description: Some(string(body, "description")?),
        match_expression: string(body, "match_expression")?,
        action: Some(action),
        action_config: Some(Value::Object(action_config)),
        applies_to: Some(applies_to(body)?.unwrap_or_default()),
        enabled: Some(boolean(body, "enabled")?.unwrap_or(true)),
        priority: Some(priority(body)?.unwrap_or(0)),
        shadow: Some(boolean(body, "shadow")?.unwrap_or(false)),
    })
}

/// The recognized, non-null keys of a patch body; `current_action` is the
/// stored action, against which a config-only change is checked. Changing
/// the action to one with required config (throttle) demands that config.
pub fn patch(body: &Map<String, Value>, current_action: &str, current_config: &Value) -> Result<PolicyFields, String> {
    let action = match body.get("action") {
        None | Some(Value::Null) => None,
        Some(a) => Some(check_action(a)?),
    };
    let new_config = config(body)?;
    let effective_action = action.as_deref().unwrap_or(current_action);
    match (&new_config, &action) {
        (Some(c), _) => check_config(effective_action, c)?,
        (None, Some(_)) => {
            let existing = current_config.as_object().cloned().unwrap_or_default();
            check_config(effective_action, &existing)?;
        }
        (None, None) => {}
    }
    if let Some(expr) = body.get("match_expression").filter(|v| !v.is_null()) {
        cel::compile(expr).map_err(|e| format!("invalid match expression: {e}"))?;
    }
    let name = string(body, "name")?;
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err("name must not be empty".into());
    }
    Ok(PolicyFields {
        name,
        description: string(body, "description")?.map(Some),
        match_expression: string(body, "match_expression")?,
        action,
        action_config: new_config.map(Value::Object),
        applies_to: applies_to(body)?,
        enabled: boolean(body, "enabled")?,
        priority: priority(body)?,
        shadow: boolean(body, "shadow")?,
    })
}

pub fn is_empty(f: &PolicyFields) -> bool {
    f.name.is_none()
        && f.description.is_none()
        && f.match_expression.is_none()
        && f.action.is_none()
        && f.action_config.is_none()
        && f.applies_to.is_none()
        && f.enabled.is_none()
        && f.priority.is_none()
        && f.shadow.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn create_messages_follow_the_contract() {
        let err = |v: Value| create(&body(v)).unwrap_err();
        assert_eq!(
            err(json!({"match_expression": "true"})),
            "missing required fields: ['action', 'name']"
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": "true", "action": "nuke"})),
            "action must be one of ['alert', 'allow', 'block', 'log', 'require_approval', 'steer', 'throttle'], got 'nuke'"
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": "true", "action": "throttle"})),
            "throttle action_config.max_calls must be a positive integer, got None"
        );
        assert_eq!(
            err(
                json!({"name": "n", "match_expression": "true", "action": "throttle", "action_config": {"max_calls": true, "window_seconds": 1}})
            ),
            "throttle action_config.max_calls must be a positive integer, got True"
        );
        assert_eq!(
            err(
                json!({"name": "n", "match_expression": "true", "action": "throttle", "action_config": {"max_calls": 3, "window_seconds": 0}})
            ),
            "throttle action_config.window_seconds must be a positive number, got 0"
        );
        assert_eq!(
            err(
                json!({"name": "n", "match_expression": "true", "action": "throttle", "action_config": {"max_calls": 3, "window_seconds": 60, "scope": "user"}})
            ),
            "throttle action_config.scope must be one of ['agent', 'global'], got 'user'"
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": 7, "action": "block"})),
            "invalid match expression: expression must be a string, got int"
        );
        assert!(
            err(json!({"name": "n", "match_expression": "attrs[", "action": "block"}))
                .starts_with("invalid match expression: failed to compile CEL expression:")
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": "true", "action": "block", "priority": "high"})),
            "priority must be an integer, got str"
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": "true", "action": "block", "action_config": [1]})),
            "action_config must be an object, got list"
        );
        assert_eq!(
            err(json!({"name": "n", "match_expression": "true", "action": "block", "priority": 4_000_000_000i64})),
            "priority must be a 32-bit integer, got 4000000000"
        );
    }

    #[test]
    fn create_fills_defaults() {
        let f = create(&body(json!({"name": "n", "match_expression": "true", "action": "log"}))).unwrap();
        assert_eq!((f.enabled, f.priority, f.shadow), (Some(true), Some(0), Some(false)));
        assert_eq!(f.applies_to, Some(vec![]));
        assert_eq!(f.action_config, Some(json!({})));
    }

    #[test]
    fn patch_validates_against_the_resulting_action() {
        let to_throttle = patch(&body(json!({"action": "throttle"})), "block", &json!({}));
        assert!(to_throttle.unwrap_err().starts_with("throttle action_config.max_calls"));
        let config_only = patch(
            &body(json!({"action_config": {"max_calls": 0}})),
            "throttle",
            &json!({"max_calls": 1, "window_seconds": 1}),
        );
        assert!(config_only.is_err());
        let ok = patch(
            &body(json!({"enabled": false, "unknown": 1, "name": null})),
            "block",
            &json!({}),
        )
        .unwrap();
        assert_eq!(ok.enabled, Some(false));
        assert!(ok.name.is_none());
        assert!(is_empty(
            &patch(&body(json!({"color": "red"})), "block", &json!({})).unwrap()
        ));
    }
}
