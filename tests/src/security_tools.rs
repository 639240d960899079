//! The security tools over HTTP: the credential catalogue ingest redaction
//! uses, and scanning text against it.

use serde_json::{json, Value};

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

#[tokio::test]
async fn the_credential_catalogue_and_scanner_are_the_ones_ingest_uses() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let writer = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let server = Launch::serve(&db).start().await;

    let (status, catalogue) = server.get_json("/v1/credentials/patterns", Some(&key)).await;
    assert_eq!(status, 200, "{catalogue}");
    let patterns = catalogue["patterns"].as_array().unwrap();
    assert_eq!(catalogue["total_patterns"], patterns.len());
    assert!(patterns.len() >= 70);
    let severities: i64 = catalogue["severity_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(severities as usize, patterns.len());
    assert!(catalogue["categories"].as_array().unwrap().contains(&json!("cloud")));
    let aws = patterns.iter().find(|p| p["id"] == "aws-access-key").unwrap();
    assert_eq!(aws["name"], "AWS Access Key ID");
    assert_eq!(aws["severity"], "critical");

    let text = "deploy with AKIAIOSFODNN7EXAMPLE — ünïcode first — and ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let (status, scan) = server.post("/v1/credentials/scan", &key, json!({"text": text})).await;
    assert_eq!(status, 200, "{scan}");
    assert_eq!(scan["findings_count"], 2);
    let first = &scan["findings"][0];
    assert_eq!(first["pattern_id"], "aws-access-key");
    assert_eq!(first["match_start"], 12);
    assert_eq!(first["match_length"], 20);
    assert_eq!(first["preview"], "AKIA********");
    let second = &scan["findings"][1];
    assert_eq!(second["pattern_id"], "github-pat");
    let chars: Vec<char> = text.chars().collect();
    let start = second["match_start"].as_u64().unwrap() as usize;
    let end = second["match_end"].as_u64().unwrap() as usize;
    assert_eq!(
        chars[start..end].iter().collect::<String>(),
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    );
    assert!(
        !scan.to_string().contains("IOSFODNN7EXAMPLE"),
        "the secret is never echoed"
    );

    // What the scanner finds, ingest redacts under the same name.
    let spans = vec![span(3, 1, "tool.deploy").attr("strathon.tool.args", text)];
    let (status, _, _) = server
        .post_traces(
            &writer,
            protobuf(&request("ops", spans)),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let stored = server.list("/v1/spans?limit=5", &key).await;
    let args = stored[0]["attributes"]["strathon.tool.args"].as_str().unwrap();
    assert!(
        args.contains("[AWS ACCESS KEY ID_REDACTED]") && args.contains("[GITHUB PERSONAL ACCESS TOKEN_REDACTED]"),
        "{args}"
    );

    for (body, status) in [
        (json!({}), 422),
        (json!({"text": 5}), 422),
        (json!({"text": "x".repeat(100_001)}), 422),
        (json!(["text"]), 422),
    ] {
        let (got, answer) = server.post("/v1/credentials/scan", &key, body).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["detail"].is_array(), "{answer}");
    }
    let (status, empty) = server.post("/v1/credentials/scan", &key, json!({"text": ""})).await;
    assert_eq!(
        (status, empty),
        (200, json!({"findings_count": 0, "findings": Vec::<Value>::new()}))
    );
    assert_eq!(server.get_json("/v1/credentials/patterns", Some(&writer)).await.0, 403);
    assert_eq!(
        server
            .post("/v1/credentials/scan", &writer, json!({"text": "x"}))
            .await
            .0,
        403
    );
}

async fn ingest(server: &crate::harness::Server, key: &str, spans: Vec<crate::otlp::SpanB>) {
    let (status, _, body) = server
        .post_traces(key, protobuf(&request("svc", spans)), "application/x-protobuf", None)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

fn call(trace: u8, id: u8, agent: &str, tool: &str, ok: bool) -> crate::otlp::SpanB {
    let s = span(trace, id, &format!("tool.{tool}"))
        .attr("gen_ai.agent.name", agent)
        .attr("gen_ai.tool.name", tool);
    if ok {
        s
    } else {
        s.error("upstream timed out")
    }
}

async fn stored_attributes(server: &crate::harness::Server, key: &str, trace: u8, id: u8) -> Value {
    let path = format!(
        "/v1/spans/{}/{}",
        hex::encode(crate::otlp::trace_id(trace)),
        hex::encode(crate::otlp::span_id(id))
    );
    let (status, body) = server.get_json(&path, Some(key)).await;
    assert_eq!(status, 200, "{body}");
    body["attributes"].clone()
}

fn breaker<'a>(listing: &'a Value, kind: &str, id: &str) -> &'a Value {
    listing["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["entity_type"] == kind && b["entity_id"] == id)
        .unwrap_or_else(|| panic!("no {kind}:{id} in {listing}"))
}

#[tokio::test]
async fn circuit_breakers_are_shared_by_replicas_annotate_spans_and_can_be_reset() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["traces:read"]).await;
    let launch = Launch::serve(&db)
        .env("STRATHON_CB_ERROR_THRESHOLD", "3")
        .env("STRATHON_CB_WINDOW_SECONDS", "60")
        .env("STRATHON_CB_COOLDOWN_SECONDS", "2")
        .env("STRATHON_CB_HALF_OPEN_MAX", "2");
    let (a, b) = (launch.start().await, launch.start().await);

    // Two failures through one replica and one through the other: the
    // threshold is counted across both.
    ingest(
        &a,
        &key,
        vec![
            call(1, 1, "billing", "charge", false),
            call(1, 2, "billing", "charge", false),
        ],
    )
    .await;
    let (_, listing) = b.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(breaker(&listing, "agent", "billing")["state"], "closed");
    assert_eq!(breaker(&listing, "agent", "billing")["errors_in_window"], 2);
    ingest(
        &b,
        &key,
        vec![
            call(1, 3, "billing", "charge", false),
            call(1, 4, "search", "lookup", true),
        ],
    )
    .await;
    let (status, listing) = a.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(status, 200, "{listing}");
    let billing = breaker(&listing, "agent", "billing");
    assert_eq!(billing["state"], "open", "{listing}");
    assert_eq!(billing["total_trips"], 1);
    assert_eq!(billing["error_threshold"], 3);
    assert_eq!(billing["window_seconds"], 60);
    assert_eq!(breaker(&listing, "tool", "charge")["state"], "open");
    assert_eq!(breaker(&listing, "agent", "search")["state"], "closed");
    assert_eq!(listing["open"], 2);
    assert_eq!(listing["total"], 4);
    let (_, only_open) = a
        .get_json("/v1/circuit-breakers?state=open&entity_type=agent", Some(&reader))
        .await;
    assert_eq!(only_open["total"], 1);

    // Spans that arrive while it is open say so; healthy agents' spans do not.
    ingest(
        &a,
        &key,
        vec![
            call(2, 1, "billing", "refund", true),
            call(2, 2, "search", "lookup", true),
        ],
    )
    .await;
    let billing = stored_attributes(&a, &key, 2, 1).await;
    assert_eq!(billing["strathon.circuit_breaker.state"], "open");
    assert_eq!(billing["strathon.circuit_breaker.entity"], "agent:billing");
    let search = stored_attributes(&a, &key, 2, 2).await;
    assert!(search.get("strathon.circuit_breaker.state").is_none(), "{search}");

    // After the cooldown it is half-open; two successes close it.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, listing) = b.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(breaker(&listing, "agent", "billing")["state"], "half_open");
    assert_eq!(listing["half_open"], 2);
    ingest(&b, &key, vec![call(3, 1, "billing", "refund", true)]).await;
    ingest(&a, &key, vec![call(3, 2, "billing", "refund", true)]).await;
    let (_, listing) = a.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(breaker(&listing, "agent", "billing")["state"], "closed");

    // Tripped again, then reset by an operator.
    ingest(
        &a,
        &key,
        (1..=3).map(|i| call(4, i, "billing", "refund", false)).collect(),
    )
    .await;
    let (_, listing) = a.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(breaker(&listing, "agent", "billing")["total_trips"], 2);
    let (status, reset) = b
        .post("/v1/circuit-breakers/reset", &key, json!({"entity_id": "billing"}))
        .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(
        reset,
        json!({"status": "reset", "entity_id": "billing", "entity_type": "agent"})
    );
    let (_, listing) = a.get_json("/v1/circuit-breakers", Some(&reader)).await;
    assert_eq!(breaker(&listing, "agent", "billing")["state"], "closed");
    assert_eq!(breaker(&listing, "agent", "billing")["errors_in_window"], 0);
    assert_eq!(
        a.audit_actions(&key, "circuit_breaker").await,
        ["circuit_breaker.reset"]
    );

    let (status, body) = a
        .post(
            "/v1/circuit-breakers/reset",
            &key,
            json!({"entity_id": "ghost", "entity_type": "tool"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "No circuit breaker found for tool:ghost"}))
    );
    for (bad, status) in [
        (json!({}), 422),
        (json!({"entity_id": 7}), 422),
        (json!({"entity_id": "x", "entity_type": "workflow"}), 400),
        (json!({"entity_id": "x", "extra": true}), 422),
    ] {
        assert_eq!(
            a.post("/v1/circuit-breakers/reset", &key, bad.clone()).await.0,
            status,
            "{bad}"
        );
    }
    assert_eq!(
        a.post("/v1/circuit-breakers/reset", &reader, json!({"entity_id": "x"}))
            .await
            .0,
        403
    );
    assert_eq!(
        a.get_json("/v1/circuit-breakers?state=melted", Some(&reader)).await.0,
        400
    );
}
