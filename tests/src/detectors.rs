//! The background detectors with real spans: a drift in an agent's tool mix
//! and a burst of blocked calls and of errors each reach a subscribed
//! endpoint as one signed event, through the durable deliveries; both
//! detectors report in `/ready` and run on one replica only.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::hook::Hook;
use crate::otlp::{now_ns, protobuf, request, span, SpanB};

const WAIT: Duration = Duration::from_secs(30);

async fn ingest(server: &Server, key: &str, spans: Vec<SpanB>) {
    let (status, _, body) = server
        .post_traces(key, protobuf(&request("agents", spans)), "application/x-protobuf", None)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// `n` tool calls of `agent` to `tool`, all starting now, in trace `trace`.
fn calls(trace: u8, agent: &str, tool: &str, n: u8) -> Vec<SpanB> {
    let at = now_ns();
    (1..=n)
        .map(|i| {
            span(trace, i, &format!("tool.{tool}"))
                .start(at)
                .attr("gen_ai.agent.name", agent)
                .attr("gen_ai.tool.name", tool)
        })
        .collect()
}

async fn subscribe(server: &Server, key: &str, hook: &Hook, events: &[&str]) -> String {
    let (status, signing) = server.post("/v1/webhook_signing_keys", key, json!({})).await;
    assert_eq!(status, 201);
    let body = json!({"channel_type": "webhook", "name": "detectors", "config": {"url": hook.url("/events")}, "events": events});
    let (status, body) = server.post("/v1/notification-channels", key, body).await;
    assert_eq!(status, 201, "{body}");
    signing["secret"].as_str().unwrap().to_owned()
}

fn events(hook: &Hook, name: &str) -> Vec<Value> {
    hook.received()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["event"] == name)
        .collect()
}

#[tokio::test]
async fn a_drift_in_an_agents_tool_mix_is_reported_once() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let hook = Hook::start();
    let launch = Launch::serve(&db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .env("STRATHON_DRIFT_INTERVAL_SECONDS", "1")
        .env("STRATHON_DRIFT_LAG_SECONDS", "1")
        .env("STRATHON_DRIFT_MIN_OBSERVATIONS", "3");
    let server = launch.start().await;
    // A second replica: only one of them may observe (the other stands by).
    let standby = launch.start().await;
    let secret = subscribe(&server, &key, &hook, &["behavioral_drift"]).await;

    // The baseline: windows of searches, and a steady agent beside it.
    for round in 0..5u8 {
        let mut spans = calls(round + 1, "researcher", "search", 8);
        spans.extend(calls(round + 100, "steady", "lookup", 4));
        ingest(&server, &key, spans).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(events(&hook, "behavioral_drift").is_empty(), "no drift while behaving");
    // A quiet window between the phases, so no window mixes them. Then the
    // researcher starts deleting records instead.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for round in 0..3u8 {
        let mut spans = calls(round + 50, "researcher", "delete_records", 8);
        spans.extend(calls(round + 150, "steady", "lookup", 4));
        ingest(&server, &key, spans).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let got = crate::harness::collected("a drift event", 1, WAIT, || events(&hook, "behavioral_drift")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = events(&hook, "behavioral_drift");
    assert_eq!(all.len(), 1, "one change, one event: {all:#?}");
    let drift = &got[0];
    assert_eq!(drift["agent_name"], "researcher");
    assert_eq!(drift["project_id"], DEFAULT_PROJECT_ID.to_string());
    let shifts: Vec<(String, String)> = drift["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"].as_str().unwrap().to_owned(),
                s["direction"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        shifts.contains(&("tool:delete_records".into(), "up".into())),
        "{shifts:?}"
    );
    assert!(shifts.contains(&("tool:search".into(), "down".into())), "{shifts:?}");
    assert!(
        drift["message"]
            .as_str()
            .unwrap()
            .contains("'delete_records' up from 0% to 100%"),
        "{drift}"
    );
    let request = hook
        .received()
        .into_iter()
        .find(|r| r.json()["event"] == "behavioral_drift")
        .unwrap();
    assert_eq!(request.verified_by(&secret), 1, "signed like every webhook");

    let ready = server.wait_ready().await;
    assert_eq!(ready["checks"]["drift_detector_task"]["status"], "ok", "{ready}");
    assert_eq!(ready["checks"]["incident_detector_task"]["status"], "ok", "{ready}");
    let leaders = [server.wait_ready().await, standby.wait_ready().await]
        .iter()
        .filter(|r| r["checks"]["drift_detector_task"]["leader"] == true)
        .count();
    assert_eq!(leaders, 1, "exactly one replica leads the drift detector");
}

#[tokio::test]
async fn bursts_of_blocks_and_errors_open_one_incident_each() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let hook = Hook::start();
    let server = Launch::serve(&db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .env("STRATHON_INCIDENT_INTERVAL_SECONDS", "1")
        .env("STRATHON_INCIDENT_WINDOW_SECONDS", "60")
        .env("STRATHON_INCIDENT_BLOCK_THRESHOLD", "5")
        .env("STRATHON_INCIDENT_ERROR_THRESHOLD", "4")
        .env("STRATHON_DRIFT_ENABLED", "false")
        .start()
        .await;
    subscribe(&server, &key, &hook, &["incident"]).await;

    // Under the thresholds: nothing.
    let blocked = |trace: u8, n: u8| -> Vec<SpanB> {
        (1..=n)
            .map(|i| {
                span(trace, i, "tool.shell_exec")
                    .attr("gen_ai.agent.name", "intruder")
                    .attr("gen_ai.tool.name", "shell_exec")
                    .attr("strathon.agent.intervention.state", "blocked")
                    .attr("strathon.policy.blocked", true)
                    .error("Blocked by Strathon policy 'no-shell'")
            })
            .collect()
    };
    ingest(&server, &key, blocked(1, 3)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hook.received().is_empty());
    // Over: two more blocks by the SDK, and a policy blocking at ingest.
    let policy =
        json!({"name": "no-rm", "match_expression": r#"attrs["gen_ai.tool.name"] == "rm""#, "action": "block"});
    assert_eq!(server.post("/v1/policies", &key, policy).await.0, 201);
    let mut spans = blocked(2, 1);
    spans.push(
        span(2, 9, "tool.rm")
            .attr("gen_ai.agent.name", "intruder")
            .attr("gen_ai.tool.name", "rm"),
    );
    ingest(&server, &key, spans).await;
    let errors: Vec<SpanB> = (1..=4)
        .map(|i| {
            span(3, i, "llm.call")
                .attr("gen_ai.agent.name", "crashy")
                .error("upstream 500")
        })
        .collect();
    ingest(&server, &key, errors).await;

    let got = crate::harness::collected("two incidents", 2, WAIT, || events(&hook, "incident")).await;
    let by_trigger = |t: &str| {
        got.iter()
            .find(|e| e["trigger"] == t)
            .unwrap_or_else(|| panic!("no {t}: {got:#?}"))
    };
    let blocks = by_trigger("policy_block_spike");
    assert_eq!(blocks["severity"], "high");
    assert_eq!(blocks["details"]["count"], 5);
    assert_eq!(blocks["details"]["threshold"], 5);
    assert_eq!(blocks["eu_ai_act_reporting"]["article"], "73");
    assert!(!blocks["recommended_actions"].as_array().unwrap().is_empty());
    let crashes = by_trigger("agent_error_spike");
    assert_eq!(crashes["agent_name"], "crashy");
    assert_eq!(crashes["details"]["count"], 4);

    // The burst goes on: still one event each.
    ingest(&server, &key, blocked(4, 3)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events(&hook, "incident").len(), 2, "an open incident is announced once");
    let incidents = server.list("/v1/incidents?open=true", &key).await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let spike = incidents.iter().find(|i| i["trigger"] == "policy_block_spike").unwrap();
    assert_eq!(spike["count"], 8, "the peak is kept: {spike}");
    assert_eq!(spike["status"], "open");
    let (status, ready) = server.ready().await;
    assert_eq!(status, 200);
    assert_eq!(ready["checks"]["drift_detector_task"]["disabled"], true);
}
