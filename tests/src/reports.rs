//! Read-outs of what ran: the agent inventory as JSON and as a CycloneDX
//! AI bill of materials, the recent policy violations as SARIF, and the
//! original's deprecated halt route, which now really halts.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

async fn ingest(server: &Server, key: &str, service: &str, spans: Vec<crate::otlp::SpanB>) {
    let (status, _, body) = server
        .post_traces(key, protobuf(&request(service, spans)), "application/x-protobuf", None)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn the_inventory_and_sarif_describe_what_ran() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["traces:read"]).await;
    let server = Launch::serve(&db).start().await;
    let policy = json!({"name": "no-shell", "match_expression": r#"attrs["gen_ai.tool.name"] == "shell_exec""#, "action": "block"});
    assert_eq!(server.post("/v1/policies", &key, policy).await.0, 201);
    ingest(
        &server,
        &key,
        "ops-bot",
        vec![
            span(1, 1, "tool.shell_exec")
                .attr("gen_ai.agent.name", "ops-bot")
                .attr("gen_ai.tool.name", "shell_exec"),
            span(1, 2, "chat")
                .attr("gen_ai.agent.name", "ops-bot")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("gen_ai.response.model", "gpt-4o")
                .attr("gen_ai.usage.input_tokens", 1000i64)
                .attr("gen_ai.usage.output_tokens", 100i64),
        ],
    )
    .await;
    ingest(
        &server,
        &key,
        "researcher",
        vec![span(2, 1, "tool.search")
            .attr("gen_ai.agent.name", "researcher")
            .attr("gen_ai.tool.name", "search")],
    )
    .await;

    let (status, inventory) = server.get_json("/v1/agents/inventory", Some(&reader)).await;
    assert_eq!(status, 200, "{inventory}");
    assert_eq!(inventory["agent_count"], 2);
    assert_eq!(inventory["project_id"], DEFAULT_PROJECT_ID.to_string());
    let ops = inventory["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_name"] == "ops-bot")
        .unwrap();
    assert_eq!(ops["tools"], json!(["shell_exec"]));
    assert_eq!(ops["models"], json!(["gpt-4o"]));
    assert_eq!(ops["risk_score"], "medium", "{ops}");
    assert_eq!(
        inventory["tools"],
        json!([{"name": "search", "agents": ["researcher"]}, {"name": "shell_exec", "agents": ["ops-bot"]}])
    );
    // The agent list reads the same assessment.
    let (_, agents) = server.get_json("/v1/agents", Some(&reader)).await;
    let listed = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_name"] == "ops-bot")
        .unwrap()
        .clone();
    assert_eq!(listed["risk_score"], ops["risk_score"]);
    assert_eq!(listed["risk_factors"], ops["risk_factors"]);

    let resp = server
        .get("/v1/agents/inventory?format=cyclonedx")
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/vnd.cyclonedx+json; version=1.5"
    );
    let bom: Value = resp.json().await.unwrap();
    assert_eq!(
        (bom["bomFormat"].as_str(), bom["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.5"))
    );
    assert!(bom["serialNumber"].as_str().unwrap().starts_with("urn:uuid:"));
    assert_eq!(bom["metadata"]["component"]["name"], "Default");
    let refs: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs.iter().filter(|r| r.starts_with("agent:")).count(), 2);
    assert!(refs.contains(&"model:gpt-4o"));
    let ops_deps = bom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == "agent:ops-bot")
        .unwrap();
    assert_eq!(ops_deps["dependsOn"], json!(["model:gpt-4o", "tool:shell_exec"]));
    let shell = bom["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shell_exec")
        .unwrap();
    assert!(shell["properties"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "strathon:sensitive", "value": "true"})));
    assert_eq!(
        server
            .get_json("/v1/agents/inventory?format=spdx", Some(&reader))
            .await
            .0,
        400
    );
    assert_eq!(
        server.get_json("/v1/agents/inventory?days=0", Some(&reader)).await.0,
        422
    );

    // The block policy's match is a SARIF error.
    let (status, sarif) = server.get_json("/v1/compliance/sarif?hours=1", Some(&key)).await;
    assert_eq!(status, 200, "{sarif}");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{sarif}");
    assert_eq!(results[0]["ruleId"], "no-shell");
    assert_eq!(results[0]["level"], "error");
    assert_eq!(
        results[0]["properties"]["span_id"],
        hex::encode(crate::otlp::span_id(1))
    );
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"][0]["id"], "no-shell");
    for bad in ["0", "721", "soon"] {
        assert_eq!(
            server
                .get_json(&format!("/v1/compliance/sarif?hours={bad}"), Some(&key))
                .await
                .0,
            422,
            "{bad}"
        );
    }
    assert_eq!(
        server.get_json("/v1/compliance/sarif", Some(&reader)).await.0,
        403,
        "needs audit:read"
    );
}

#[tokio::test]
async fn the_deprecated_halt_route_halts() {
    let db = TestDb::migrated().await;
    let admin = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let agent_key = db.key(DEFAULT_PROJECT_ID, &["traces:write", "halts:read"]).await;
    let server = Launch::serve(&db).start().await;

    let (status, answer) = server
        .post(
            "/v1/intervention/halt",
            &agent_key,
            json!({"agent_name": "runaway", "reason": "loop detected"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["halted"], true);
    assert_eq!(
        (answer["scope"].as_str(), answer["scope_value"].as_str()),
        (Some("agent"), Some("runaway"))
    );
    // The SDK's sync sees it.
    let (_, synced) = server.post("/v1/intervention/sync", &agent_key, json!({})).await;
    let halts = synced["halts"].as_array().unwrap();
    assert_eq!(halts.len(), 1);
    assert_eq!(
        (halts[0]["scope_value"].as_str(), halts[0]["reason"].as_str()),
        (Some("runaway"), Some("loop detected"))
    );
    assert_eq!(server.audit_actions(&admin, "halt").await, ["halt.issue"]);

    // A whole project needs halts:write too.
    let (status, denied) = server.post("/v1/intervention/halt", &agent_key, json!({})).await;
    assert_eq!(
        (status, denied["detail"].clone()),
        (403, json!("missing required scope: halts:write"))
    );
    let resp = server
        .request(Method::POST, "/v1/intervention/halt")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["deprecation"], "true");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "project");
    assert_eq!(server.post("/v1/intervention/halt", &admin, json!(["x"])).await.0, 422);
    assert_eq!(
        server
            .post("/v1/intervention/halt", &admin, json!({"agent_name": 7}))
            .await
            .0,
        422
    );
}
