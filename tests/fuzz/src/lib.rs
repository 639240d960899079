//! Shared harness for the fuzz targets: the conversion contexts, the redaction
//! configurations, and the invariants every converted batch must satisfy.
//!
//! Beyond "no panic", the checks here are properties the ingest code promises
//! itself (span accounting, the accepted window, clipped columns, no NUL in
//! anything bound for Postgres, costs that fit their column). A violated check
//! panics, which libFuzzer records as a crash. A known finding can be waived
//! while it is being fixed: `FUZZ_WAIVE=cost-range,policy-nul` (names below).
//!
//! Panics the server catches on purpose (`catch_unwind` around the CEL parser
//! and evaluator in `policy::cel`) are handled behaviour, not crashes: see
//! [`run`]. `FUZZ_CAUGHT_PANICS=abort` turns them into crashes.

use std::collections::HashSet;
use std::str::FromStr as _;
use std::sync::{LazyLock, Mutex, Once};

use bigdecimal::BigDecimal;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{json, Map, Value};
use strathon_server::ingest::convert::{self, Context, Converted};
use strathon_server::ingest::otlp::{self, Format};
use strathon_server::ingest::pricing::Prices;
use strathon_server::ingest::redaction::{self, RedactionConfig};
use strathon_server::policy::{cel, templates, CompiledPolicy};
use uuid::Uuid;

/// 2023-11-14T22:13:20Z: the start time of the seed spans, inside the narrow window.
pub const SEED_START_NS: i64 = 1_700_000_000_000_000_000;
const HOUR_NS: i64 = 3_600_000_000_000;

/// Mirrors `MAX_COLUMN_CHARS` in convert.rs (private there).
const MAX_COLUMN_CHARS: usize = 1024;

static WAIVED: LazyLock<HashSet<String>> = LazyLock::new(|| {
    std::env::var("FUZZ_WAIVE")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
});

fn checked(finding: &str) -> bool {
    !WAIVED.contains(finding)
}

thread_local! {
    /// Where the last panic on this thread was raised, if one was.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Panic sites already reported as caught by the server.
static CAUGHT: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// Runs one fuzz input. libfuzzer-sys's panic hook aborts at once, even for
/// a panic that the code under test catches itself; this replaces it (once)
/// with one that prints the panic and its backtrace and lets it unwind. A
/// panic that escapes `body` aborts, so libFuzzer records the crash as
/// before; one the server caught is noted once per site as `fuzz: caught
/// panic` and the input passes.
/// `FUZZ_CAUGHT_PANICS=abort` restores abort-on-any-panic.
pub fn run(body: impl FnOnce()) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if std::env::var("FUZZ_CAUGHT_PANICS").is_ok_and(|v| v == "abort") {
            return;
        }
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| l.to_string()).unwrap_or_default();
            if !CAUGHT.lock().is_ok_and(|c| c.contains(&at)) {
                eprintln!("{info}\n{}", std::backtrace::Backtrace::force_capture());
            }
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(at));
        }));
    });
    LAST_PANIC.with(|p| p.borrow_mut().take());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let last = LAST_PANIC.with(|p| p.borrow_mut().take());
    if outcome.is_err() {
        // Escaped: a crash. The hook has printed where and how.
        std::process::abort();
    }
    if let Some(at) = last {
        if CAUGHT.lock().is_ok_and(|mut c| c.insert(at.clone())) {
            eprintln!("fuzz: caught panic (handled by the server) at {at}");
        }
    }
}

/// The control byte that leads every `otlp_protobuf` input (and that the other
/// targets derive from theirs): bits 0-1 content encoding, bits 2-3 sampling
/// rate, bits 4-5 redaction config, bit 6 which accept window gets policies.
pub fn encoding(ctl: u8) -> Option<&'static str> {
    match ctl & 3 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        _ => Some("identity"),
    }
}

fn sampling_rate(ctl: u8) -> f64 {
    [1.0, 0.5, 0.0, 0.999][usize::from((ctl >> 2) & 3)]
}

static PRICES: LazyLock<Prices> = LazyLock::new(|| {
    let price = |s: &str| BigDecimal::from_str(s).expect("literal price");
    let mut prices = Prices::new();
    prices.insert("in-house".into(), (price("0.5"), price("0")));
    prices.insert("gpt-4o".into(), (price("0.000001"), price("0.000002")));
    prices
});

fn compile(
    name: &str,
    expression: &str,
    action: &str,
    action_config: Value,
    applies_to: &[&str],
    shadow: bool,
) -> CompiledPolicy {
    CompiledPolicy {
        // FNV-1a of the name: stable, distinct ids without uuid's v5 feature.
        id: Uuid::from_u128(
            name.bytes()
                .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h: u128, b| {
                    (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B)
                }),
        ),
        name: name.to_owned(),
        action: action.to_owned(),
        action_config,
        applies_to: applies_to.iter().map(|s| (*s).to_owned()).collect(),
        shadow,
        program: cel::compile_str(expression).unwrap_or_else(|e| panic!("policy {name}: {e}")),
    }
}

/// Every built-in template plus a few hand-written policies that the seeds
/// trigger (approvals with configs, shadow mode, `applies_to`, `now`).
fn build_policies() -> Vec<CompiledPolicy> {
    let mut policies: Vec<CompiledPolicy> = templates::all()
        .into_iter()
        .map(|t| compile(t.id, &t.match_expression, t.action, (t.action_config)(), &[], false))
        .collect();
    policies.extend([
        compile("any-chat", r#"name.startsWith("chat")"#, "log", json!({}), &[], false),
        compile(
            "approve-tools",
            r#"attrs["gen_ai.tool.name"] == "lookup" || name.contains("tool")"#,
            "require_approval",
            json!({"timeout_seconds": 60, "approvers_required": 2}),
            &["tool", "execute_tool lookup"],
            false,
        ),
        compile(
            "approve-big-config",
            r#"attrs["gen_ai.usage.input_tokens"] > 1000"#,
            "require_approval",
            json!({"timeout_seconds": 99999999999i64, "approvers_required": -3}),
            &[],
            false,
        ),
        compile(
            "shadow-block-prompt",
            r#"attrs["gen_ai.prompt"].matches("[0-9]{4}")"#,
            "block",
            json!({}),
            &[],
            true,
        ),
        compile(
            "after-2020",
            r#"now > timestamp("2020-01-01T00:00:00Z")"#,
            "alert",
            json!({}),
            &["heartbeat", "bad"],
            false,
        ),
        compile(
            "costly",
            r#"attrs["gen_ai.usage.cost"] > 0.001"#,
            "throttle",
            json!({}),
            &[],
            false,
        ),
    ]);
    policies
}

thread_local! {
    static POLICIES: &'static [CompiledPolicy] = Box::leak(build_policies().into_boxed_slice());
}

/// Everything on, defaults otherwise (what the brief calls "everything enabled").
static FULL: LazyLock<RedactionConfig> = LazyLock::new(|| RedactionConfig {
    enabled: true,
    credential_scan: true,
    ..RedactionConfig::default()
});

/// Mask/hash strategies, per-key actions (delete included) and custom patterns,
/// one of which can match the empty string. Built through `from_settings` so
/// the settings parser runs too.
static STRATEGIES: LazyLock<RedactionConfig> = LazyLock::new(|| {
    RedactionConfig::from_settings(
        true,
        true,
        &json!([
            {"name": "EMPTYISH", "regex": "x*"},
            "(?i)hunter[0-9]+",
            {"name": 7, "regex": "[[:alpha:]]{30,}"},
            {"name": "BROKEN", "regex": "(unclosed"},
            {"regex": ""},
            3
        ]),
        &json!({
            "EMAIL_ADDRESS": "mask",
            "CREDIT_CARD": "hash",
            "PHONE_NUMBER": "mask",
            "API_KEY": "hash",
            "IPV6_ADDRESS": "mask",
            "IN_AADHAAR": "mask",
            "US_SSN": "hash",
            "EMPTYISH": "hash",
            "CUSTOM_2": "mask",
            "7": "mask"
        }),
        &json!({
            "secret.mask": "mask",
            "secret.hash": "hash",
            "secret.delete": "delete",
            "secret.redact": "redact",
            "gen_ai.prompt": "mask",
            "gen_ai.request.model": "hash"
        }),
        &Value::Null,
    )
});

/// An allowlist (non-listed keys dropped) and base64 rescan switched off.
static ALLOWLIST: LazyLock<RedactionConfig> = LazyLock::new(|| {
    RedactionConfig::from_settings(
        true,
        false,
        &json!(["[0-9]{4}"]),
        &json!({"base64_pii": "mask", "CRYPTO": "hash"}),
        &json!({"note": "mask"}),
        &json!(["note", "text", "service.name", "gen_ai.request.model", 5, null]),
    )
});

/// Redaction off: only NUL stripping runs.
static OFF: LazyLock<RedactionConfig> = LazyLock::new(RedactionConfig::default);

pub fn redaction_config(variant: u8) -> &'static RedactionConfig {
    match variant & 3 {
        0 => &FULL,
        1 => &STRATEGIES,
        2 => &ALLOWLIST,
        _ => &OFF,
    }
}

/// Converts `request` twice, under a wide accept window and a narrow one,
/// and checks the invariants of both results.
pub fn check_request(request: ExportTraceServiceRequest, ctl: u8, format: Format) {
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let project_id = Uuid::from_u128(0x5714_7400_0000_4000_8000_0000_0000_0001);
    let rate = sampling_rate(ctl);
    let variant = (ctl >> 4) & 3;
    let policies = POLICIES.with(|p| *p);
    let (wide_policies, narrow_policies): (&[CompiledPolicy], &[CompiledPolicy]) = if ctl & 0x40 == 0 {
        (policies, &[])
    } else {
        (&[], policies)
    };
    let now = chrono::DateTime::from_timestamp(SEED_START_NS / 1_000_000_000 + 60, 0).expect("a valid instant");

    let wide = Context {
        project_id,
        sampling_rate: rate,
        accept_from: i64::MIN,
        accept_until: i64::MAX,
        prices: &PRICES,
        redaction: redaction_config(variant),
        policies: wide_policies,
        now,
    };
    let converted = convert::convert(request.clone(), &wide);
    check_converted(&converted, &wide, spans, format);

    let narrow = Context {
        project_id,
        sampling_rate: rate,
        accept_from: SEED_START_NS - HOUR_NS,
        accept_until: SEED_START_NS + HOUR_NS,
        prices: &PRICES,
        redaction: redaction_config(variant + 1),
        policies: narrow_policies,
        now,
    };
    let converted = convert::convert(request, &narrow);
    check_converted(&converted, &narrow, spans, format);
}

fn check_converted(out: &Converted, ctx: &Context, spans: usize, format: Format) {
    assert_eq!(out.received, spans, "every span is counted once");
    assert_eq!(
        out.rows.len() + out.sampled_out + out.rejected_count() + out.heartbeats.len(),
        out.received,
        "every span is stored, sampled out, rejected or a heartbeat"
    );
    assert!(out.force_kept <= out.rows.len());
    if ctx.sampling_rate >= 1.0 {
        assert_eq!(out.sampled_out, 0, "nothing is sampled out at rate 1");
    }
    for (model, cost) in &out.costs {
        assert!(cost.is_finite() && *cost > 0.0, "{model}: cost {cost}");
    }
    for row in &out.rows {
        assert_eq!(row.project_id, ctx.project_id);
        assert!(
            row.start_time_unix_nano != 0 && (ctx.accept_from..ctx.accept_until).contains(&row.start_time_unix_nano),
            "start {} outside the window",
            row.start_time_unix_nano
        );
        if let Some(end) = row.end_time_unix_nano {
            assert!(end >= row.start_time_unix_nano, "end {end} before start");
        }
        assert_eq!(row.trace_id.len(), 16);
        assert!(row.trace_id.iter().any(|b| *b != 0));
        assert_eq!(row.span_id.len(), 8);
        assert!(row.parent_span_id.as_ref().is_none_or(|p| p.len() == 8));
        for text in [
            Some(&row.name),
            row.status_message.as_ref(),
            row.operation_name.as_ref(),
            row.provider_name.as_ref(),
            row.request_model.as_ref(),
            row.response_model.as_ref(),
            row.agent_name.as_ref(),
            row.agent_id.as_ref(),
            row.tool_name.as_ref(),
            row.workflow_name.as_ref(),
            row.conversation_id.as_ref(),
            row.cost_usd.as_ref(),
            row.intervention_state.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!text.contains('\0'), "NUL in a text column: {text:?}");
        }
        for clipped in [
            Some(&row.name),
            row.operation_name.as_ref(),
            row.provider_name.as_ref(),
            row.request_model.as_ref(),
            row.response_model.as_ref(),
            row.agent_name.as_ref(),
            row.agent_id.as_ref(),
            row.tool_name.as_ref(),
            row.workflow_name.as_ref(),
            row.conversation_id.as_ref(),
            row.intervention_state.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(clipped.chars().count() <= MAX_COLUMN_CHARS, "an unclipped column");
        }
        assert!(row.attributes.is_object(), "attributes are an object");
        assert_no_nul(&row.attributes);
        if let Some(cost) = &row.cost_usd {
            let parsed = BigDecimal::from_str(cost).unwrap_or_else(|e| panic!("cost_usd {cost:?}: {e}"));
            if checked("cost-range") {
                assert!(
                    storable_as_numeric_20_8(&parsed),
                    "cost_usd {cost:?} is not storable in spans.cost_usd numeric(20, 8)"
                );
            }
        }
    }
    // Policy matches and approvals are written in the same group commit.
    assert!(out.matches.len() <= out.rows.len() * ctx.policies.len());
    assert!(out.approvals.len() <= out.matches.len());
    for m in &out.matches {
        assert!(ctx.policies.iter().any(|p| p.id == m.policy_id));
        assert!(
            out.rows
                .iter()
                .any(|r| r.trace_id == m.trace_id && r.span_id == m.span_id),
            "a match for a span that is not stored"
        );
        if checked("policy-nul") {
            assert_no_nul(&m.metadata);
        }
    }
    for a in &out.approvals {
        assert!(a.timeout_seconds > 0 && a.approvers_required > 0);
        if checked("policy-nul") {
            for text in [
                Some(&a.policy_name),
                Some(&a.span_name),
                a.agent_name.as_ref(),
                a.tool_name.as_ref(),
                a.tool_args.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!text.contains('\0'), "NUL in an approval column: {text:?}");
            }
        }
    }
    let response = otlp::response(out.rejected_count() as i64, out.rejection_message(), format);
    if out.rejected_count() == 0 && format == Format::Protobuf {
        assert!(response.is_empty());
    }
}

/// What PostgreSQL 15 accepts for `cost_usd::numeric` into `spans.cost_usd
/// numeric(20, 8)` (checked against a live server): at most 16383 digits after
/// the point (NUMERIC_DSCALE_MAX; `'1E-16384'::numeric` is "value overflows
/// numeric format"), and under 10^12 once rounded to 8 decimals.
fn storable_as_numeric_20_8(value: &BigDecimal) -> bool {
    let (_, scale) = value.as_bigint_and_exponent();
    scale <= 16_383 && value.round(8).abs() < BigDecimal::from(1_000_000_000_000i64)
}

pub fn assert_no_nul(value: &Value) {
    match value {
        Value::String(s) => assert!(!s.contains('\0'), "NUL in a JSON string: {s:?}"),
        Value::Array(items) => items.iter().for_each(assert_no_nul),
        Value::Object(map) => {
            for (key, value) in map {
                assert!(!key.contains('\0'), "NUL in a JSON key: {key:?}");
                assert_no_nul(value);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The `redaction` target's input: a control byte choosing the config, then
/// key/value pairs separated by 0xFF (never valid UTF-8, so it cannot occur
/// inside text; each piece is read lossily). A piece starting with 0xFE is a
/// non-string value (number, bool, null or a nested array) instead.
pub fn redaction_input(data: &[u8]) -> (u8, Map<String, Value>) {
    let Some((&ctl, rest)) = data.split_first() else {
        return (0, Map::new());
    };
    let mut attrs = Map::new();
    let mut pieces = rest.split(|b| *b == 0xFF);
    while let Some(key) = pieces.next() {
        let value = match pieces.next() {
            Some([0xFE, tail @ ..]) => match tail.first().copied().unwrap_or(0) % 4 {
                0 => json!(tail.len()),
                1 => json!(tail.len() % 2 == 0),
                2 => Value::Null,
                _ => json!([String::from_utf8_lossy(&tail[1..]), {"k": String::from_utf8_lossy(&tail[1..])}]),
            },
            Some(value) => Value::String(String::from_utf8_lossy(value).into_owned()),
            None => Value::String(String::new()),
        };
        attrs.insert(String::from_utf8_lossy(key).into_owned(), value);
    }
    (ctl, attrs)
}

pub fn check_redaction(ctl: u8, mut attrs: Map<String, Value>) {
    let config = redaction_config(ctl);
    let keys_before: Vec<String> = attrs.keys().cloned().collect();
    redaction::redact(&mut attrs, config);
    for (key, value) in &attrs {
        assert!(!key.contains('\0'), "NUL in a key: {key:?}");
        if let Value::String(s) = value {
            assert!(!s.contains('\0'), "NUL in a value: {s:?}");
        }
        if config.enabled {
            assert_ne!(
                config.key_actions.get(key.as_str()),
                Some(&redaction::Action::Delete),
                "a deleted key survived: {key:?}"
            );
            if !config.allowlist.is_empty() {
                assert!(
                    config.allowlist.contains(key),
                    "a key off the allowlist survived: {key:?}"
                );
            }
        }
    }
    if !config.enabled {
        // Only NUL stripping: no key vanishes except by colliding after stripping.
        let stripped: std::collections::BTreeSet<String> = keys_before.iter().map(|k| k.replace('\0', "")).collect();
        assert_eq!(attrs.len(), stripped.len(), "redaction off drops no key");
    }
}
