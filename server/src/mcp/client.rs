//! Forwarding one JSON-RPC message to an upstream MCP server over the
//! streamable-HTTP transport: through the webhook sender's SSRF guard, pinned
//! to the addresses it checked, answering with the server's JSON-RPC
//! response whether it comes as JSON or as a server-sent event stream.

use std::time::Duration;

use serde_json::Value;
use strathon_actors::webhooks::ssrf;

use super::sse::Events;

/// Largest upstream answer read, so a hostile server cannot exhaust memory.
const MAX_BODY: usize = 16 << 20;

/// The MCP session header, sent back and forth as the server asks.
pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";

#[derive(Debug)]
pub enum Failure {
    /// The SSRF guard refused the URL.
    Rejected(String),
    /// No usable answer: transport error, timeout, or something not JSON-RPC.
    Upstream(String),
}

/// What the upstream server answered.
#[derive(Debug)]
pub struct Answer {
    /// The JSON-RPC response, or None for an accepted notification.
    pub message: Option<Value>,
    pub session: Option<String>,
}

pub struct Call<'a> {
    pub url: &'a str,
    pub message: &'a Value,
    pub session: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub timeout: Duration,
    pub guard: ssrf::Guard,
}

pub async fn forward(call: Call<'_>) -> Result<Answer, Failure> {
    let target = ssrf::check(call.url, call.guard).await.map_err(Failure::Rejected)?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(call.timeout)
        .user_agent(strathon_actors::webhooks::USER_AGENT);
    if let Some((host, addrs)) = &target.pin {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::Upstream(format!("cannot build the HTTP client: {e}")))?;
    let mut request = client
        .post(target.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(call.message);
    if let Some(session) = call.session {
        request = request.header(SESSION_HEADER, session);
    }
    if let Some(protocol) = call.protocol {
        request = request.header(PROTOCOL_HEADER, protocol);
    }
    let response = request.send().await.map_err(|e| Failure::Upstream(describe(&e)))?;
    let status = response.status();
    let session = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let streamed = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if status.as_u16() == 202 || status.as_u16() == 204 {
        return Ok(Answer { message: None, session });
    }
    let wanted = call.message.get("id").cloned();
    let message = if streamed {
        read_events(response, wanted.as_ref()).await?
    } else {
        let body = read_body(response).await?;
        serde_json::from_slice::<Value>(&body).ok()
    };
    match message {
        // A JSON-RPC error is an answer whatever the HTTP status says.
        Some(m) if m.get("jsonrpc").is_some() && (m.get("result").is_some() || m.get("error").is_some()) => {
            Ok(Answer {
                message: Some(m),
                session,
            })
        }
        _ if !status.is_success() => Err(Failure::Upstream(format!("HTTP {}", status.as_u16()))),
        _ => Err(Failure::Upstream("the answer is not a JSON-RPC response".into())),
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::Upstream(describe(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Failure::Upstream(format!("answer larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads events until the response to our request arrives (servers may send
/// notifications first, and may keep the stream open after it).
async fn read_events(mut response: reqwest::Response, wanted: Option<&Value>) -> Result<Option<Value>, Failure> {
    let mut events = Events::default();
    let mut read = 0usize;
    let mut bytes = Vec::new();
    let is_answer = |data: &str| {
        serde_json::from_str::<Value>(data)
            .ok()
            .filter(|m| m.get("result").is_some() || m.get("error").is_some())
            .filter(|m| wanted.is_none_or(|id| m.get("id") == Some(id)))
    };
    loop {
        let Some(chunk) = response.chunk().await.map_err(|e| Failure::Upstream(describe(&e)))? else {
            return Ok(events.finish().as_deref().and_then(is_answer));
        };
        read += chunk.len();
        if read > MAX_BODY {
            return Err(Failure::Upstream(format!("event stream larger than {MAX_BODY} bytes")));
        }
        // Chunks may split a character; decode only whole ones.
        bytes.extend_from_slice(&chunk);
        let valid = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            Err(e) => e.valid_up_to(),
        };
        let text: Vec<u8> = bytes.drain(..valid).collect();
        for data in events.push(&String::from_utf8_lossy(&text)) {
            if let Some(answer) = is_answer(&data) {
                return Ok(Some(answer));
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
