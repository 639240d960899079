//! PII and credential redaction of span attributes before they are stored (api §2.7,
//! internals §4.11).
//!
//! Policy evaluation runs on the raw attributes; only the persisted copy passes through
//! here. Every pattern runs on the linear-time `regex` crate and is compiled once. The
//! receiver this replaces used one backtracking pattern (US phone numbers, which needed
//! look-around); the look-around is emulated by inspecting the characters around each
//! candidate and, when they disqualify it, searching again one character later — which
//! is what the backtracking engine did.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use regex::{Match, Regex, RegexSet};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

/// What to do with a matched entity or a whole attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Redact,
    Mask,
    Hash,
    Delete,
}

impl Action {
    fn parse(value: &Value, allow_delete: bool) -> Option<Self> {
        match value.as_str()? {
            "redact" => Some(Self::Redact),
            "mask" => Some(Self::Mask),
            "hash" => Some(Self::Hash),
            "delete" if allow_delete => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Per-project redaction settings, resolved once per ingest batch.
#[derive(Debug, Clone, Default)]
pub struct RedactionConfig {
    pub enabled: bool,
    pub credential_scan: bool,
    pub allowlist: Vec<String>,
    pub key_actions: HashMap<String, Action>,
    pub strategy: HashMap<String, Action>,
    pub custom: Vec<(String, Regex)>,
}

impl RedactionConfig {
    /// Builds the config from the `project_settings` JSON columns (`pii_redaction_patterns`,
    /// `pii_redaction_strategy`, `pii_redaction_key_actions`, `pii_attribute_allowlist`);
    /// tolerant of malformed values.
    ///
    /// A malformed column never fails ingest: a wrong shape reads as empty, one unknown
    /// action name discards its whole map, and a regex that does not compile is skipped.
    #[must_use]
    pub fn from_settings(
        enabled: bool,
        credential_scan: bool,
        patterns: &Value,
        strategy: &Value,
        key_actions: &Value,
        allowlist: &Value,
    ) -> Self {
        if !enabled {
            return Self {
                credential_scan,
                ..Self::default()
            };
        }
        Self {
            enabled,
            credential_scan,
            allowlist: parse_allowlist(allowlist),
            key_actions: parse_action_map(key_actions, true),
            strategy: parse_action_map(strategy, false),
            custom: parse_custom_patterns(patterns),
        }
    }

    fn action_for(&self, entity: &str) -> Action {
        self.strategy.get(entity).copied().unwrap_or(Action::Redact)
    }
}

fn parse_action_map(raw: &Value, allow_delete: bool) -> HashMap<String, Action> {
    let Value::Object(entries) = raw else {
        return HashMap::new();
    };
    // One bad entry voids the whole map rather than just itself: a half-applied
    // strategy is harder for an operator to reason about than the documented default.
    entries
        .iter()
        .map(|(key, value)| Action::parse(value, allow_delete).map(|action| (key.clone(), action)))
        .collect::<Option<HashMap<_, _>>>()
        .unwrap_or_default()
}

fn parse_allowlist(raw: &Value) -> Vec<String> {
    // Entries of other types are stringified rather than dropped so that a malformed but
    // non-empty allowlist still means "deny by default" instead of silently allowing all.
    match raw {
        Value::Array(items) => items.iter().map(python_str).collect(),
        _ => Vec::new(),
    }
}

fn parse_custom_patterns(raw: &Value) -> Vec<(String, Regex)> {
    let Value::Array(entries) = raw else {
        return Vec::new();
    };
    entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            // Numbering counts every entry, skipped ones included, so a name does not
            // shift when an earlier entry is fixed or broken.
            let fallback = || format!("CUSTOM_{}", index + 1);
            let (name, source) = match entry {
                Value::Object(fields) => (
                    fields
                        .get("name")
                        .filter(|v| truthy(v))
                        .map_or_else(fallback, python_str),
                    fields
                        .get("regex")
                        .filter(|v| truthy(v))
                        .map(python_str)
                        .unwrap_or_default(),
                ),
                Value::String(source) => (fallback(), source.clone()),
                _ => return None,
            };
            if source.is_empty() {
                return None;
            }
            Regex::new(&source).ok().map(|regex| (name, regex))
        })
        .collect()
}

/// Truthiness as the settings were written for (Python): empty and zero values are unset.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Text of a non-string setting the way the original receiver coerced it (`str(x)`).
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

/// Values longer than this (in characters) skip the base64 rescan, which decodes and
/// rescans every candidate chunk and is the costliest pass on large payloads.
const BASE64_SCAN_MAX_CHARS: usize = 262_144;
/// Shorter strings (model names, status codes) cannot hold a meaningful credential.
const CREDENTIAL_SCAN_MIN_CHARS: usize = 20;
const BASE64_PLACEHOLDER: &str = "[BASE64_PII_REDACTED]";
const BASE64_STRATEGY_KEY: &str = "base64_pii";

/// Redacts in place.
pub fn redact(attrs: &mut Map<String, Value>, config: &RedactionConfig) {
    // NUL cannot be stored in Postgres text/jsonb, so this runs even when redaction is off.
    strip_nul(attrs);
    if !config.enabled {
        return;
    }

    if !config.allowlist.is_empty() {
        let allowed: HashSet<&str> = config.allowlist.iter().map(String::as_str).collect();
        attrs.retain(|key, _| allowed.contains(key.as_str()));
    }
    if !config.key_actions.is_empty() {
        attrs.retain(|key, _| config.key_actions.get(key) != Some(&Action::Delete));
    }

    for (key, value) in attrs.iter_mut() {
        let Value::String(text) = value else {
            continue;
        };
        *text = match config.key_actions.get(key) {
            Some(&action) => apply_action(text, &key.to_uppercase().replace('.', "_"), action),
            None => redact_text(std::mem::take(text), config),
        };
    }
}

fn strip_nul(attrs: &mut Map<String, Value>) {
    if attrs.keys().any(|key| key.contains('\0')) {
        // Rebuilt rather than patched because a stripped key may collide with an existing
        // one; whichever comes later in the map's iteration order wins.
        let old = std::mem::take(attrs);
        for (mut key, mut value) in old {
            key.retain(|c| c != '\0');
            if let Value::String(text) = &mut value {
                text.retain(|c| c != '\0');
            }
            attrs.insert(key, value);
        }
        return;
    }
    for value in attrs.values_mut() {
        if let Value::String(text) = value {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
            }
        }
    }
}

fn redact_text(raw: impl Into<String>, config: &RedactionConfig) -> String {
    // Normalizing first defeats evasion through full-width digits, ligatures and
    // invisible control characters; the normalized text is stored even if nothing matched.
    let mut text = normalized(raw.into());

    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    if chars <= BASE64_SCAN_MAX_CHARS {
        text = rescan_base64(text, config);
    }
    if config.credential_scan && chars >= CREDENTIAL_SCAN_MIN_CHARS {
        text = super::credentials::redact(text).0;
    }
    // The set answers which entities can match at all; a pass runs only for
    // those, and the set is asked again after a pass changed the text, so the
    // passes still see each other's placeholders in order.
    let mut candidates = ENTITY_SET.matches(&text);
    for (i, entity) in ENTITIES.iter().enumerate() {
        if !candidates.matched(i) {
            continue;
        }
        let (next, replaced) = substitute(
            text,
            &entity.regex,
            entity.guard,
            entity.validator,
            entity.name,
            config.action_for(entity.name),
        );
        text = next;
        if replaced {
            candidates = ENTITY_SET.matches(&text);
        }
    }
    for (name, regex) in &config.custom {
        text = substitute(text, regex, None, None, name, config.action_for(name)).0;
    }
    text
}

/// NFKC without control characters other than tab, newline and carriage
/// return. ASCII is its own NFKC form, and most attribute text is ASCII, so
/// such text skips the normalizer and, when clean, is kept without a copy.
fn normalized(raw: String) -> String {
    let keep = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    if raw.is_ascii() {
        if raw.chars().all(keep) {
            return raw;
        }
        return raw.chars().filter(|&c| keep(c)).collect();
    }
    raw.nfkc().filter(|&c| keep(c)).collect()
}

fn apply_action(matched: &str, entity: &str, action: Action) -> String {
    match action {
        Action::Mask => {
            let len = matched.chars().count();
            if len <= 4 {
                return "*".repeat(len);
            }
            let tail = matched.char_indices().nth(len - 4).map_or(0, |(at, _)| at);
            format!("{}{}", "*".repeat(len - 4), &matched[tail..])
        }
        Action::Hash => {
            let digest = ring::digest::digest(&ring::digest::SHA256, matched.as_bytes());
            let hex = hex::encode(&digest.as_ref()[..6]);
            format!("[{entity}:{hex}]")
        }
        // Delete has no meaning for part of a value; the settings loader never lets it
        // into a strategy, and a hand-built config still must not leak the match.
        Action::Redact | Action::Delete => format!("[{entity}]"),
    }
}

// ---- Matching machinery -------------------------------------------------------------

/// Stands in for look-around: accepts or rejects a candidate given its surroundings.
type Guard = fn(&str, usize, usize) -> bool;
/// Checksum-style confirmation; a rejected match is kept verbatim.
type Validator = fn(&str) -> bool;

fn next_char_boundary(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(1, char::len_utf8)
}

fn next_match<'t>(regex: &Regex, guard: Option<Guard>, text: &'t str, mut from: usize) -> Option<Match<'t>> {
    while from <= text.len() {
        let found = regex.find_at(text, from)?;
        match guard {
            Some(accept) if !accept(text, found.start(), found.end()) => {
                from = next_char_boundary(text, found.start());
            }
            _ => return Some(found),
        }
    }
    None
}

/// One global substitution pass, and whether it replaced anything. Validator failures
/// resume after the rejected match (as `re.sub` does); guard failures resume one
/// character later (as look-around does).
fn substitute(
    text: String,
    regex: &Regex,
    guard: Option<Guard>,
    validator: Option<Validator>,
    entity: &str,
    action: Action,
) -> (String, bool) {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = next_match(regex, guard, &text, from) {
        if found.is_empty() {
            // An operator pattern that can match nothing would otherwise stamp a
            // placeholder between every character.
            from = next_char_boundary(&text, found.start());
            continue;
        }
        from = found.end();
        if validator.is_some_and(|valid| !valid(found.as_str())) {
            continue;
        }
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..found.start()]);
        buf.push_str(&apply_action(found.as_str(), entity, action));
        copied = found.end();
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            (buf, true)
        }
        None => (text, false),
    }
}

/// Rewrites a pattern written for RE2 so it keeps RE2's meaning here: RE2's Perl classes
/// and word boundary are ASCII-only, while this crate's are Unicode-aware by default.
/// The ASCII boundary also keeps every search on the fast DFA path for non-ASCII text.
pub(crate) fn re2_compat(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    out.push(c);
                    break;
                };
                let replacement = match (escaped, in_class) {
                    ('s', false) => r"[\t\n\x0C\r ]",
                    ('s', true) => r"\t\n\x0C\r ",
                    ('d', false) => "[0-9]",
                    ('d', true) => "0-9",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('w', true) => "0-9A-Za-z_",
                    ('b', false) => r"(?-u:\b)",
                    _ => {
                        out.push(c);
                        out.push(escaped);
                        continue;
                    }
                };
                out.push_str(replacement);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile_re2(pattern: &str) -> Regex {
    Regex::new(&re2_compat(pattern)).expect("built-in redaction pattern compiles")
}

// ---- Default entities ---------------------------------------------------------------

struct Entity {
    name: &'static str,
    regex: Regex,
    guard: Option<Guard>,
    validator: Option<Validator>,
}

/// Order matters: each pass sees the previous passes' placeholders. Keys go first because
/// leaking one is the worst outcome, e-mail before the numeric heuristics so they cannot
/// bite into a local part, and card numbers before phone numbers.
static ENTITIES: LazyLock<Vec<Entity>> = LazyLock::new(|| {
    let entity = |name, pattern: &str, guard, validator| Entity {
        name,
        regex: compile_re2(pattern),
        guard,
        validator,
    };
    vec![
        entity(
            "API_KEY",
            concat!(
                r"\b(?:",
                r"sk-[A-Za-z0-9]{20,}",
                r"|sk_(?:live|test)_[A-Za-z0-9]{20,}",
                r"|pk_(?:live|test)_[A-Za-z0-9]{20,}",
                r"|rk_(?:live|test)_[A-Za-z0-9]{20,}",
                r"|ghp_[A-Za-z0-9]{36}",
                r"|github_pat_[A-Za-z0-9_]{82}",
                r"|whsec_[A-Za-z0-9+/=]{20,}",
                r"|xox[abprs]-[A-Za-z0-9\-]{10,}",
                r"|AKIA[0-9A-Z]{16}",
                r"|AIza[0-9A-Za-z\-_]{35}",
                r"|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
                r")\b",
            ),
            None,
            None,
        ),
        entity(
            "EMAIL_ADDRESS",
            r"\b[a-zA-Z0-9._%+\-]+@[a-zA-Z0-9.\-]+\.[a-zA-Z]{2,}\b",
            None,
            None,
        ),
        // Bech32 (bc1…), legacy base58 (1…/3…) and Ethereum (0x + 40 hex).
        entity(
            "CRYPTO",
            r"\b(?:bc1[02-9ac-hj-np-z]{39,59}|[13][1-9A-HJ-NP-Za-km-z]{25,34}|0x[0-9a-fA-F]{40})\b",
            None,
            None,
        ),
        entity(
            "IBAN_CODE",
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            None,
            Some(iban_valid),
        ),
        Entity {
            name: "CREDIT_CARD",
            regex: Regex::new(r"(?-u:\b)(?:\d[ \-]?){12,18}\d(?-u:\b)").expect("built-in redaction pattern compiles"),
            guard: Some(not_in_identifier),
            validator: Some(luhn_valid),
        },
        // ITIN group digits 50–65, 70–88, 90–92, 94–99. Separators are required (and must
        // agree) for the same reason as for SSNs: bare nine-digit runs are mostly IDs.
        entity(
            "US_ITIN",
            r"\b9\d{2}(?:-(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])-| (?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9]) )\d{4}\b",
            None,
            None,
        ),
        entity("US_SSN", r"\b\d{3}-\d{2}-\d{4}\b", None, None),
        entity(
            "IN_AADHAAR",
            r"\b[2-9]\d{3}(?:\d{8}|-\d{4}-\d{4}| \d{4} \d{4})\b",
            Some(not_in_identifier),
            Some(verhoeff_valid),
        ),
        // The one pattern the original ran on Python `re`, so its classes stay Unicode.
        Entity {
            name: "PHONE_NUMBER",
            regex: Regex::new(r"(?:\(\d{3}\)\s?|\d{3}[\-.])\d{3}[\-.]\d{4}")
                .expect("built-in redaction pattern compiles"),
            guard: Some(phone_guard),
            validator: None,
        },
        entity(
            "IP_ADDRESS",
            r"\b(?:25[0-5]|2[0-4]\d|1\d{2}|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d{2}|[1-9]?\d)){3}\b",
            None,
            None,
        ),
        // Full eight-group form first: alternation is leftmost-first, not longest.
        entity(
            "IPV6_ADDRESS",
            concat!(
                r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
                r"|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?",
                r"|::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}",
            ),
            Some(ipv6_guard),
            None,
        ),
    ]
});

/// Every entity's pattern in one automaton, indexed like `ENTITIES`: clean
/// text, the common case, is scanned once rather than once per entity. It
/// knows no guards or validators, so it tells which entities *may* match.
static ENTITY_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(ENTITIES.iter().map(|e| e.regex.as_str())).expect("built-in redaction patterns compile")
});

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_decimal_digit(c: char) -> bool {
    static DECIMAL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\d$").expect("built-in redaction pattern compiles"));
    c.is_ascii_digit() || (!c.is_ascii() && DECIMAL.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Replaces `(?<![\d\w])` … `(?!\d)`: a phone-shaped piece of a longer number or
/// identifier is not a phone number.
fn phone_guard(text: &str, start: usize, end: usize) -> bool {
    !text[..start].chars().next_back().is_some_and(is_word_char)
        && !text[end..].chars().next().is_some_and(is_decimal_digit)
}

/// Accepts an IPv6 candidate only when it is not a fragment of a longer colon/hex run
/// (MAC-like or over-long sequences) and a `::` form has at most seven explicit groups.
fn ipv6_guard(text: &str, start: usize, end: usize) -> bool {
    if text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| is_word_char(c) || c == ':')
    {
        return false;
    }
    let mut after = text[end..].chars();
    match after.next() {
        Some(c) if is_word_char(c) => return false,
        Some(':') if after.next().is_some_and(|c| c == ':' || c.is_ascii_hexdigit()) => return false,
        _ => {}
    }
    let body = &text[start..end];
    !body.contains("::") || body.split(':').filter(|group| !group.is_empty()).count() <= 7
}

/// Digit groups glued to more hex by hyphens are pieces of a UUID or a
/// longer identifier, not a card number.
fn not_in_identifier(text: &str, start: usize, end: usize) -> bool {
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let glued = |sep: Option<char>, next: Option<char>| sep == Some('-') && next.is_some_and(|c| c.is_ascii_hexdigit());
    !glued(before.next(), before.next()) && !glued(after.next(), after.next())
}

fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    // No issuer number starts with 0, and a run of one digit (all zeros
    // passes Luhn) is a placeholder, not a card.
    if digits[0] == 0 || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616: move the first four characters to the end, read letters as 10–35, and the
/// number must be 1 modulo 97. Folding digit by digit avoids big-integer arithmetic.
fn iban_valid(candidate: &str) -> bool {
    let compact: Vec<char> = candidate.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let mut remainder: u32 = 0;
    for c in compact[4..].iter().chain(&compact[..4]) {
        let Some(value) = c.to_digit(36) else {
            return false;
        };
        remainder = if value < 10 {
            (remainder * 10 + value) % 97
        } else {
            (remainder * 100 + value) % 97
        };
    }
    remainder == 1
}

/// Verhoeff check (dihedral group D5), the checksum UIDAI uses for Aadhaar numbers.
fn verhoeff_valid(candidate: &str) -> bool {
    const MULTIPLY: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const PERMUTE: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let digits: Vec<usize> = candidate
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| usize::from(b - b'0'))
        .collect();
    if digits.len() != 12 {
        return false;
    }
    let check = digits.iter().rev().enumerate().fold(0usize, |acc, (i, &d)| {
        usize::from(MULTIPLY[acc][usize::from(PERMUTE[i % 8][d])])
    });
    check == 0
}

// ---- Base64 rescan ------------------------------------------------------------------

static BASE64_RUN: LazyLock<Regex> = LazyLock::new(|| compile_re2(r"[A-Za-z0-9+/]{20,}={0,2}"));

/// Padding is checked by hand (below) to match Python's `b64decode`, which ignores
/// surplus padding and non-zero trailing bits; the engine only sees the data characters.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

fn decode_base64_text(chunk: &str) -> Option<String> {
    let data = chunk.trim_end_matches('=');
    let padding = chunk.len() - data.len();
    let complete = match data.len() % 4 {
        0 => true,
        2 => padding >= 2,
        3 => padding >= 1,
        _ => false,
    };
    if !complete {
        return None;
    }
    String::from_utf8(LENIENT_BASE64.decode(data).ok()?).ok()
}

/// Encoding PII in base64 must not be a way around redaction. Validators are not applied
/// to the decoded text: any entity-shaped content condemns the chunk.
fn rescan_base64(text: String, config: &RedactionConfig) -> String {
    if config
        .strategy
        .get(BASE64_STRATEGY_KEY)
        .is_some_and(|a| *a != Action::Redact)
    {
        return text;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    for chunk in BASE64_RUN.find_iter(&text) {
        let hides_pii = decode_base64_text(chunk.as_str()).is_some_and(|decoded| {
            ENTITY_SET.matches(&decoded).iter().any(|i| {
                let e = &ENTITIES[i];
                next_match(&e.regex, e.guard, &decoded, 0).is_some()
            })
        });
        if hides_pii {
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[copied..chunk.start()]);
            buf.push_str(BASE64_PLACEHOLDER);
            copied = chunk.end();
        }
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            buf
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enabled() -> RedactionConfig {
        RedactionConfig {
            enabled: true,
            credential_scan: true,
            ..RedactionConfig::default()
        }
    }

    fn with_strategy(pairs: &[(&str, Action)]) -> RedactionConfig {
        let mut config = enabled();
        config.strategy = pairs.iter().map(|&(k, a)| (k.to_owned(), a)).collect();
        config
    }

    fn scrub(text: &str) -> String {
        redact_text(text, &enabled())
    }

    fn attrs(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test fixture is an object"),
        }
    }

    fn sha12(text: &str) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())[..12].to_owned()
    }

    // ---- entities ----

    #[test]
    fn api_key_entity() {
        let cfg = RedactionConfig {
            credential_scan: false,
            ..enabled()
        };
        assert_eq!(
            redact_text("use sk-abcdefghijklmnopqrstuv now", &cfg),
            "use [API_KEY] now"
        );
        assert_eq!(redact_text("key AKIAIOSFODNN7EXAMPLE here", &cfg), "key [API_KEY] here");
        assert_eq!(scrub("use sk-short now"), "use sk-short now");
    }

    #[test]
    fn email() {
        assert_eq!(
            scrub("contact alice@example.com please"),
            "contact [EMAIL_ADDRESS] please"
        );
        assert_eq!(scrub("foo@bar is not an email"), "foo@bar is not an email");
    }

    #[test]
    fn crypto_addresses() {
        assert_eq!(
            scrub("send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT ok"),
            "send to [CRYPTO] ok"
        );
        assert_eq!(scrub("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), "[CRYPTO]");
        assert_eq!(scrub("eth 0x52908400098527886E0F7030069857D2E4169EE7"), "eth [CRYPTO]");
        assert_eq!(scrub("eth 0x5290840009 short"), "eth 0x5290840009 short");
    }

    #[test]
    fn iban_checked_with_mod97() {
        assert_eq!(scrub("pay GB82 WEST 1234 5698 7654 32 today"), "pay [IBAN_CODE] today");
        assert_eq!(scrub("iban DE89370400440532013000"), "iban [IBAN_CODE]");
        assert_eq!(
            scrub("pay GB82 WEST 1234 5698 7654 33 today"),
            "pay GB82 WEST 1234 5698 7654 33 today"
        );
    }

    #[test]
    fn credit_card_checked_with_luhn() {
        assert_eq!(scrub("card 4242 4242 4242 4242 expires"), "card [CREDIT_CARD] expires");
        assert_eq!(scrub("card 5555-5555-5555-4444"), "card [CREDIT_CARD]");
        // UUIDs and placeholder digit runs are not cards.
        assert_eq!(
            scrub("project 00000000-0000-0000-0000-000000000001"),
            "project 00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            scrub("id 12345678-1234-5678-1234-567812345678 end"),
            "id 12345678-1234-5678-1234-567812345678 end"
        );
        assert_eq!(
            scrub("order 1234567890123456 confirmed"),
            "order 1234567890123456 confirmed"
        );
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4242424242424243"));
        assert!(!luhn_valid("123"));
        assert!(!luhn_valid(&"1".repeat(20)));
    }

    #[test]
    fn itin_before_ssn() {
        assert_eq!(scrub("itin 912-70-1234 filed"), "itin [US_ITIN] filed");
        assert_eq!(scrub("itin 912 94 1234 filed"), "itin [US_ITIN] filed");
        // Group 40 is outside the ITIN ranges, so it falls through to the SSN shape.
        assert_eq!(scrub("id 912-40-1234"), "id [US_SSN]");
    }

    #[test]
    fn ssn() {
        assert_eq!(scrub("ssn 123-45-6789 on file"), "ssn [US_SSN] on file");
        assert_eq!(scrub("account 123456789 active"), "account 123456789 active");
    }

    #[test]
    fn aadhaar_checked_with_verhoeff() {
        assert_eq!(scrub("uid 2345 6789 0124 ok"), "uid [IN_AADHAAR] ok");
        assert_eq!(scrub("uid 499118665246"), "uid [IN_AADHAAR]");
        assert_eq!(scrub("uid 2345 6789 0123 ok"), "uid 2345 6789 0123 ok");
        assert_eq!(scrub("uid 1345 6789 0124 ok"), "uid 1345 6789 0124 ok");
    }

    #[test]
    fn us_phone_formats() {
        for phone in ["(555) 123-4567", "(555)123-4567", "555-123-4567", "555.123.4567"] {
            assert_eq!(
                scrub(&format!("call {phone} today")),
                "call [PHONE_NUMBER] today",
                "{phone}"
            );
        }
        assert_eq!(scrub("555-123-4567,555-123-4568"), "[PHONE_NUMBER],[PHONE_NUMBER]");
        assert_eq!(scrub("555-123-4567 555.123.4568"), "[PHONE_NUMBER] [PHONE_NUMBER]");
    }

    #[test]
    fn phone_not_matched_inside_longer_runs() {
        assert_eq!(scrub("ref 9999555.123.45670000 ok"), "ref 9999555.123.45670000 ok");
        assert_eq!(scrub("id x555-123-4567"), "id x555-123-4567");
        assert_eq!(scrub("n 555-123-45678"), "n 555-123-45678");
        // A later phone-shaped piece still counts once its own surroundings qualify.
        assert_eq!(scrub("1555-555-555-1234"), "1555-[PHONE_NUMBER]");
    }

    #[test]
    fn ipv4() {
        assert_eq!(scrub("from 192.168.1.42 today"), "from [IP_ADDRESS] today");
        assert_eq!(scrub("from 255.255.255.255"), "from [IP_ADDRESS]");
        assert_eq!(scrub("version 256.1.1.1"), "version 256.1.1.1");
        assert_eq!(scrub("version 1.2.3"), "version 1.2.3");
    }

    #[test]
    fn ipv6() {
        for addr in [
            "2001:db8::8a2e:370:7334",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "::1",
            "fe80::1",
        ] {
            assert_eq!(scrub(&format!("peer {addr} up")), "peer [IPV6_ADDRESS] up", "{addr}");
        }
        assert_eq!(scrub("[::1]:8080"), "[[IPV6_ADDRESS]]:8080");
        for text in [
            "at 12:30:45",
            "std::vector<int>",
            "mac 00:1a:2b:3c:4d:5e",
            "a :: b",
            "1::2::3",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    // ---- credentials ----

    #[test]
    fn credential_examples() {
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE end", "key [AWS ACCESS KEY ID_REDACTED] end"),
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 end",
                "token [GITHUB PERSONAL ACCESS TOKEN_REDACTED] end",
            ),
            (
                "db postgres://user:hunter2@db.internal:5432/app end",
                "db [POSTGRESQL CONNECTION STRING_REDACTED] end",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
                "[RSA PRIVATE KEY_REDACTED]\nMIIE",
            ),
            (
                "slack xoxb-1234567890-1234567890-abcdefghijklmnopqrstuvwx",
                "slack [SLACK BOT TOKEN_REDACTED]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt [JSON WEB TOKEN_REDACTED]",
            ),
            (
                "hf hf_abcdefghijklmnopqrstuvwxyzABCDEFGH done",
                "hf [HUGGING FACE TOKEN_REDACTED] done",
            ),
            (
                "x xai-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "x [XAI (GROK) API KEY_REDACTED]",
            ),
            (
                "login password=correcthorse99 ok",
                "login [PASSWORD ASSIGNMENT_REDACTED] ok",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(scrub(input), expected, "{input}");
        }
    }

    #[test]
    fn anthropic_key_inside_assignment_merges_into_one_placeholder() {
        let key = format!("sk-ant-api03-{}", "A".repeat(40));
        // generic-api-key covers the whole assignment and starts first, so its name wins.
        assert_eq!(
            scrub(&format!("api_key={key} tail")),
            "[GENERIC API KEY ASSIGNMENT_REDACTED] tail"
        );
        assert_eq!(
            scrub(&format!("use {key} tail")),
            "use [ANTHROPIC API KEY_REDACTED] tail"
        );
    }

    #[test]
    fn overlapping_and_touching_credential_spans_merge() {
        // password=… runs to the next whitespace and swallows the PAT: one placeholder.
        let text = "set password=ghp_abcdefghijklmnopqrstuvwxyz0123456789 now";
        assert_eq!(scrub(text), "set [PASSWORD ASSIGNMENT_REDACTED] now");
        // Two adjacent tokens with no separator touch, so they merge as well.
        let text = "x AKIAIOSFODNN7EXAMPLEghp_abcdefghijklmnopqrstuvwxyz0123456789 y";
        assert_eq!(scrub(text), "x [AWS ACCESS KEY ID_REDACTED] y");
    }

    #[test]
    fn credential_scan_can_be_disabled_and_skips_short_strings() {
        let cfg = RedactionConfig {
            credential_scan: false,
            ..enabled()
        };
        let text = "cache redis://default:hunter2pass@cache:6379/0";
        assert_eq!(redact_text(text, &cfg), text);
        assert_eq!(scrub(text), "cache [REDIS CONNECTION STRING_REDACTED]");
        // Exactly 20 characters is long enough to be scanned.
        assert_eq!(scrub("AKIAIOSFODNN7EXAMPLE"), "[AWS ACCESS KEY ID_REDACTED]");
        assert_eq!(scrub("password=abcdefgh1"), "password=abcdefgh1");
    }

    // ---- base64 ----

    #[test]
    fn base64_encoded_email_is_redacted() {
        let text = "payload Y29udGFjdCBhbGljZUBleGFtcGxlLmNvbSBwbGVhc2U= end";
        assert_eq!(scrub(text), "payload [BASE64_PII_REDACTED] end");
        let harmless = "payload anVzdCBzb21lIGhhcm1sZXNzIHdvcmRzIGhlcmU= end";
        assert_eq!(scrub(harmless), harmless);
        let kept = redact_text(text, &with_strategy(&[("base64_pii", Action::Mask)]));
        assert_eq!(kept, text);
    }

    #[test]
    fn base64_padding_rules_follow_python() {
        assert_eq!(decode_base64_text("QUJD").as_deref(), Some("ABC"));
        assert_eq!(decode_base64_text("QUJD==").as_deref(), Some("ABC"));
        assert_eq!(decode_base64_text("QUJDRA==").as_deref(), Some("ABCD"));
        assert_eq!(decode_base64_text("QUJDRB==").as_deref(), Some("ABCD"));
        assert_eq!(decode_base64_text("QUJDREU=").as_deref(), Some("ABCDE"));
        assert_eq!(decode_base64_text("QUJDRA"), None);
        assert_eq!(decode_base64_text("QUJDRA="), None);
        assert_eq!(decode_base64_text("QUJDR=="), None);
        assert_eq!(decode_base64_text("/w=="), None);
    }

    #[test]
    fn oversized_values_skip_the_base64_pass() {
        let chunk = "Y29udGFjdCBhbGljZUBleGFtcGxlLmNvbSBwbGVhc2U=";
        let text = format!("{} {chunk}", "a ".repeat(BASE64_SCAN_MAX_CHARS / 2));
        assert!(redact_text(&text, &enabled()).ends_with(chunk));
    }

    // ---- normalization ----

    #[test]
    fn nfkc_normalization_exposes_full_width_pii() {
        assert_eq!(
            scrub("ｍａｉｌ ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
            "mail [EMAIL_ADDRESS]"
        );
        assert_eq!(scrub("ssn １２３-４５-６７８９"), "ssn [US_SSN]");
        // The normalized text is stored even when nothing matched.
        assert_eq!(scrub("ﬁle №5"), "file No5");
    }

    #[test]
    fn control_characters_stripped_except_whitespace() {
        assert_eq!(scrub("a\u{1b}[31mred\u{7}\u{85}\tx\ny\r"), "a[31mred\tx\ny\r");
        // Format characters (Cf) are not Cc and stay.
        assert_eq!(scrub("a\u{200b}b"), "a\u{200b}b");
    }

    // ---- attribute handling ----

    #[test]
    fn nul_stripped_even_when_disabled() {
        let mut map = attrs(json!({"k\u{0}ey": "va\u{0}lue", "n": 1, "nested": ["x\u{0}"]}));
        redact(&mut map, &RedactionConfig::default());
        assert_eq!(
            Value::Object(map),
            json!({"key": "value", "n": 1, "nested": ["x\u{0}"]})
        );

        let mut map = attrs(json!({"email": "alice@exa\u{0}mple.com"}));
        redact(&mut map, &RedactionConfig::default());
        assert_eq!(map["email"], "alice@example.com");
    }

    #[test]
    fn disabled_config_leaves_pii() {
        let mut map = attrs(json!({"args": "send to alice@example.com"}));
        redact(
            &mut map,
            &RedactionConfig::from_settings(false, true, &json!([]), &json!({}), &json!({}), &json!([])),
        );
        assert_eq!(map["args"], "send to alice@example.com");
    }

    #[test]
    fn allowlist_keeps_only_listed_keys() {
        let mut config = enabled();
        config.allowlist = vec!["http.method".into(), "service.name".into()];
        let mut map = attrs(json!({"http.method": "POST", "service.name": "svc", "user.email": "a@b.co", "x": 1}));
        redact(&mut map, &config);
        assert_eq!(
            Value::Object(map),
            json!({"http.method": "POST", "service.name": "svc"})
        );
    }

    #[test]
    fn key_actions() {
        let mut config = enabled();
        config.key_actions = [
            ("http.request.header.authorization", Action::Delete),
            ("user.email", Action::Hash),
            ("user.phone", Action::Mask),
            ("user.name", Action::Redact),
            ("user.id", Action::Mask),
        ]
        .into_iter()
        .map(|(k, a)| (k.to_owned(), a))
        .collect();
        let mut map = attrs(json!({
            "http.request.header.authorization": "Bearer abc",
            "user.email": "alice@example.com",
            "user.phone": "555-123-4567",
            "user.name": "Alice",
            "user.id": 12345,
            "http.method": "POST",
        }));
        redact(&mut map, &config);
        assert!(!map.contains_key("http.request.header.authorization"));
        assert_eq!(
            map["user.email"],
            format!("[USER_EMAIL:{}]", sha12("alice@example.com"))
        );
        assert_eq!(map["user.phone"], "********4567");
        assert_eq!(map["user.name"], "[USER_NAME]");
        assert_eq!(map["user.id"], 12345);
        assert_eq!(map["http.method"], "POST");
    }

    #[test]
    fn key_action_on_non_string_value_leaves_it_untouched() {
        let mut config = enabled();
        config.key_actions.insert("payload".into(), Action::Redact);
        let mut map = attrs(json!({"payload": {"email": "alice@example.com"}, "flag": true}));
        redact(&mut map, &config);
        assert_eq!(map["payload"], json!({"email": "alice@example.com"}));
        assert_eq!(map["flag"], true);
    }

    #[test]
    fn mask_and_hash_formats() {
        let masked = redact_text(
            "card 4242424242424242 today",
            &with_strategy(&[("CREDIT_CARD", Action::Mask)]),
        );
        assert_eq!(masked, "card ************4242 today");
        let masked = redact_text(
            "mail alice@example.com",
            &with_strategy(&[("EMAIL_ADDRESS", Action::Mask)]),
        );
        assert_eq!(masked, "mail *************.com");
        assert_eq!(apply_action("abcd", "X", Action::Mask), "****");
        assert_eq!(apply_action("é", "X", Action::Mask), "*");
        assert_eq!(apply_action("ééééé", "X", Action::Mask), "*éééé");

        let hashed = redact_text(
            "mail alice@example.com",
            &with_strategy(&[("EMAIL_ADDRESS", Action::Hash)]),
        );
        assert_eq!(hashed, "mail [EMAIL_ADDRESS:ff8d9819fc0e]");
        assert_eq!(sha12("alice@example.com"), "ff8d9819fc0e");
    }

    #[test]
    fn custom_patterns_named_and_bare() {
        let patterns = json!([
            {"name": "INTERNAL_ID", "regex": r"\bACCT-\d{8}\b"},
            r"ORD-\d+",
            "(unclosed",
            5,
            {"regex": r"TKT-\d+"},
            {"name": "EMPTY", "regex": ""},
            "x*",
        ]);
        let config = RedactionConfig::from_settings(
            true,
            true,
            &patterns,
            &json!({"CUSTOM_2": "hash"}),
            &json!({}),
            &json!([]),
        );
        let names: Vec<&str> = config.custom.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["INTERNAL_ID", "CUSTOM_2", "CUSTOM_5", "CUSTOM_7"]);
        let out = redact_text("for ACCT-12345678 and ORD-42 and TKT-7 and xx", &config);
        assert_eq!(
            out,
            format!(
                "for [INTERNAL_ID] and [CUSTOM_2:{}] and [CUSTOM_5] and [CUSTOM_7]",
                sha12("ORD-42")
            )
        );
    }

    #[test]
    fn invalid_action_names_void_the_whole_map() {
        let strategy = json!({"EMAIL_ADDRESS": "mask", "US_SSN": "encrypt"});
        let key_actions = json!({"user.email": "delete", "user.ssn": "shred"});
        let config = RedactionConfig::from_settings(true, true, &json!([]), &strategy, &key_actions, &json!([]));
        assert!(config.strategy.is_empty());
        assert!(config.key_actions.is_empty());
        let mut map = attrs(json!({"user.email": "alice@example.com"}));
        redact(&mut map, &config);
        assert_eq!(map["user.email"], "[EMAIL_ADDRESS]");

        // delete is a key action only.
        let config = RedactionConfig::from_settings(
            true,
            true,
            &json!([]),
            &json!({"US_SSN": "delete"}),
            &json!({}),
            &json!([]),
        );
        assert!(config.strategy.is_empty());
        let config = RedactionConfig::from_settings(
            true,
            true,
            &json!([]),
            &json!({"US_SSN": 1}),
            &json!({"k": "delete"}),
            &json!([]),
        );
        assert!(config.strategy.is_empty());
        assert_eq!(config.key_actions.get("k"), Some(&Action::Delete));
    }

    #[test]
    fn from_settings_tolerates_malformed_columns() {
        let config =
            RedactionConfig::from_settings(true, false, &json!("x"), &json!([1]), &json!(null), &json!({"a": 1}));
        assert!(config.enabled && !config.credential_scan);
        assert!(config.custom.is_empty() && config.strategy.is_empty());
        assert!(config.key_actions.is_empty() && config.allowlist.is_empty());
        // A malformed but non-empty allowlist still denies by default.
        let config = RedactionConfig::from_settings(
            true,
            true,
            &json!(null),
            &json!(null),
            &json!(null),
            &json!([null, 7, "k"]),
        );
        assert_eq!(config.allowlist, ["None", "7", "k"]);
    }

    #[test]
    fn nested_and_non_string_values_untouched() {
        let original = json!({
            "list": ["alice@example.com", "123-45-6789"],
            "map": {"ip": "192.168.1.1"},
            "tokens": 1234,
            "ratio": 12.5,
            "stream": true,
            "none": null,
        });
        let mut map = attrs(original.clone());
        redact(&mut map, &enabled());
        assert_eq!(Value::Object(map), original);
    }

    #[test]
    fn multiple_entities_in_one_value() {
        let out = scrub("email alice@example.com, phone 555-123-4567, ssn 123-45-6789, ip 10.0.0.1");
        assert_eq!(
            out,
            "email [EMAIL_ADDRESS], phone [PHONE_NUMBER], ssn [US_SSN], ip [IP_ADDRESS]"
        );
        assert_eq!(scrub(""), "");
        assert_eq!(scrub("just a normal sentence"), "just a normal sentence");
    }

    #[test]
    fn re2_compat_rewrites_perl_classes() {
        assert_eq!(
            re2_compat(r"\bx\d[\s\d]\w"),
            r"(?-u:\b)x[0-9][\t\n\x0C\r 0-9][0-9A-Za-z_]"
        );
        assert_eq!(re2_compat(r"a\.b[\-.]"), r"a\.b[\-.]");
    }

    #[test]
    fn redacting_200_kb_is_fast() {
        let fragments = [
            "The agent called the search tool with query 'quarterly revenue' and got 12 results. ",
            "Contact bob.smith@example.org or call (555) 123-4567 about order 1234567890123456. ",
            "Server 10.20.30.40 and fe80::1 responded; card 4242 4242 4242 4242 was declined. ",
            "Config: password=s3cr3tpassw0rd token ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok. ",
            "Blob Y29udGFjdCBhbGljZUBleGFtcGxlLmNvbSBwbGVhc2U= and naïve café ｆｕｌｌ text 日本語. ",
            "{\"type\": \"service_account\", \"id\": 42, \"ssn\": \"123-45-6789\", \"iban\": \"DE89370400440532013000\"} ",
        ];
        let mut text = String::new();
        while text.len() < 200 * 1024 {
            for fragment in fragments {
                text.push_str(fragment);
            }
        }
        // Compile every pattern first; only the per-value cost is under test.
        let _ = scrub("warm up alice@example.com AKIAIOSFODNN7EXAMPLE");
        let started = std::time::Instant::now();
        let out = scrub(&text);
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_millis(500), "took {elapsed:?}");
        assert!(!out.contains("bob.smith@example.org"));
        assert!(!out.contains("ghp_"));
    }

    #[test]
    fn adversarial_inputs_stay_linear() {
        let size = 200 * 1024;
        let inputs = [
            "A".repeat(size),
            "1234567890".repeat(size / 10),
            "555-555-".repeat(size / 8),
            "a:".repeat(size / 2),
            "1.2.".repeat(size / 4),
            "x@y.".repeat(size / 4),
            "password=".repeat(size / 9),
            "ghp_".repeat(size / 4),
            "eyJ".repeat(size / 3),
            "M".repeat(size),
            "4242 ".repeat(size / 5),
            "=".repeat(size),
        ];
        let _ = scrub("warm up alice@example.com AKIAIOSFODNN7EXAMPLE");
        for input in &inputs {
            let started = std::time::Instant::now();
            let _ = scrub(input);
            let elapsed = started.elapsed();
            assert!(
                elapsed < std::time::Duration::from_millis(1500),
                "{:?} took {elapsed:?}",
                &input[..12]
            );
        }
    }
}
