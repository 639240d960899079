//! Query-string conventions shared by the list endpoints: time bounds,
//! limits, sort and opaque cursors.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// A query string as name → value. Handlers parse each parameter
/// themselves, so every bad value gets its own message; their
/// `#[utoipa::path]` documents the parameters one by one, which is why this
/// contributes none.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Params(pub HashMap<String, String>);

impl std::ops::Deref for Params {
    type Target = HashMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromIterator<(String, String)> for Params {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Params(pairs.into_iter().collect())
    }
}

impl utoipa::IntoParams for Params {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        Vec::new()
    }
}

/// A time bound given as integer nanoseconds or an ISO-8601 timestamp.
pub fn time_ns(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(raw) = params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ns) = raw.parse::<i64>() {
        return Ok(Some(ns));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name} must be a nanosecond unix timestamp or ISO 8601 string; got {raw:?}"
            ))
        })
}

/// `limit` within `1..=max`, `default` when absent; anything else is a 422.
pub fn limit(params: &Params, default: i64, max: i64) -> Result<i64, ApiError> {
    bounded_int(params, "limit", default, 1, max)
}

/// An integer query parameter within `min..=max`, `default` when absent;
/// anything else is a 422 naming the parameter.
pub fn bounded_int(params: &Params, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::Unprocessable(vec![serde_json::json!({
                "type": "value_error",
                "loc": ["query", name],
                "msg": format!("{name} must be an integer between {min} and {max}"),
                "input": raw,
            })])),
        },
    }
}

/// `sort=field:direction` (`asc`, anything else descending). Unknown fields
/// fall back to the default order rather than failing.
pub fn sort<T>(params: &Params, field: impl Fn(&str) -> Option<T>) -> Option<(T, bool)> {
    let raw = params.get("sort")?;
    let (name, dir) = raw.split_once(':').unwrap_or((raw.as_str(), "desc"));
    field(name.trim()).map(|f| (f, dir.trim().eq_ignore_ascii_case("asc")))
}

pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn decode_cursor<T: DeserializeOwned>(params: &Params) -> Result<Option<T>, ApiError> {
    let Some(raw) = params.get("cursor").filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|e| ApiError::BadRequest(format!("invalid cursor: {e}")))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("invalid cursor: {e}")))
}

/// A JSON object body, or the validation error the original gave (422).
pub fn object(
    body: actix_web::web::Json<serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match body.into_inner() {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(ApiError::Unprocessable(vec![serde_json::json!({
            "type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": other,
        })])),
    }
}

/// A boolean query flag: `true`, `1` or `yes` in any case.
pub fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Lower-case hex id of exactly `len` bytes, or `None`.
/// A UUID path segment; a malformed one is a 400 `invalid <name>`.
pub fn path_uuid(raw: &str, name: &str) -> Result<uuid::Uuid, crate::error::ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| crate::error::ApiError::BadRequest(format!("invalid {name}")))
}

/// A UUID path segment for endpoints that answer like a validation error (422).
pub fn path_uuid_422(raw: &str, loc: &str) -> Result<uuid::Uuid, crate::error::ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| {
        crate::error::ApiError::Unprocessable(vec![serde_json::json!({"type": "uuid_parsing", "loc": ["path", loc], "msg": "Input should be a valid UUID", "input": raw})])
    })
}

pub fn hex_id(raw: &str, len: usize) -> Option<Vec<u8>> {
    hex::decode(raw.trim()).ok().filter(|b| b.len() == len)
}

/// A decimal as the API renders money: a plain string without trailing zeros.
pub fn decimal(d: &bigdecimal::BigDecimal) -> String {
    d.normalized().to_plain_string()
}

/// A timestamp as typed resources render it (policies, keys, audit): `…Z`.
pub fn utc_z(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A timestamp as the other resources render it (halts, budgets, approvals,
/// projects): `…+00:00`, as the original's `isoformat()` did.
pub fn utc_offset(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// ns since the epoch as the read API's ISO timestamp (always microseconds).
pub fn iso(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// The body's `email`, trimmed and lower-cased, checked for shape.
pub fn email_field(body: &serde_json::Map<String, serde_json::Value>) -> Result<String, ApiError> {
    let email = match body.get("email").and_then(serde_json::Value::as_str) {
        Some(e) if e.chars().count() <= 254 => e.trim().to_lowercase(),
        Some(_) => return Err(ApiError::field("email", "email must be at most 254 characters")),
        None => return Err(ApiError::field("email", "Field required")),
    };
    if !crate::accounts::password::valid_email(&email) {
        return Err(ApiError::BadRequest("Invalid email format".into()));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn times_accept_nanoseconds_and_iso() {
        let p = params(&[
            ("a", "1700000000000000000"),
            ("b", "2023-11-14T22:13:20Z"),
            ("c", "yesterday"),
        ]);
        assert_eq!(time_ns(&p, "a").unwrap(), Some(1_700_000_000_000_000_000));
        assert_eq!(time_ns(&p, "b").unwrap(), Some(1_700_000_000_000_000_000));
        assert!(time_ns(&p, "c")
            .unwrap_err()
            .to_string()
            .starts_with("c must be a nanosecond unix timestamp"));
        assert_eq!(time_ns(&p, "missing").unwrap(), None);
    }

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(&params(&[]), 50, 1000).unwrap(), 50);
        assert!(matches!(
            limit(&params(&[("limit", "0")]), 50, 1000),
            Err(ApiError::Unprocessable(_))
        ));
        assert!(matches!(
            limit(&params(&[("limit", "1001")]), 50, 1000),
            Err(ApiError::Unprocessable(_))
        ));
        let cursor = encode_cursor(&(5i64, "ab".to_string()));
        let back: (i64, String) = decode_cursor(&params(&[("cursor", &cursor)])).unwrap().unwrap();
        assert_eq!(back, (5, "ab".into()));
        assert!(decode_cursor::<(i64, String)>(&params(&[("cursor", "!!")])).is_err());
    }

    #[test]
    fn iso_keeps_microseconds() {
        assert_eq!(iso(1_700_000_000_000_000_000), "2023-11-14T22:13:20.000000+00:00");
        assert_eq!(hex_id("00ff", 2), Some(vec![0, 255]));
        assert_eq!(hex_id("00ff", 3), None);
    }
}
