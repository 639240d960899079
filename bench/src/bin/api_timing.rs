//! `strathon-api-timing`: how long API calls take against a running receiver.
//!
//! Each round sends every `--call` once, in the order given, one after the
//! other, on one keep-alive HTTP client (so connection setup is paid in the
//! warm-up only). The time of a call runs from sending the request to having
//! read the whole response body. Rounds repeat for `--seconds` or
//! `--rounds`, with `--pause-ms` between rounds; `--warmup-rounds` rounds go
//! first and are not timed. Only 2xx answers are timed; anything else (or a
//! transport error) counts as an error. Output: one JSON line per call,
//! `{"call","n","errors","p50_ms","p90_ms","p99_ms","max_ms"}` (plus
//! `first_error` when there were errors), nearest-rank percentiles over the
//! `n` timed 2xx calls (null when there were none).
//!
//! ```text
//! strathon-api-timing --endpoint http://127.0.0.1:4318 \
//!   --call 'policies=GET /v1/policies' \
//!   --call 'sync=POST /v1/intervention/sync {}' --seconds 5 --pause-ms 10
//! ```

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use strathon_bench::percentile;

#[derive(Debug, Clone)]
struct Call {
    name: String,
    method: Method,
    path: String,
    body: Option<String>,
}

/// `NAME=METHOD PATH [JSON BODY]`: the name ends at the first `=`, the path
/// at the first space after the method; the rest, if any, is a JSON body.
fn parse_call(raw: &str) -> Result<Call, String> {
    let (name, rest) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=METHOD PATH [JSON BODY], got {raw:?}"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!(
            "expected NAME=METHOD PATH [JSON BODY] with a one-word NAME, got {raw:?}"
        ));
    }
    let rest = rest.trim_start();
    let (method, rest) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("expected NAME=METHOD PATH [JSON BODY], got {raw:?}"))?;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    let rest = rest.trim_start();
    let (path, body) = match rest.split_once(char::is_whitespace) {
        Some((path, body)) if !body.trim().is_empty() => (path, Some(body.trim().to_owned())),
        Some((path, _)) => (path, None),
        None => (rest, None),
    };
    if !path.starts_with('/') {
        return Err(format!("the path of {name:?} must start with '/', got {path:?}"));
    }
    if let Some(body) = &body {
        serde_json::from_str::<Value>(body).map_err(|e| format!("the body of {name:?} is not JSON: {e}"))?;
    }
    Ok(Call {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        body,
    })
}

#[derive(Parser)]
#[command(
    name = "strathon-api-timing",
    about = "Times HTTP calls against a running Strathon receiver (one JSON line per call)"
)]
struct Args {
    /// Receiver base URL.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,

    /// API key sent as `Authorization: Bearer <key>`.
    #[arg(long, env = "STRATHON_API_KEY", default_value = strathon_bench::DEV_KEY, hide_env_values = true)]
    key: String,

    /// A call to time: `NAME=METHOD PATH [JSON BODY]`, e.g.
    /// `policies=GET /v1/policies` or `sync=POST /v1/intervention/sync {}`.
    /// Repeat for several; each round sends them in this order.
    #[arg(long = "call", value_name = "NAME=METHOD PATH [JSON BODY]", required = true, value_parser = parse_call)]
    calls: Vec<Call>,

    /// Keep sampling for this many seconds (at least one round).
    #[arg(long, conflicts_with = "rounds")]
    seconds: Option<f64>,

    /// Timed rounds (20 unless --seconds is given).
    #[arg(long)]
    rounds: Option<u64>,

    /// Untimed rounds first (connection setup, caches).
    #[arg(long, default_value_t = 1)]
    warmup_rounds: u64,

    /// Pause between rounds, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,

    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    errors: u64,
    first_error: Option<String>,
}

/// Sends one call; Ok(elapsed ms) for a 2xx, Err(what went wrong) otherwise.
async fn send(client: &reqwest::Client, base: &str, auth: &str, call: &Call) -> Result<f64, String> {
    let mut request = client
        .request(call.method.clone(), format!("{base}{}", call.path))
        .header(AUTHORIZATION, auth)
        .header(ACCEPT, "application/json");
    if let Some(body) = &call.body {
        request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
    }
    let started = Instant::now();
    let response = request.send().await.map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_success() {
        Ok(elapsed)
    } else {
        Err(format!(
            "HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    }
}

fn round3(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(s) = args.seconds {
        if !(s.is_finite() && s > 0.0) {
            bail!("--seconds must be a positive number");
        }
    }
    let base = args.endpoint.trim_end_matches('/').to_owned();
    let auth = format!("Bearer {}", args.key);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .context("building the HTTP client")?;
    let pause = Duration::from_millis(args.pause_ms);

    for _ in 0..args.warmup_rounds {
        for call in &args.calls {
            if let Err(e) = send(&client, &base, &auth, call).await {
                eprintln!("strathon-api-timing: warm-up {}: {e}", call.name);
            }
        }
        tokio::time::sleep(pause).await;
    }

    let mut samples: Vec<Samples> = args.calls.iter().map(|_| Samples::default()).collect();
    let rounds = args.rounds.unwrap_or(20);
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut done = 0u64;
    loop {
        match deadline {
            Some(d) if done > 0 && Instant::now() >= d => break,
            None if done >= rounds => break,
            _ => {}
        }
        for (call, s) in args.calls.iter().zip(samples.iter_mut()) {
            match send(&client, &base, &auth, call).await {
                Ok(ms) => s.ms.push(ms),
                Err(e) => {
                    s.errors += 1;
                    if s.first_error.is_none() {
                        eprintln!(
                            "strathon-api-timing: {} ({} {}): {e}",
                            call.name, call.method, call.path
                        );
                        s.first_error = Some(e);
                    }
                }
            }
        }
        done += 1;
        if pause > Duration::ZERO {
            tokio::time::sleep(pause).await;
        }
    }

    let mut out = std::io::stdout().lock();
    for (call, s) in args.calls.iter().zip(samples.iter_mut()) {
        s.ms.sort_by(f64::total_cmp);
        // Keys in a fixed order (serde_json's map would sort them).
        let mut line = format!(
            r#"{{"call":{},"n":{},"errors":{},"p50_ms":{},"p90_ms":{},"p99_ms":{},"max_ms":{}"#,
            json!(call.name),
            s.ms.len(),
            s.errors,
            round3(percentile(&s.ms, 50.0)),
            round3(percentile(&s.ms, 90.0)),
            round3(percentile(&s.ms, 99.0)),
            round3(s.ms.last().copied().unwrap_or(f64::NAN)),
        );
        if let Some(e) = &s.first_error {
            line.push_str(&format!(r#","first_error":{}"#, json!(e)));
        }
        line.push('}');
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calls() {
        let c = parse_call("policies=GET /v1/policies").unwrap();
        assert_eq!(
            (c.name.as_str(), c.method.as_str(), c.path.as_str()),
            ("policies", "GET", "/v1/policies")
        );
        assert!(c.body.is_none());
        let c = parse_call("sync=post /v1/intervention/sync {\"a\": [1, 2]}").unwrap();
        assert_eq!(c.method, Method::POST);
        assert_eq!(c.body.as_deref(), Some("{\"a\": [1, 2]}"));
        let c = parse_call("q=GET /v1/spans?agent_name=a%3Db&sort=name:asc").unwrap();
        assert_eq!(c.path, "/v1/spans?agent_name=a%3Db&sort=name:asc");
        assert!(parse_call("GET /v1/policies").is_err());
        assert!(parse_call("x=GET v1/policies").is_err());
        assert!(parse_call("x=POST /v1/policies {nope").is_err());
    }
}
