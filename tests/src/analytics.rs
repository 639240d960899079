//! The rollups the dashboard draws from: `/v1/overview`, `/v1/spans/aggregate`,
//! `/v1/costs` and `/v1/topology`, checked against spans sent over OTLP.

use serde_json::Value;

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID, DEV_KEY_RAW};
use crate::otlp::{self, now_ns, span};

const HOUR: u64 = 3_600_000_000_000;

async fn send(server: &Server, key: &str, spans: Vec<otlp::SpanB>) {
    let body = otlp::protobuf(&otlp::request("analytics", spans));
    let (status, _, _) = server.post_traces(key, body, "application/x-protobuf", None).await;
    assert_eq!(status, 200);
}

/// Two agents over two hours: `support` calls `search` three times (one
/// failing) and `refund` once (blocked); `billing` calls a model twice.
async fn seed(server: &Server, key: &str) -> u64 {
    let now = now_ns();
    let earlier = now - HOUR;
    let tool = |t: u8, id: u8, agent: &str, tool: &str, at: u64| {
        span(t, id, &format!("tool.{tool}"))
            .attr("gen_ai.agent.name", agent)
            .attr("gen_ai.tool.name", tool)
            .start(at)
    };
    send(
        server,
        key,
        vec![
            tool(1, 1, "support", "search", earlier),
            tool(1, 2, "support", "search", now - 1000),
            tool(1, 3, "support", "search", now - 900).error("timeout"),
            tool(1, 4, "support", "refund", now - 800).attr("strathon.agent.intervention.state", "blocked"),
            span(2, 5, "chat")
                .attr("gen_ai.agent.name", "billing")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("gen_ai.usage.input_tokens", 1000_i64)
                .attr("gen_ai.usage.output_tokens", 500_i64)
                .attr("strathon.agent.cost.usd", 0.25)
                .start(earlier),
            span(2, 6, "chat")
                .attr("gen_ai.agent.name", "billing")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("gen_ai.usage.input_tokens", 10_i64)
                .attr("gen_ai.usage.output_tokens", 5_i64)
                .attr("strathon.agent.cost.usd", 0.5)
                .start(now - 700),
        ],
    )
    .await;
    now
}

fn by<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key}={value} in {rows:#?}"))
}

#[tokio::test]
async fn aggregate_groups_counts_cost_and_tokens() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).env("STRATHON_SEED_DEV_KEY", "true").start().await;
    seed(&server, DEV_KEY_RAW).await;

    let (status, body) = server
        .get_json("/v1/spans/aggregate?group_by=agent_name", Some(DEV_KEY_RAW))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["group_by"], "agent_name");
    assert_eq!(body["time_bucket"], Value::Null);
    let rows = body["data"].as_array().unwrap();
    // Busiest first.
    assert_eq!(rows[0]["dimension"], "support");
    assert_eq!(rows[0]["span_count"], 4);
    let billing = by(rows, "dimension", "billing");
    assert_eq!(billing["total_cost_usd"], "0.75");
    assert_eq!(billing["total_input_tokens"], 1010);
    assert_eq!(billing["total_output_tokens"], 505);

    // Hourly buckets put the early spans in their own hour.
    let (_, body) = server
        .get_json(
            "/v1/spans/aggregate?group_by=intervention_state&time_bucket=1h",
            Some(DEV_KEY_RAW),
        )
        .await;
    let rows = body["data"].as_array().unwrap();
    let buckets: std::collections::BTreeSet<i64> = rows.iter().filter_map(|r| r["bucket"].as_i64()).collect();
    assert_eq!(buckets.len(), 2, "{rows:#?}");
    assert!(buckets.iter().all(|b| b % (HOUR as i64) == 0));
    assert_eq!(by(rows, "dimension", "blocked")["span_count"], 1);

    // A window excludes the early spans.
    let after = now_ns() - HOUR / 2;
    let (_, body) = server
        .get_json(
            &format!("/v1/spans/aggregate?group_by=agent_name&start_after={after}"),
            Some(DEV_KEY_RAW),
        )
        .await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(by(rows, "dimension", "support")["span_count"], 3);
    assert_eq!(by(rows, "dimension", "billing")["span_count"], 1);

    let (status, body) = server
        .get_json("/v1/spans/aggregate?group_by=attributes", Some(DEV_KEY_RAW))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().starts_with("group_by must be one of"),
        "{body}"
    );
    let (status, _) = server.get_json("/v1/spans/aggregate?limit=0", Some(DEV_KEY_RAW)).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn costs_roll_up_by_day_and_model_and_topology_draws_agents_and_tools() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).env("STRATHON_SEED_DEV_KEY", "true").start().await;
    seed(&server, DEV_KEY_RAW).await;

    let (status, body) = server
        .get_json("/v1/costs?group_by=model&period=day", Some(DEV_KEY_RAW))
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["costs"].as_array().unwrap();
    let gpt: f64 = rows
        .iter()
        .filter(|r| r["model"] == "gpt-4o")
        .map(|r| r["total_cost_usd"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((gpt - 0.75).abs() < 1e-9, "{rows:#?}");
    let day = rows[0]["period_start"].as_str().unwrap();
    assert!(day.ends_with(" 00:00:00") && day.len() == 19, "{day}");

    let (_, body) = server
        .get_json("/v1/costs?group_by=agent_model&period=week", Some(DEV_KEY_RAW))
        .await;
    let rows = body["costs"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["agent_model"] == "billing/gpt-4o"), "{rows:#?}");
    for (query, message) in [
        (
            "group_by=tool",
            "group_by must be one of ['agent', 'agent_model', 'model']",
        ),
        ("period=month", "period must be one of ['day', 'week']"),
    ] {
        let (status, body) = server.get_json(&format!("/v1/costs?{query}"), Some(DEV_KEY_RAW)).await;
        assert_eq!((status, body["detail"].as_str()), (400, Some(message)));
    }

    let (status, body) = server.get_json("/v1/topology", Some(DEV_KEY_RAW)).await;
    assert_eq!(status, 200, "{body}");
    let edges = body["edges"].as_array().unwrap();
    let search = edges
        .iter()
        .find(|e| e["source"] == "agent:support" && e["target"] == "tool:search")
        .expect("support → search");
    assert_eq!(
        (search["call_count"].as_i64(), search["error_count"].as_i64()),
        (Some(3), Some(1))
    );
    assert!(search["avg_duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(body["edge_count"], 2);
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(by(nodes, "id", "agent:billing")["span_count"], 2);
    assert_eq!(by(nodes, "id", "tool:refund")["type"], "tool");
}

#[tokio::test]
async fn overview_counts_the_day_and_what_waits_on_people() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).env("STRATHON_SEED_DEV_KEY", "true").start().await;
    seed(&server, DEV_KEY_RAW).await;
    let (status, _) = server
        .post(
            "/v1/halts",
            DEV_KEY_RAW,
            serde_json::json!({"scope": "project", "reason": "maintenance"}),
        )
        .await;
    assert_eq!(status, 201);

    // A span sent twice (an SDK retry after a lost answer) counts once.
    let retried = vec![span(3, 7, "retried")
        .attr("gen_ai.agent.name", "support")
        .start(now_ns() - 500)];
    let body = otlp::protobuf(&otlp::request("analytics", retried));
    for _ in 0..2 {
        let (status, _, _) = server
            .post_traces(DEV_KEY_RAW, body.clone(), "application/x-protobuf", None)
            .await;
        assert_eq!(status, 200);
    }

    let (status, body) = server.get_json("/v1/overview", Some(DEV_KEY_RAW)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window_hours"], 24);
    assert_eq!(body["spans"], 7, "{body}");
    assert_eq!(body["traces"], 3);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM spans").await, 7);
    // The series behind the charts agree with the totals.
    let hourly: i64 = body["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["spans"].as_i64().unwrap())
        .sum();
    assert_eq!(hourly, 7);
    let blocked = body["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["intervention_state"] == "blocked");
    assert_eq!(blocked.map(|h| h["spans"].as_i64()), Some(Some(1)));
    assert_eq!(body["top_agents"][0]["agent_name"], "support");
    assert_eq!(body["top_agents"][0]["spans"], 5);
    let spend: f64 = body["daily_spend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cost_usd"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((spend - 0.75).abs() < 1e-9, "{body}");
    assert_eq!(body["errors"], 1);
    assert_eq!(body["interventions"]["blocked"], 1);
    assert_eq!(body["cost_usd"], "0.75");
    assert_eq!(body["active_halts"], 1);
    assert_eq!(body["pending_approvals"], 0);
    // The later call counts today whatever the hour; the earlier one may be yesterday.
    let today: f64 = body["spend_today_usd"].as_str().unwrap().parse().unwrap();
    assert!(today >= 0.5, "{body}");

    // Another project's key sees none of it.
    let other = db.project("other").await;
    let key = db.key(other, &["traces:read"]).await;
    let (_, body) = server.get_json("/v1/overview", Some(&key)).await;
    assert_eq!(
        (body["spans"].as_i64(), body["active_halts"].as_i64()),
        (Some(0), Some(0))
    );
    let (status, _) = server
        .get_json(
            "/v1/overview",
            Some(&db.key(DEFAULT_PROJECT_ID, &["policies:read"]).await),
        )
        .await;
    assert_eq!(status, 403);
}
