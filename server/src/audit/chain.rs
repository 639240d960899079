//! The audit chain: canonical JSON of the 26 hashed fields, HMAC-SHA256
//! over it and the previous row's hash, and RFC 6962 Merkle roots for
//! anchors. Rows written by the original server verify with this code.

use ring::hmac;
use serde_json::{Map, Value};

/// The fields covered by `row_hash`, exactly these.
pub const HASH_FIELDS: [&str; 26] = [
    "id",
    "sequence_no",
    "occurred_at",
    "project_id",
    "actor_type",
    "actor_id",
    "actor_display",
    "on_behalf_of",
    "action",
    "action_category",
    "outcome",
    "reason",
    "resource_type",
    "resource_id",
    "resource_parent",
    "cascade_root_id",
    "request_id",
    "source_ip",
    "user_agent",
    "api_key_id",
    "auth_method",
    "before_state",
    "after_state",
    "diff",
    "pii_classes",
    "schema_version",
];

pub const GENESIS: [u8; 32] = [0; 32];

/// The key id every row records; rotation will add ids, never reuse one.
pub const KEY_ID: i16 = 1;

/// Timestamps are hashed as UTC with exactly six fractional digits.
pub fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// Compact JSON with object keys sorted by code point at every level and
/// non-ASCII left as is. (serde_json's map is ordered by key, and its
/// escaping matches: short forms for \n \r \t \b \f, \u00xx otherwise.)
/// Floats print as Python prints them, which is what the original hashed.
pub fn canonical(payload: &Map<String, Value>) -> Vec<u8> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), sorted(v))).collect()),
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFloats);
    match serde::Serialize::serialize(&sorted(&Value::Object(payload.clone())), &mut serializer) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// serde_json's compact output, except floats.
struct PythonFloats;

impl serde_json::ser::Formatter for PythonFloats {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        writer.write_all(python_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f32) -> std::io::Result<()> {
        writer.write_all(python_float(f64::from(value)).as_bytes())
    }
}

/// Python's `repr` of a finite float: the shortest digits that read back as
/// the same value (Rust's `{:e}` finds the same ones), positioned in fixed
/// notation when the decimal point falls within -4 < point <= 16, else in
/// scientific notation with a signed, at least two-digit exponent:
/// `100.0`, `0.0001`, `1e-05`, `2.5e-06`, `1e+16`.
pub fn python_float(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1;
    let body = if -4 < point && point <= 16 {
        let n = digits.len() as i32;
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{digits}{}.0", "0".repeat((point - n) as usize))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{frac}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

pub fn row_hash(key: &[u8], payload: &Map<String, Value>, prev_hash: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&canonical(payload));
    ctx.update(prev_hash);
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Constant-time check of a stored hash.
pub fn verify(key: &[u8], payload: &Map<String, Value>, prev_hash: &[u8], stored: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut message = canonical(payload);
    message.extend_from_slice(prev_hash);
    hmac::verify(&key, &message, stored).is_ok()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// RFC 6962 Merkle Tree Hash over the leaves in order.
pub fn merkle_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => sha256(&[&[0x00], &leaves[0]]),
        n => {
            // Split at the largest power of two strictly below n.
            let mut split = 1;
            while split * 2 < n {
                split *= 2;
            }
            sha256(&[&[0x01], &merkle_root(&leaves[..split]), &merkle_root(&leaves[split..])])
        }
    }
}

/// HMAC of a sensitive value that must stay comparable but unreadable.
pub fn pseudonym(key: &[u8], value: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    format!("hmac-sha256:{}", hex::encode(hmac::sign(&key, value.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector_payload() -> Map<String, Value> {
        let mut m = Map::new();
        for f in HASH_FIELDS {
            m.insert(f.into(), Value::Null);
        }
        let set = [
            ("id", json!("00000000-0000-0000-0000-000000000001")),
            ("sequence_no", json!(1)),
            ("occurred_at", json!("2026-05-17T00:00:00.000000+00:00")),
            ("project_id", json!("00000000-0000-0000-0000-000000000002")),
            ("actor_type", json!("system")),
            ("actor_id", json!("test")),
            ("action", json!("policy.create")),
            ("action_category", json!("policy")),
            ("outcome", json!("allow")),
            ("resource_type", json!("policy")),
            ("resource_id", json!("pol_1")),
            ("request_id", json!("00000000-0000-0000-0000-000000000003")),
            ("pii_classes", json!([])),
            ("schema_version", json!(1)),
        ];
        for (k, v) in set {
            m.insert(k.into(), v);
        }
        m
    }

    #[test]
    fn canonical_form_matches_the_published_vector() {
        let expected = r#"{"action":"policy.create","action_category":"policy","actor_display":null,"actor_id":"test","actor_type":"system","after_state":null,"api_key_id":null,"auth_method":null,"before_state":null,"cascade_root_id":null,"diff":null,"id":"00000000-0000-0000-0000-000000000001","occurred_at":"2026-05-17T00:00:00.000000+00:00","on_behalf_of":null,"outcome":"allow","pii_classes":[],"project_id":"00000000-0000-0000-0000-000000000002","reason":null,"request_id":"00000000-0000-0000-0000-000000000003","resource_id":"pol_1","resource_parent":null,"resource_type":"policy","schema_version":1,"sequence_no":1,"source_ip":null,"user_agent":null}"#;
        assert_eq!(String::from_utf8(canonical(&vector_payload())).unwrap(), expected);
    }

    #[test]
    fn row_hashes_match_the_published_vectors() {
        let payload = vector_payload();
        let hash = row_hash(&[b'x'; 32], &payload, &GENESIS);
        assert_eq!(
            hex::encode(hash),
            "a355c38ddc53e03385f142f6588ca878da0974cc6cc48a77e31651774c9be5d4"
        );
        let dev = row_hash(crate::config::DEV_AUDIT_HMAC_KEY.as_bytes(), &payload, &GENESIS);
        assert_eq!(
            hex::encode(dev),
            "d6f6ddaec04c050304353c0ab860bb9c8f3856c0626aa2a9c2c2ddd31908ad18"
        );
        assert!(verify(&[b'x'; 32], &payload, &GENESIS, &hash));
        assert!(!verify(&[b'y'; 32], &payload, &GENESIS, &hash));
    }

    #[test]
    fn merkle_root_matches_the_published_vector() {
        let leaves = vec![vec![b'a'; 32], vec![b'b'; 32], vec![b'c'; 32]];
        assert_eq!(
            hex::encode(merkle_root(&leaves)),
            "992ee2ad0277597cd933d51bf6f053189044f4b6f343d8b6371f45b07d33aeac"
        );
        assert_eq!(
            hex::encode(merkle_root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn floats_print_as_python_prints_them() {
        let cases = [
            (100.0, "100.0"),
            (0.5, "0.5"),
            (1e-05, "1e-05"),
            (2.5e-06, "2.5e-06"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1.5e-7, "-1.5e-07"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (value, python) in cases {
            assert_eq!(python_float(value), python, "{value:e}");
        }
        // JSONB hands back 1e-05 as 0.00001; it must hash as the original did.
        let stored: Value = serde_json::from_str(r#"{"w": 0.00001, "n": 7, "m": 100.0}"#).unwrap();
        let mut m = Map::new();
        m.insert("s".into(), stored);
        assert_eq!(
            String::from_utf8(canonical(&m)).unwrap(),
            r#"{"s":{"m":100.0,"n":7,"w":1e-05}}"#
        );
    }

    #[test]
    fn non_ascii_and_control_characters_are_encoded_like_the_original() {
        let mut m = Map::new();
        m.insert("b".into(), json!("é\n\u{1}/"));
        m.insert("a".into(), json!({"z": 1, "y": [true]}));
        assert_eq!(
            String::from_utf8(canonical(&m)).unwrap(),
            "{\"a\":{\"y\":[true],\"z\":1},\"b\":\"é\\n\\u0001/\"}"
        );
    }
}
