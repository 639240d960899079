//! What an audit event may keep of a resource's state: secrets removed,
//! passwords masked, external identifiers pseudonymized, before hashing.

use serde_json::{json, Value};

const REMOVED: [&str; 9] = [
    "value",
    "key",
    "api_key",
    "secret",
    "token",
    "signing_key",
    "signing_secret",
    "session_token",
    "refresh_token",
];
const MASKED: [&str; 2] = ["password", "password_hash"];
const PSEUDONYMIZED: [&str; 2] = ["stripe_customer_id", "external_user_id"];

pub fn redact(state: Value, key: &[u8]) -> Value {
    match state {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !REMOVED.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = if MASKED.contains(&k.as_str()) {
                        json!("[REDACTED]")
                    } else if PSEUDONYMIZED.contains(&k.as_str()) {
                        let text = match &v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        json!(super::chain::pseudonym(key, &text))
                    } else {
                        redact(v, key)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, key)).collect()),
        other => other,
    }
}

/// Top-level changes: adds, then removes, then replaces, each sorted by key.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Option<Value> {
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return None;
    };
    let mut ops = Vec::new();
    ops.extend(
        a.iter()
            .filter(|(k, _)| !b.contains_key(*k))
            .map(|(k, v)| json!({"op": "add", "path": format!("/{k}"), "value": v})),
    );
    ops.extend(
        b.keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| json!({"op": "remove", "path": format!("/{k}")})),
    );
    ops.extend(
        a.iter()
            .filter(|(k, v)| b.get(*k).is_some_and(|old| old != *v))
            .map(|(k, v)| json!({"op": "replace", "path": format!("/{k}"), "value": v})),
    );
    Some(Value::Array(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_enter_the_log() {
        let state = json!({"name": "k", "key": "stra_secret", "nested": [{"password": "hunter2", "token": "t"}], "external_user_id": "u1"});
        let clean = redact(state, b"k".repeat(32).as_slice());
        assert!(clean.get("key").is_none());
        assert_eq!(clean["nested"][0]["password"], "[REDACTED]");
        assert!(clean["nested"][0].get("token").is_none());
        assert!(clean["external_user_id"].as_str().unwrap().starts_with("hmac-sha256:"));
        assert!(!clean.to_string().contains("hunter2"));
    }

    #[test]
    fn diff_lists_adds_removes_and_replaces() {
        let before = json!({"a": 1, "b": 2, "c": 3});
        let after = json!({"a": 1, "b": 5, "d": 4});
        assert_eq!(
            diff(Some(&before), Some(&after)).unwrap(),
            json!([{"op": "add", "path": "/d", "value": 4}, {"op": "remove", "path": "/c"}, {"op": "replace", "path": "/b", "value": 5}])
        );
        assert_eq!(diff(None, Some(&after)), None);
    }
}
