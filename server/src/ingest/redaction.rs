//! PLACEHOLDER until the redaction module lands: strips NUL characters only.
use std::collections::HashMap;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Redact,
    Mask,
    Hash,
    Delete,
}

#[derive(Debug, Clone, Default)]
pub struct RedactionConfig {
    pub enabled: bool,
    pub credential_scan: bool,
    pub allowlist: Vec<String>,
    pub key_actions: HashMap<String, Action>,
    pub strategy: HashMap<String, Action>,
    pub custom: Vec<(String, regex::Regex)>,
}

impl RedactionConfig {
    pub fn from_settings(enabled: bool, credential_scan: bool, _: &Value, _: &Value, _: &Value, _: &Value) -> Self {
        RedactionConfig {
            enabled,
            credential_scan,
            ..Default::default()
        }
    }
}

pub fn redact(attrs: &mut Map<String, Value>, _config: &RedactionConfig) {
    let taken = std::mem::take(attrs);
    for (k, v) in taken {
        let v = match v {
            Value::String(s) => Value::String(s.replace('\0', "")),
            other => other,
        };
        attrs.insert(k.replace('\0', ""), v);
    }
}
