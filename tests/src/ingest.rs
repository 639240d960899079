//! OTLP ingest seen from an exporter: formats, encodings, limits, what is
//! stored for each span, and that nothing acknowledged is missing.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{self, gzip, protobuf, request, span};

const PB: &str = "application/x-protobuf";

async fn setup() -> (TestDb, Server, String) {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["traces:write", "traces:read"]).await;
    let server = Launch::serve(&db).start().await;
    (db, server, key)
}

#[tokio::test]
async fn protobuf_spans_are_stored_with_every_denormalized_column() {
    let (_db, server, key) = setup().await;
    let req = request(
        "billing-agent",
        vec![
            span(1, 1, "agents.workflow.checkout").attr("gen_ai.workflow.name", "checkout"),
            span(1, 2, "openai.chat.gpt-4o")
                .parent(1)
                .attr("gen_ai.operation.name", "chat")
                .attr("gen_ai.provider.name", "openai")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("gen_ai.response.model", "gpt-4o-2024-08-06")
                .attr("gen_ai.agent.name", "planner")
                .attr("gen_ai.agent.id", "agent-7")
                .attr("gen_ai.conversation.id", "conv-1")
                .attr("gen_ai.usage.input_tokens", 1000i64)
                .attr("gen_ai.usage.output_tokens", 500i64),
            span(1, 3, "langgraph.tool.refund")
                .parent(2)
                .attr("gen_ai.tool.name", "refund")
                .attr("strathon.tool.args", r#"{"order": 42}"#)
                .attr("strathon.agent.intervention.state", "blocked")
                .error("Blocked by Strathon policy 'no-refunds'"),
        ],
    );
    let (status, ctype, body) = server.post_traces(&key, protobuf(&req), PB, None).await;
    assert_eq!(status, 200);
    assert_eq!(ctype, PB);
    assert!(ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .is_none());

    let spans = server.list("/v1/spans?limit=10", &key).await;
    assert_eq!(spans.len(), 3);
    let by_name = |n: &str| spans.iter().find(|s| s["name"] == n).cloned().unwrap();
    let chat = by_name("openai.chat.gpt-4o");
    assert_eq!(chat["operation_name"], "chat");
    assert_eq!(chat["provider_name"], "openai");
    assert_eq!(chat["request_model"], "gpt-4o");
    assert_eq!(chat["response_model"], "gpt-4o-2024-08-06");
    assert_eq!(chat["agent_name"], "planner");
    assert_eq!(chat["agent_id"], "agent-7");
    assert_eq!(chat["conversation_id"], "conv-1");
    assert_eq!(chat["tokens"]["input_tokens"], 1000);
    assert_eq!(chat["tokens"]["output_tokens"], 500);
    // 1000 × $0.0000025 + 500 × $0.00001
    assert_eq!(chat["cost_usd"], "0.0075");
    assert_eq!(chat["cost"]["cost_usd"], "0.0075");
    assert_eq!(chat["attributes"]["gen_ai.usage.cost"], 0.0075);
    assert_eq!(chat["attributes"]["service.name"], "billing-agent");
    assert_eq!(chat["parent_span_id"], hex::encode(otlp::span_id(1)));
    assert_eq!(chat["kind"], "INTERNAL");
    assert_eq!(chat["status_code"], "OK");

    let tool = by_name("langgraph.tool.refund");
    assert_eq!(tool["tool_name"], "refund");
    assert_eq!(
        tool["agent_name"], "billing-agent",
        "falls back to the resource's service.name"
    );
    assert_eq!(tool["intervention_state"], "blocked");
    assert_eq!(tool["status_code"], "ERROR");
    assert_eq!(tool["status_message"], "Blocked by Strathon policy 'no-refunds'");
    assert_eq!(tool["cost_usd"], Value::Null);
    assert_eq!(by_name("agents.workflow.checkout")["workflow_name"], "checkout");

    let traces = server.list("/v1/traces", &key).await;
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(t["trace_id"], hex::encode(otlp::trace_id(1)));
    assert_eq!(t["span_count"], 3);
    assert_eq!(t["total_cost_usd"], "0.0075");
    assert_eq!(t["workflow_name"], "checkout");
    assert_eq!(t["intervention_state"], "halted");
    assert_eq!(t["agent_name"], "billing-agent");
}

#[tokio::test]
async fn json_and_gzip_are_accepted_and_answered_in_kind() {
    let (_db, server, key) = setup().await;
    let now = otlp::now_ns();
    let json_body = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
        "scopeSpans": [{"spans": [{"traceId": hex::encode(otlp::trace_id(2)), "spanId": hex::encode(otlp::span_id(1)),
            "name": "json.span", "kind": 3, "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 5).to_string(),
            "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": "search"}}, {"key": "n", "value": {"intValue": "7"}}]}]}]}]});
    let (status, ctype, body) = server
        .post_traces(&key, json_body.to_string().into_bytes(), "application/json", None)
        .await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({}));

    let pb = protobuf(&request("gz-agent", vec![span(3, 1, "gzipped.span")]));
    assert_eq!(server.post_traces(&key, gzip(&pb), PB, Some("gzip")).await.0, 200);
    let (status, _, _) = server
        .post_traces(
            &key,
            gzip(json_body.to_string().as_bytes()),
            "application/json",
            Some("gzip"),
        )
        .await;
    assert_eq!(status, 200);

    let spans = server.list("/v1/spans?limit=10", &key).await;
    let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"json.span") && names.contains(&"gzipped.span"),
        "{names:?}"
    );
    let json_span = spans.iter().find(|s| s["name"] == "json.span").unwrap();
    assert_eq!(json_span["kind"], "CLIENT");
    assert_eq!(json_span["tool_name"], "search");
    assert_eq!(json_span["attributes"]["n"], 7);
}

#[tokio::test]
async fn invalid_spans_are_rejected_one_by_one_and_the_rest_stored() {
    let (_db, server, key) = setup().await;
    let far_past = otlp::now_ns() - 400 * 86_400 * 1_000_000_000;
    let req = request(
        "agent",
        vec![
            span(4, 1, "good"),
            span(4, 2, "zero trace").ids(vec![0; 16], otlp::span_id(2)),
            span(4, 3, "short span id").ids(otlp::trace_id(4), vec![1, 2, 3]),
            span(4, 4, "ancient").start(far_past),
            span(4, 5, "backwards").end(1),
        ],
    );
    let (status, _, body) = server.post_traces(&key, protobuf(&req), PB, None).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 4);
    assert!(
        partial.error_message.contains("invalid trace_id"),
        "{}",
        partial.error_message
    );
    assert!(partial.error_message.contains("outside the accepted window"));
    let spans = server.list("/v1/spans", &key).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "good");
    assert_eq!(
        server.metric("strathon_receiver_ingest_spans_rejected_total").await,
        Some(4.0)
    );
}

#[tokio::test]
async fn a_resent_span_merges_into_the_stored_row() {
    let (db, server, key) = setup().await;
    let start = otlp::now_ns();
    let first = span(5, 1, "tool.call")
        .start(start)
        .attr("a", "1")
        .attr("b", "old")
        .attr("strathon.agent.cost.usd", "0.5");
    let second = span(5, 1, "tool.call")
        .start(start)
        .end(start + 9_000_000)
        .attr("b", "new")
        .attr("c", "3")
        .error("late failure");
    for s in [first, second] {
        assert_eq!(
            server
                .post_traces(&key, protobuf(&request("agent", vec![s])), PB, None)
                .await
                .0,
            200
        );
    }
    let spans = server.list("/v1/spans", &key).await;
    assert_eq!(spans.len(), 1, "one row per (start, trace, span)");
    let s = &spans[0];
    assert_eq!(s["attributes"]["a"], "1");
    assert_eq!(s["attributes"]["b"], "new");
    assert_eq!(s["attributes"]["c"], "3");
    assert_eq!(s["status_code"], "ERROR");
    assert_eq!(s["end_time_unix_nano"], (start + 9_000_000) as i64);
    assert_eq!(
        s["cost_usd"], "0.5",
        "the caller-supplied cost survives a re-send without one"
    );
    assert_eq!(db.scalar_i64("SELECT span_count::bigint FROM traces").await, 1);
}

#[tokio::test]
async fn oversized_compressed_bombs_and_malformed_bodies_get_clear_4xx() {
    let (_db, server, key) = setup().await;
    let (status, _, body) = server.post_traces(&key, vec![0u8; 4 * 1024 * 1024 + 1], PB, None).await;
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&body).contains("Payload too large"));
    let bomb = gzip(&vec![b'x'; 40 * 1024 * 1024]);
    assert!(bomb.len() < 4 * 1024 * 1024);
    assert_eq!(server.post_traces(&key, bomb, PB, Some("gzip")).await.0, 413);
    let (status, _, body) = server
        .post_traces(&key, b"\x0a\xff\xff\xff\x0f garbage".to_vec(), PB, None)
        .await;
    assert_eq!(status, 400);
    let detail: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid OTLP protobuf payload"),
        "{detail}"
    );
    assert_eq!(
        server
            .post_traces(&key, b"{not json".to_vec(), "application/json", None)
            .await
            .0,
        400
    );
    assert_eq!(
        server.post_traces(&key, b"not gzip".to_vec(), PB, Some("gzip")).await.0,
        400
    );
    assert_eq!(server.post_traces(&key, vec![], PB, Some("br")).await.0, 415);
    // An empty export is valid and stores nothing.
    assert_eq!(server.post_traces(&key, vec![], PB, None).await.0, 200);
    assert!(server.is_healthy().await);
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_is_read() {
    let (db, server, _) = setup().await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["traces:read"]).await;
    let huge = vec![0u8; 5 * 1024 * 1024];
    let (status, _, body) = server.post_traces(&reader, huge.clone(), PB, None).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"detail": "missing required scope: traces:write"})
    );
    assert_eq!(server.post_traces("stra_nope", huge, PB, None).await.0, 401);
}

#[tokio::test]
async fn heartbeats_are_counted_not_stored() {
    let (_db, server, key) = setup().await;
    let beat = span(6, 1, "strathon.heartbeat")
        .attr("strathon.agent.name", "svc")
        .attr("strathon.sdk.version", "1.4.0")
        .attr("strathon.sdk.code_hash", "abc")
        .attr("strathon.heartbeat", true);
    let req = request("svc", vec![beat, span(6, 2, "real.work")]);
    assert_eq!(server.post_traces(&key, protobuf(&req), PB, None).await.0, 200);
    let spans = server.list("/v1/spans", &key).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "real.work");
    assert_eq!(
        server.metric("strathon_receiver_agent_heartbeats_total").await,
        Some(1.0)
    );
}

#[tokio::test]
async fn sampling_drops_ordinary_traces_but_keeps_errors_and_interventions() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).env("STRATHON_SAMPLING_RATE", "0.0").start().await;
    let req = request(
        "agent",
        vec![
            span(7, 1, "ordinary"),
            span(8, 1, "failed").error("boom"),
            span(9, 1, "steered").attr("strathon.agent.intervention.state", "steered"),
            span(10, 1, "expensive").attr("gen_ai.usage.total_tokens", 9000i64),
        ],
    );
    assert_eq!(server.post_traces(&key, protobuf(&req), PB, None).await.0, 200);
    let mut names: Vec<String> = server
        .list("/v1/spans", &key)
        .await
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["expensive", "failed", "steered"]);
    assert_eq!(
        server.metric("strathon_receiver_sampling_spans_dropped_total").await,
        Some(1.0)
    );
    assert_eq!(
        server.metric("strathon_receiver_sampling_spans_force_kept_total").await,
        Some(3.0)
    );
    assert_eq!(server.metric("strathon_receiver_sampling_rate").await, Some(0.0));
}

#[tokio::test]
async fn secrets_and_pii_are_redacted_before_storage() {
    let (db, server, key) = setup().await;
    let req = request(
        "agent",
        vec![span(11, 1, "tool.email")
            .attr("strathon.tool.args", r#"{"to": "alice@example.com"}"#)
            .attr("strathon.tool.output", "use key AKIAIOSFODNN7EXAMPLE to connect")
            .attr("note", "nul\u{0}byte")],
    );
    assert_eq!(server.post_traces(&key, protobuf(&req), PB, None).await.0, 200);
    let s = &server.list("/v1/spans", &key).await[0];
    let args = s["attributes"]["strathon.tool.args"].as_str().unwrap();
    assert!(
        !args.contains("alice@example.com") && args.contains("[EMAIL_ADDRESS]"),
        "{args}"
    );
    let output = s["attributes"]["strathon.tool.output"].as_str().unwrap();
    assert!(!output.contains("AKIAIOSFODNN7EXAMPLE"), "{output}");
    assert_eq!(s["attributes"]["note"], "nulbyte");
    let stored = db
        .sql()
        .await
        .query_one("SELECT attributes::text FROM spans", &[])
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(!stored.contains("alice@example.com"));
}

#[tokio::test]
async fn nothing_acknowledged_is_missing_under_concurrency() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["traces:write", "traces:read"]).await;
    // Four writers, and requests whose traces spread over all of them, so
    // writers contend for the rows they share (breakers, rollups).
    let server = Launch::serve(&db).env("STRATHON_INGEST_WRITERS", "4").start().await;
    let (status, ready) = server.get_json("/ready", None).await;
    assert_eq!(status, 200, "{ready}");
    for name in ["ingest_writer_task", "ingest_writer_task_4"] {
        assert_eq!(ready["checks"][name]["status"], "ok", "{ready}");
    }
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    let mut failures = 0;
    for batch in 0..20u8 {
        let mut spans = Vec::new();
        for t in 0..5u8 {
            for i in 1..=10u8 {
                let s = span(50 + batch * 5 + t, i, "load.span")
                    .attr("gen_ai.agent.name", "loader")
                    .attr("gen_ai.tool.name", "fetch");
                // Every seventh span fails: enough to trip the breakers
                // while the groups are in flight.
                let nth = usize::from(batch) * 50 + usize::from(t) * 10 + usize::from(i);
                spans.push(if nth % 7 == 0 {
                    failures += 1;
                    s.error("boom")
                } else {
                    s
                });
            }
        }
        let (server, key) = (server.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            server
                .post_traces(&key, protobuf(&request("agent", spans)), PB, None)
                .await
                .0
        }));
    }
    let mut acked = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            acked += 50;
        }
    }
    assert_eq!(acked, 1000);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM spans").await, acked);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM traces").await, 100);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM traces WHERE span_count <> 10")
            .await,
        0
    );
    // Every span counted once into the shared hourly rollups.
    assert_eq!(
        db.scalar_i64("SELECT sum(spans)::bigint FROM span_rollups").await,
        acked
    );
    assert_eq!(
        db.scalar_i64("SELECT coalesce(sum(spans), 0)::bigint FROM span_rollups WHERE error")
            .await,
        failures
    );
    // The breakers saw every failure from every writer, and tripped.
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM circuit_breakers WHERE state = 'open' AND total_trips >= 1")
            .await,
        2
    );
    let noted = db
        .scalar_i64("SELECT count(*) FROM spans WHERE attributes->>'strathon.circuit_breaker.state' = 'open'")
        .await;
    assert!(noted > 0, "spans stored after the trip carry the breaker's state");
}

async fn create_policy(server: &Server, key: &str, body: Value) -> Value {
    let resp = server
        .request(reqwest::Method::POST, "/v1/policies")
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn policies_are_evaluated_at_ingest_and_each_match_recorded_once() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).env("STRATHON_SAMPLING_RATE", "0.0").start().await;
    let block = create_policy(
        &server,
        &key,
        json!({"name": "no-shell", "match_expression": "attrs[\"gen_ai.tool.name\"] == \"shell_exec\"", "action": "block", "shadow": true}),
    )
    .await;
    let approve = create_policy(
        &server,
        &key,
        json!({"name": "approve-refunds", "match_expression": "attrs[\"gen_ai.tool.name\"] == \"refund\"",
               "action": "require_approval", "action_config": {"timeout_seconds": 60}, "applies_to": ["tool"]}),
    )
    .await;
    let _never = create_policy(
        &server,
        &key,
        json!({"name": "errors", "match_expression": "attrs[\"missing\"] == 1", "action": "log"}),
    )
    .await;

    let spans = vec![
        span(1, 1, "langgraph.tool.shell_exec").attr("gen_ai.tool.name", "shell_exec"),
        span(1, 2, "langgraph.tool.refund")
            .attr("gen_ai.tool.name", "refund")
            .attr("strathon.tool.args", "{\"amount\": 5}"),
        span(1, 3, "chain.refund").attr("gen_ai.tool.name", "refund"),
        span(1, 4, "ordinary.work"),
    ];
    let body = protobuf(&request("agent", spans));
    for _ in 0..2 {
        // Sent twice: matches and approvals must not double.
        assert_eq!(server.post_traces(&key, body.clone(), PB, None).await.0, 200);
    }
    let stored = server.list("/v1/spans?limit=10", &key).await;
    let names: Vec<&str> = stored.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"ordinary.work"), "sampled out at rate 0: {names:?}");
    assert_eq!(
        stored.len(),
        2,
        "matched spans are always kept, applies_to excludes chain.refund: {names:?}"
    );
    let shell = stored
        .iter()
        .find(|s| s["name"] == "langgraph.tool.shell_exec")
        .unwrap();
    assert_eq!(shell["attributes"]["strathon.policy.matched_ids"], block["id"]);
    assert_eq!(shell["attributes"]["strathon.policy.matched_actions"], "block");

    let (_, policies) = server.get_json("/v1/policies", Some(&key)).await;
    let count = |id: &Value| {
        policies["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| &p["id"] == id)
            .unwrap()["match_count"]
            .clone()
    };
    assert_eq!(count(&block["id"]), 1);
    assert_eq!(count(&approve["id"]), 1);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM policy_matches").await, 2);
    let outcomes = db
        .sql()
        .await
        .query("SELECT action_outcome FROM policy_matches ORDER BY 1", &[])
        .await
        .unwrap();
    let outcomes: Vec<String> = outcomes.iter().map(|r| r.get(0)).collect();
    assert_eq!(outcomes, ["approval_requested", "shadow_recorded"]);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM approvals WHERE status = 'pending' AND timeout_seconds = 60")
            .await,
        1
    );
    assert_eq!(
        server
            .metric(r#"strathon_receiver_policy_matches_total{action="block"}"#)
            .await,
        Some(2.0)
    );
}

#[tokio::test]
async fn values_the_store_cannot_hold_are_refused_per_span_not_per_commit() {
    let (_db, server, key) = setup().await;
    let huge_name = "n".repeat(200_000);
    let req = request(
        "agent",
        vec![
            span(20, 1, "fine"),
            span(20, 2, "priceless").attr("strathon.agent.cost.usd", "1e15"),
            span(20, 3, "negative").attr("strathon.agent.cost.usd", -5.0),
            span(20, 4, &huge_name).attr("gen_ai.tool.name", "t".repeat(100_000)),
        ],
    );
    let (status, _, body) = server.post_traces(&key, protobuf(&req), PB, None).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("a cost out of range"),
        "{}",
        partial.error_message
    );
    let spans = server.list("/v1/spans?limit=10", &key).await;
    assert_eq!(spans.len(), 2);
    let long = spans.iter().find(|s| s["name"] != "fine").unwrap();
    assert_eq!(long["name"].as_str().unwrap().len(), 1024, "columns keep a prefix");
    assert_eq!(
        long["attributes"]["gen_ai.tool.name"].as_str().unwrap().len(),
        100_000,
        "the attribute keeps it all"
    );
}
