//! How numbers, money, times and durations read on the dashboard. Pure
//! functions, so pages and charts agree and tests pin the wording.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `12345` → `12,345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A dollar amount: cents above a dollar, more digits below it so small
/// per-call costs do not all read `$0.00`.
pub fn money(usd: f64) -> String {
    let abs = usd.abs();
    if abs == 0.0 {
        "$0.00".into()
    } else if abs >= 1.0 {
        let whole = count(usd.trunc() as i64);
        format!("${whole}.{:02}", ((abs.fract() * 100.0).round() as i64).min(99))
    } else if abs >= 0.01 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.4}").trim_end_matches('0').to_owned()
    }
}

/// A decimal the API sent as a string (or number), as dollars.
pub fn money_value(v: &Value) -> String {
    money(number(v))
}

/// A JSON number or numeric string as f64 (0 when neither).
pub fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Milliseconds as a short duration: `840 ms`, `1.2 s`, `3 min 5 s`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "—".into();
    }
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as i64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&Utc))
}

/// `2026-12-04 14:03:22 UTC`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn timestamp_ns(ns: i64) -> String {
    timestamp(DateTime::from_timestamp_nanos(ns))
}

/// An ISO timestamp from the API as `timestamp`, or the raw text.
pub fn timestamp_str(raw: &str) -> String {
    parse_time(raw).map(timestamp).unwrap_or_else(|| raw.to_owned())
}

/// How long ago, coarsely: `just now`, `4 min ago`, `3 h ago`, `2 days ago`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    match s {
        i64::MIN..=9 => "just now".into(),
        10..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        86_400..=172_799 => "1 day ago".into(),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A JSON attribute value as text: strings bare, anything else as JSON.
pub fn attribute(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_money_read_naturally() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-4200), "-4,200");
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(1234.5), "$1,234.50");
        assert_eq!(money(0.42), "$0.42");
        assert_eq!(money(0.00125), "$0.0013");
        assert_eq!(money(0.0001), "$0.0001");
        assert_eq!(money_value(&serde_json::json!("2.5")), "$2.50");
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(duration_ms(0.25), "250 µs");
        assert_eq!(duration_ms(840.0), "840 ms");
        assert_eq!(duration_ms(1234.0), "1.2 s");
        assert_eq!(duration_ms(185_000.0), "3 min 5 s");
        let now = parse_time("2026-12-04T12:00:00Z").unwrap();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(parse_time("2026-12-04T11:56:00Z").unwrap(), now), "4 min ago");
        assert_eq!(ago(parse_time("2026-12-02T11:00:00Z").unwrap(), now), "2 days ago");
        assert_eq!(timestamp_str("2026-12-04T12:00:00.5+00:00"), "2026-12-04 12:00:00 UTC");
    }
}
