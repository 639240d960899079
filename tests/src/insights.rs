//! What the receiver tells operators about their agents and policies:
//! simulation over stored spans, conflicts, suggestions, the agent
//! inventory and the compliance export.

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

async fn post(server: &Server, key: &str, path: &str, body: Value) -> (u16, Value) {
    server.post(path, key, body).await
}

async fn seed(server: &Server, key: &str) {
    let spans = vec![
        span(1, 1, "langgraph.tool.send_email")
            .attr("gen_ai.tool.name", "send_email")
            .attr("strathon.agent.name", "mailer"),
        span(1, 2, "langgraph.tool.search")
            .attr("gen_ai.tool.name", "search")
            .attr("strathon.agent.name", "mailer"),
        span(2, 1, "openai.chat.gpt-4o")
            .attr("gen_ai.request.model", "gpt-4o")
            .attr("gen_ai.usage.input_tokens", 1000i64)
            .attr("strathon.agent.name", "planner"),
    ];
    let (status, _, _) = server
        .post_traces(key, protobuf(&request("svc", spans)), "application/x-protobuf", None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn simulate_counts_matches_over_stored_spans() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    seed(&server, &key).await;
    let (status, sim) = post(
        &server,
        &key,
        "/v1/policies/simulate",
        json!({"match_expression": "attrs[\"gen_ai.tool.name\"] == \"send_email\"", "hours": 24}),
    )
    .await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["summary"]["scanned"], 3);
    assert_eq!(sim["summary"]["matched"], 1);
    assert_eq!(sim["spans_tested"], 3);
    assert_eq!(sim["traces_tested"], 2);
    assert_eq!(sim["matches"][0]["span_name"], "langgraph.tool.send_email");
    assert_eq!(sim["matches"][0]["tool_name"], "send_email");
    let (status, bad) = post(
        &server,
        &key,
        "/v1/policies/simulate",
        json!({"match_expression": "attrs["}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(bad["detail"].as_str().unwrap().starts_with("invalid match_expression:"));
    let applies = post(
        &server,
        &key,
        "/v1/policies/simulate",
        json!({"match_expression": "true", "applies_to": ["tool"]}),
    )
    .await
    .1;
    assert_eq!(applies["summary"]["matched"], 2);
}

#[tokio::test]
async fn conflicts_suggestions_and_generate() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    seed(&server, &key).await;
    let (_, suggest) = server.get_json("/v1/policies/suggest", Some(&key)).await;
    let high: Vec<&Value> = suggest["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["risk_level"] == "high")
        .collect();
    assert!(
        high.iter().any(|s| s["policy"]["match_expression"]
            .as_str()
            .unwrap_or("")
            .contains("send_email")),
        "{suggest}"
    );
    assert!(
        suggest["suggestions"][0]["reason"].is_string(),
        "the CLI prints `reason`"
    );
    assert_eq!(suggest["agents_analyzed"], 2);

    for (name, action) in [("allow-mail", "allow"), ("block-mail", "block")] {
        let body = json!({"name": name, "match_expression": "attrs[\"gen_ai.tool.name\"] == \"send_email\"", "action": action});
        assert_eq!(post(&server, &key, "/v1/policies", body).await.0, 201);
    }
    let (_, conflicts) = server.get_json("/v1/policies/conflicts", Some(&key)).await;
    assert_eq!(conflicts["policies_analyzed"], 2);
    assert_eq!(conflicts["conflicts"][0]["type"], "contradiction");
    let names = [
        conflicts["conflicts"][0]["policy_a"]["name"].clone(),
        conflicts["conflicts"][0]["policy_b"]["name"].clone(),
    ];
    assert!(names.contains(&json!("allow-mail")) && names.contains(&json!("block-mail")));

    let (status, generated) = post(
        &server,
        &key,
        "/v1/policies/generate",
        json!({"description": "block emails to rivals"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(generated["detail"].as_str().unwrap().contains("STRATHON_AI_API_KEY"));
}

#[tokio::test]
async fn agent_inventory_and_compliance_export() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    seed(&server, &key).await;
    let beat = span(3, 1, "strathon.heartbeat")
        .attr("strathon.agent.name", "mailer")
        .attr("strathon.sdk.version", "1.4.0");
    server
        .post_traces(
            &key,
            protobuf(&request("svc", vec![beat])),
            "application/x-protobuf",
            None,
        )
        .await;

    let (status, inventory) = server.get_json("/v1/agents", Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(inventory["count"], 2);
    let mailer = inventory["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_name"] == "mailer")
        .unwrap()
        .clone();
    assert_eq!(mailer["total_tool_calls"], 2);
    assert_eq!(mailer["risk_score"], "high", "sensitive tool, no policy");
    assert_eq!(mailer["sdk_version"], "1.4.0");
    assert!(mailer["last_heartbeat"].is_string());
    let planner = inventory["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_name"] == "planner")
        .unwrap()
        .clone();
    assert_eq!(planner["total_cost_usd"], "0.0025");
    assert_eq!(planner["models_used"], json!(["gpt-4o"]));

    let (status, report) = post(&server, &key, "/v1/compliance/export", json!({"format": "json"})).await;
    assert_eq!(status, 200);
    assert_eq!(report["articles"]["article_9_risk_management"]["compliant"], false);
    assert_eq!(report["articles"]["article_19_retention"]["trace_retention_days"], 30);
    assert!(report["recommendation_count"].as_u64().unwrap() >= 3);
    let resp = server
        .request(reqwest::Method::POST, "/v1/compliance/export")
        .bearer_auth(&key)
        .json(&json!({"format": "sarif"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/sarif+json");
    let sarif: Value = resp.json().await.unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        post(&server, &key, "/v1/compliance/export", json!({"format": "pdf"})).await,
        (
            400,
            json!({"detail": "Unsupported format 'pdf'. Use 'json' or 'sarif'."})
        )
    );
    let reader = db.key(DEFAULT_PROJECT_ID, &["traces:read"]).await;
    assert_eq!(post(&server, &reader, "/v1/compliance/export", json!({})).await.0, 403);
}
