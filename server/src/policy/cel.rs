//! The CEL environment shared with the SDK: variables `name` (span name),
//! `attrs` (flat attribute map) and `now` (UTC timestamp). Reading a missing
//! attribute is an evaluation error, never null. Regexes in `matches` use a
//! linear-time engine, and each pattern is compiled once per thread rather
//! than at every call (the crate's own `matches` recompiles it every time,
//! which made regex policies the dominant ingest cost).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, ExecutionError, FunctionContext, Program, Value};
use serde_json::Map;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Match,
    NoMatch,
    /// A parse or runtime error, or a non-boolean result.
    Error,
}

/// Compiles an expression for storage, with the messages the API returns
/// after `invalid match expression: `.
pub fn compile(expression: &serde_json::Value) -> Result<Program, String> {
    let source = match expression {
        serde_json::Value::String(s) => s,
        other => return Err(format!("expression must be a string, got {}", json_type(other))),
    };
    if source.trim().is_empty() {
        return Err("expression must not be empty".into());
    }
    compile_str(source)
}

/// Bounds that keep the recursive parser and evaluator far from the end of
/// a thread's stack, whatever an API caller sends.
const MAX_LEN: usize = 4096;
const MAX_NESTING: usize = 64;
const MAX_MEMBER_ACCESS: usize = 256;

fn too_complex(source: &str) -> Option<String> {
    if source.len() > MAX_LEN {
        return Some(format!("expression must be at most {MAX_LEN} characters"));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Some(format!("expression nests deeper than {MAX_NESTING} levels"));
    }
    if source.matches('.').count() > MAX_MEMBER_ACCESS {
        return Some(format!("expression has more than {MAX_MEMBER_ACCESS} member accesses"));
    }
    None
}

pub fn compile_str(source: &str) -> Result<Program, String> {
    if let Some(problem) = too_complex(source) {
        return Err(problem);
    }
    // The parser may panic on pathological input; a policy write must get a
    // 400, not a 500.
    match std::panic::catch_unwind(|| Program::compile(source)) {
        Ok(Ok(program)) => Ok(program),
        Ok(Err(e)) => Err(format!(
            "failed to compile CEL expression: {}",
            one_line(&e.to_string())
        )),
        Err(_) => Err("failed to compile CEL expression: the parser could not handle this input".into()),
    }
}

/// Where an expression fails to compile: the message the API gives for it
/// on write, and the 1-based line and column the parser points at (for an
/// editor to mark), when it points anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// `None` when `source` compiles.
pub fn diagnose(source: &str) -> Option<Problem> {
    let message = match compile_str(source) {
        Ok(_) => return None,
        Err(message) => message,
    };
    // Only parser errors carry a position; the size bounds above do not.
    let position = std::panic::catch_unwind(|| Program::compile(source))
        .ok()
        .and_then(|r| r.err())
        .and_then(|e| e.errors.first().map(|first| first.pos))
        .filter(|(line, column)| *line >= 1 && *column >= 0);
    Some(Problem {
        message,
        line: position.map(|(line, _)| line as usize),
        column: position.map(|(_, column)| column as usize + 1),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "NoneType",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(n) if n.is_f64() => "float",
        serde_json::Value::Number(_) => "int",
        serde_json::Value::String(_) => "str",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "dict",
    }
}

/// Evaluates `program` against one span.
pub fn evaluate(
    program: &Program,
    name: &str,
    attrs: &Map<String, serde_json::Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Outcome {
    with_span(name, attrs, now, |ctx| run(program, ctx)).unwrap_or(Outcome::Error)
}

thread_local! {
    /// The standard functions plus our `matches`, registered once per
    /// thread rather than for every span.
    static ROOT: Context<'static, 'static> = {
        let mut ctx = Context::default();
        ctx.add_function("matches", matches)
            .expect("the cel crate's regex feature is off, so `matches` is free");
        ctx
    };
}

/// Runs `f` with the variables of one span, built once and shared by every
/// policy evaluated against it; None when the attributes do not convert.
pub fn with_span<R>(
    name: &str,
    attrs: &Map<String, serde_json::Value>,
    now: chrono::DateTime<chrono::Utc>,
    f: impl FnOnce(&Context) -> R,
) -> Option<R> {
    let attrs = cel::to_value(attrs).ok()?;
    Some(ROOT.with(|root| {
        let mut ctx = root.new_inner_scope();
        ctx.add_variable_from_value("name", Value::String(name.to_owned().into()));
        ctx.add_variable_from_value("attrs", attrs);
        ctx.add_variable_from_value("now", Value::Timestamp(now.fixed_offset()));
        f(&ctx)
    }))
}

/// Patterns kept per thread; beyond this many distinct ones the cache starts
/// over (policies change rarely, so the working set is small).
const REGEX_CACHE_SIZE: usize = 512;
/// Compiled-program size bound, so a hostile pattern cannot take memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Result<regex::Regex, String>>> = RefCell::new(HashMap::new());
}

/// CEL `matches`, as `text.matches(re)` or `matches(text, re)`.
fn matches(ftx: &FunctionContext, This(text): This<Arc<String>>, pattern: Arc<String>) -> Result<bool, ExecutionError> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern.as_str()) {
            if cache.len() >= REGEX_CACHE_SIZE {
                cache.clear();
            }
            let compiled = regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| e.to_string());
            cache.insert(pattern.to_string(), compiled);
        }
        match &cache[pattern.as_str()] {
            Ok(re) => Ok(re.is_match(&text)),
            Err(e) => Err(ftx.error(format!("'{pattern}' not a valid regex:\n{e}"))),
        }
    })
}

pub fn run(program: &Program, ctx: &Context) -> Outcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(ctx))) {
        Ok(Ok(Value::Bool(true))) => Outcome::Match,
        Ok(Ok(Value::Bool(false))) => Outcome::NoMatch,
        _ => Outcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_point_at_their_position() {
        assert_eq!(diagnose("name == 'x'"), None);
        let p = diagnose("name == 'x' &&\n  attrs[").unwrap();
        assert!(p.message.starts_with("failed to compile CEL expression:"), "{p:?}");
        assert_eq!(p.line, Some(2), "{p:?}");
        assert!(p.column.unwrap() >= 3, "{p:?}");
        let long = diagnose(&"a".repeat(5000)).unwrap();
        assert_eq!((long.line, long.column), (None, None));
    }
    use chrono::TimeZone as _;
    use serde_json::json;

    fn run(expr: &str, attrs: serde_json::Value) -> Outcome {
        let program = compile_str(expr).unwrap();
        let now = chrono::Utc.with_ymd_and_hms(2026, 5, 28, 23, 0, 0).unwrap();
        evaluate(&program, "langgraph.tool.send_email", attrs.as_object().unwrap(), now)
    }

    #[test]
    fn variables_and_missing_keys() {
        let attrs =
            json!({"gen_ai.tool.name": "send_email", "strathon.tool.args": "{\"to\": \"x@rival.com\"}", "n": 3});
        assert_eq!(
            run(r#"attrs["gen_ai.tool.name"] == "send_email""#, attrs.clone()),
            Outcome::Match
        );
        assert_eq!(
            run(r#"name.startsWith("langgraph.tool")"#, attrs.clone()),
            Outcome::Match
        );
        assert_eq!(
            run(r#"attrs["strathon.tool.args"].contains("@rival.com")"#, attrs.clone()),
            Outcome::Match
        );
        assert_eq!(run(r#"attrs["missing"] == "x""#, attrs.clone()), Outcome::Error);
        assert_eq!(run(r#""missing" in attrs"#, attrs.clone()), Outcome::NoMatch);
        assert_eq!(run(r#"attrs.n > 2"#, attrs.clone()), Outcome::Match);
        assert_eq!(
            run(r#""a string""#, attrs),
            Outcome::Error,
            "non-boolean results are errors at the receiver"
        );
    }

    #[test]
    fn timestamps_regexes_and_time_zones() {
        let attrs = json!({"tool": "rm -rf"});
        assert_eq!(run("now.getHours() == 23", attrs.clone()), Outcome::Match);
        assert_eq!(
            run(
                r#"now.getDayOfWeek() == 4 && now.getDayOfWeek("+05:30") == 5"#,
                attrs.clone()
            ),
            Outcome::Match
        );
        assert_eq!(
            run(r#"now.getHours("America/Los_Angeles") == 16"#, attrs.clone()),
            Outcome::Match
        );
        assert_eq!(run(r#"attrs.tool.matches("^rm\\s")"#, attrs.clone()), Outcome::Match);
        assert_eq!(run(r#"attrs.tool.matches("(?i)^RM")"#, attrs.clone()), Outcome::Match);
        assert_eq!(run(r#"matches(attrs.tool, "-rf$")"#, attrs.clone()), Outcome::Match);
        // Cached patterns answer the same on every call, per subject.
        for _ in 0..3 {
            assert_eq!(run(r#"attrs.tool.matches("^ls")"#, attrs.clone()), Outcome::NoMatch);
            assert_eq!(run(r#"name.matches("^langgraph")"#, attrs.clone()), Outcome::Match);
        }
        assert_eq!(run(r#"attrs.tool.matches("(")"#, attrs.clone()), Outcome::Error);
        assert_eq!(
            run(r#"attrs.tool.matches("a{1000}{1000}")"#, attrs),
            Outcome::Error,
            "too big to compile"
        );
    }

    #[test]
    fn compile_errors_are_messages_not_panics() {
        assert_eq!(compile(&json!(5)).unwrap_err(), "expression must be a string, got int");
        assert_eq!(compile(&json!("  ")).unwrap_err(), "expression must not be empty");
        assert!(compile(&json!("attrs["))
            .unwrap_err()
            .starts_with("failed to compile CEL expression:"));
        for nasty in ["((((((((((", "\"unterminated", "a.b.c(", "1 +", "}{"] {
            assert!(compile(&json!(nasty)).is_err(), "{nasty}");
        }
        // Deep expressions are refused before the recursive parser sees them.
        let deep = format!("attrs{} == 1", ".b".repeat(5000));
        assert_eq!(
            compile(&json!(deep)).unwrap_err(),
            "expression must be at most 4096 characters"
        );
        let chained = format!("attrs{} == 1", ".b".repeat(300));
        assert!(compile(&json!(chained)).unwrap_err().contains("member accesses"));
        let nested = format!("{}true{}", "(".repeat(100), ")".repeat(100));
        assert!(compile(&json!(nested)).unwrap_err().contains("nests deeper"));
    }
}
