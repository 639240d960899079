//! Outbound webhooks as a receiving team sees them: signed Standard
//! Webhooks requests that really arrive at a real HTTP endpoint, retried
//! through failures, dead-lettered, replayed, kept across a receiver
//! restart, and refused when they point into the private network.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::hook::Hook;
use crate::otlp::{protobuf, request, span};

const KEYS: &str = "/v1/webhook_signing_keys";
const DELIVERIES: &str = "/v1/webhook_deliveries";
const WAIT: Duration = Duration::from_secs(20);

/// A receiver that may send to loopback (the test endpoint) and retries fast.
fn launch(db: &TestDb) -> Launch {
    Launch::serve(db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .env("STRATHON_WEBHOOK_MIN_BACKOFF_MS", "100")
        .env("STRATHON_WEBHOOK_MAX_BACKOFF_MS", "300")
        .env("STRATHON_WEBHOOK_SWEEPER_INTERVAL_SEC", "1")
}

async fn new_key(server: &Server, key: &str) -> (String, Value) {
    let (status, body) = server.post(KEYS, key, json!({})).await;
    assert_eq!(status, 201, "{body}");
    (
        body["secret"].as_str().expect("secret shown at creation").to_owned(),
        body,
    )
}

async fn channel(server: &Server, key: &str, url: &str, events: &[&str]) -> Value {
    let body = json!({"channel_type": "webhook", "name": "ops", "config": {"url": url}, "events": events});
    let (status, body) = server.post("/v1/notification-channels", key, body).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn halt(server: &Server, key: &str, reason: &str) -> Value {
    let (status, body) = server
        .post("/v1/halts", key, json!({"scope": "project", "reason": reason}))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn deliveries(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = server.get_json(&format!("{DELIVERIES}{query}"), Some(key)).await;
    assert_eq!(status, 200, "{body}");
    body["webhook_deliveries"].as_array().cloned().unwrap_or_default()
}

/// Waits until the only delivery (or the newest) reaches `status`.
async fn settle(server: &Server, key: &str, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    server
        .wait_for(&format!("delivery {id} to become {status}"), WAIT, async || {
            last = server.get_json(&format!("{DELIVERIES}/{id}"), Some(key)).await.1;
            last["status"] == status
        })
        .await;
    last
}

#[tokio::test]
async fn signing_keys_are_shown_once_then_listed_and_revoked() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["webhook_signing_keys:read"]).await;
    let server = launch(&db).start().await;

    let (secret, created) = new_key(&server, &key).await;
    assert!(secret.starts_with("whsec_") && secret.len() == 38, "{secret}");
    let prefix = created["prefix"].as_str().unwrap();
    assert!(prefix.len() == 4 && prefix.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(created["revoked_at"], Value::Null);
    let (older, _) = new_key(&server, &key).await;
    assert_ne!(older, secret);

    let (status, listed) = server.get_json(KEYS, Some(&reader)).await;
    assert_eq!(status, 200);
    let listed = listed["webhook_signing_keys"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|k| k.get("secret").is_none()),
        "never shown again: {listed:?}"
    );
    let stored = stored_secret(&db, &created).await;
    assert_eq!(stored, secret, "without an encryption key the secret is kept as is");

    let path = format!("{KEYS}/{}", created["id"].as_str().unwrap());
    let (status, revoked) = server.call(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, again) = server.call(Method::DELETE, &path, &key, None).await;
    assert_eq!(
        (status, &again["revoked_at"]),
        (200, &revoked["revoked_at"]),
        "idempotent"
    );
    let (_, active) = server.get_json(KEYS, Some(&key)).await;
    assert_eq!(active["webhook_signing_keys"].as_array().unwrap().len(), 1);
    let (_, all) = server
        .get_json(&format!("{KEYS}?include_revoked=true"), Some(&key))
        .await;
    let all = all["webhook_signing_keys"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert!(
        all[0]["revoked_at"].is_null() && all[1]["revoked_at"].is_string(),
        "active first"
    );

    let (status, body) = server.call(Method::DELETE, &format!("{KEYS}/nope"), &key, None).await;
    assert_eq!((status, body), (400, json!({"detail": "invalid key_id"})));
    let (status, body) = server
        .call(Method::DELETE, &format!("{KEYS}/{}", uuid::Uuid::new_v4()), &key, None)
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "signing key not found or not owned by this project"})
        )
    );
    let (status, _) = server.post(KEYS, &reader, json!({})).await;
    assert_eq!(status, 403, "creating needs webhook_signing_keys:write");

    let actions = server.audit_actions(&key, "webhook_signing_key").await;
    assert!(
        actions.iter().any(|a| a == "webhook_signing_key.create")
            && actions.iter().any(|a| a == "webhook_signing_key.revoke"),
        "{actions:?}"
    );
}

/// What the database holds for a signing key's secret.
async fn stored_secret(db: &TestDb, key: &Value) -> String {
    db.sql()
        .await
        .query_one(
            "SELECT secret_sealed FROM webhook_signing_keys WHERE id = $1",
            &[&uuid(&key["id"])],
        )
        .await
        .unwrap()
        .get(0)
}

fn uuid(v: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(v.as_str().expect("a uuid string")).unwrap()
}

#[tokio::test]
async fn halts_reach_a_subscribed_channel_signed_by_every_live_key() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    // No sweep during the test: only the commit's NOTIFY can wake the sender.
    let server = launch(&db)
        .env("STRATHON_WEBHOOK_SWEEPER_INTERVAL_SEC", "3600")
        .start()
        .await;
    let hook = Hook::start();
    let (first, first_key) = new_key(&server, &key).await;
    let (second, _) = new_key(&server, &key).await;
    channel(&server, &key, &hook.url("/halts"), &["halt_created", "halt_cleared"]).await;
    // Subscribed to something else: must get nothing.
    let quiet = Hook::start();
    channel(&server, &key, &quiet.url("/budgets"), &["budget_halt"]).await;
    // A Slack channel gets a message Slack can show.
    let slack = Hook::start();
    let body = json!({"channel_type": "slack", "name": "ops", "config": {"url": slack.url("/services/T0/B0/x")}, "events": ["halt_created"]});
    assert_eq!(server.post("/v1/notification-channels", &key, body).await.0, 201);

    let created = halt(&server, &key, "incident 42").await;
    let got = hook.wait_for(1, WAIT).await;
    let request = &got[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("user-agent"),
        Some("Strathon-Receiver/1.0 (+strathon.io)")
    );
    let id = request.header("webhook-id").unwrap();
    assert!(id.starts_with("msg_") && id.len() == 26, "{id}");
    let sent_at: i64 = request.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 30);
    assert_eq!(request.header("webhook-signature").unwrap().split(' ').count(), 2);
    assert_eq!(request.verified_by(&first), 1);
    assert_eq!(request.verified_by(&second), 1);
    let body = request.json();
    assert_eq!(body["event"], "halt_created");
    assert_eq!(body["project_id"], DEFAULT_PROJECT_ID.to_string());
    assert_eq!(body["halt_id"], created["id"]);
    assert_eq!(body["reason"], "incident 42");
    assert_eq!(body["actor"], "user");
    let said = slack.wait_for(1, WAIT).await[0].json();
    assert_eq!(
        said,
        json!({"text": "[Strathon] halt_created: the project halted: incident 42"})
    );

    // Rotation: once the old key is revoked, only the new one signs.
    let path = format!("{KEYS}/{}", first_key["id"].as_str().unwrap());
    assert_eq!(server.call(Method::DELETE, &path, &key, None).await.0, 200);
    let (status, _) = server
        .call(Method::DELETE, &format!("/v1/halts/{}", created["id"]), &key, None)
        .await;
    assert_eq!(status, 200);
    let got = hook.wait_for(2, WAIT).await;
    let cleared = &got[1];
    assert_eq!(cleared.json()["event"], "halt_cleared");
    assert!(cleared.json()["cleared_at"].is_string());
    assert_eq!(cleared.verified_by(&first), 0);
    assert_eq!(cleared.verified_by(&second), 1);
    assert_ne!(cleared.header("webhook-id"), Some(id));

    let listed: Vec<Value> = deliveries(&server, &key, "")
        .await
        .into_iter()
        .filter(|d| d["format"] == "standard")
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|d| d["status"] == "succeeded" && d["attempts"] == 1));
    assert_eq!(listed[0]["event"], "halt_cleared", "newest first");
    let (status, one) = server
        .get_json(
            &format!("{DELIVERIES}/{}", listed[1]["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["webhook_id"], id);
    assert_eq!(one["last_response_status"], 200);
    assert_eq!(serde_json::to_vec(&one["payload"]).unwrap().len(), request.body.len());
    assert!(quiet.received().is_empty(), "an unsubscribed channel gets nothing");
    assert!(
        server
            .metric("strathon_receiver_webhook_sends_total{outcome=\"succeeded\"}")
            .await
            >= Some(2.0)
    );
}

#[tokio::test]
async fn an_alert_policy_posts_each_match_once_with_the_stored_attributes() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = launch(&db).start().await;
    let hook = Hook::start();
    let (secret, _) = new_key(&server, &key).await;
    let policy = json!({
        "name": "refunds", "match_expression": r#"attrs["gen_ai.tool.name"] == "refund""#,
        "action": "alert", "action_config": {"webhook_url": hook.url("/alerts")},
    });
    let (status, policy) = server.post("/v1/policies", &key, policy).await;
    assert_eq!(status, 201, "{policy}");

    let spans = || {
        vec![
            span(7, 1, "tool.refund")
                .attr("gen_ai.tool.name", "refund")
                .attr("customer.email", "ada@example.com"),
            span(7, 2, "tool.search").attr("gen_ai.tool.name", "search"),
        ]
    };
    for _ in 0..2 {
        let (status, _, body) = server
            .post_traces(
                &key,
                protobuf(&request("shop", spans())),
                "application/x-protobuf",
                None,
            )
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let got = hook.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(got[0].verified_by(&secret), 1);
    assert_eq!(body["event"], "policy_alert");
    assert_eq!(body["policy_id"], policy["id"]);
    assert_eq!(body["policy_name"], "refunds");
    assert_eq!(body["span_name"], "tool.refund");
    assert_eq!(body["trace_id"], hex::encode(crate::otlp::trace_id(7)));
    assert_eq!(body["span_id"], hex::encode(crate::otlp::span_id(1)));
    assert_eq!(body["attrs"]["gen_ai.tool.name"], "refund");
    assert_ne!(
        body["attrs"]["customer.email"], "ada@example.com",
        "the payload carries the stored, redacted attributes"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        hook.received().len(),
        1,
        "a span sent twice is one match and one webhook"
    );
    let by_policy = deliveries(&server, &key, &format!("?policy_id={}", policy["id"].as_str().unwrap())).await;
    assert_eq!(by_policy.len(), 1);
    assert_eq!(by_policy[0]["url"], hook.url("/alerts"));
    assert!(
        deliveries(&server, &key, &format!("?policy_id={}", uuid::Uuid::new_v4()))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn failures_are_retried_then_dead_lettered_and_can_be_replayed() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = launch(&db).env("STRATHON_WEBHOOK_MAX_ATTEMPTS", "3").start().await;
    let hook = Hook::start();
    channel(&server, &key, &hook.url("/ops"), &[]).await;

    // A 500 then a 200: delivered on the second attempt, same message id.
    hook.respond(&[500]);
    halt(&server, &key, "flaky receiver").await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(got[1].at > got[0].at);
    let id = deliveries(&server, &key, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = settle(&server, &key, &id, "succeeded").await;
    assert_eq!(done["attempts"], 2);
    assert_eq!(done["max_attempts"], 3);

    // Failing every time: three attempts, then the dead-letter queue.
    hook.respond(&[503, 502, 500]);
    halt(&server, &key, "receiver down").await;
    let got = hook.wait_for(5, WAIT).await;
    let dead = deliveries(&server, &key, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dlq = settle(&server, &key, &dead, "dlq").await;
    assert_eq!(dlq["attempts"], 3);
    assert_eq!(dlq["last_response_status"], 500);
    assert_eq!(dlq["last_error"], "HTTP 500");
    assert_eq!(
        got[2..]
            .iter()
            .filter(|r| r.json()["reason"] == "receiver down")
            .count(),
        3
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.received().len(), 5, "nothing is sent after the dead-letter");
    assert_eq!(deliveries(&server, &key, "?status_filter=succeeded").await.len(), 1);

    // Replay: from the start, and delivered now that the receiver is back.
    let (status, replayed) = server
        .post(&format!("{DELIVERIES}/{dead}/replay"), &key, json!({}))
        .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["attempts"], 0);
    let got = hook.wait_for(6, WAIT).await;
    assert_eq!(got[5].json()["reason"], "receiver down");
    let replayed = settle(&server, &key, &dead, "succeeded").await;
    assert_eq!(
        (replayed["attempts"].clone(), replayed["last_error"].clone()),
        (json!(1), Value::Null)
    );

    let (status, body) = server
        .post(&format!("{DELIVERIES}/{dead}/replay"), &key, json!({}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["detail"],
        format!("delivery {dead} is in status 'succeeded'; replay is only allowed for ['abandoned', 'dlq']")
    );
    let (status, body) = server
        .get_json(&format!("{DELIVERIES}?status_filter=lost"), Some(&key))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        "unknown status: 'lost'. Valid: ['pending', 'succeeded', 'failed_retrying', 'dlq', 'abandoned']"
    );
    assert!(server.metric("strathon_receiver_webhook_dlq_total").await >= Some(1.0));
}

#[tokio::test]
async fn nothing_queued_is_lost_across_restarts_of_either_side() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let fernet = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    let mut hook = Hook::start();

    // First run: the sender is off, so the delivery only gets queued.
    let mut server = launch(&db)
        .env("STRATHON_ENCRYPTION_KEY", fernet)
        .env("STRATHON_WEBHOOK_SWEEPER_ENABLED", "false")
        .start()
        .await;
    let ready = server.wait_ready().await;
    assert_eq!(ready["checks"]["webhook_sweeper_task"]["disabled"], true);
    let (secret, created) = new_key(&server, &key).await;
    let sealed = stored_secret(&db, &created).await;
    assert!(
        sealed.starts_with("enc:") && !sealed.contains(&secret[6..]),
        "sealed at rest"
    );
    channel(&server, &key, &hook.url("/ops"), &["halt_created"]).await;
    halt(&server, &key, "queued before the restart").await;
    let queued = deliveries(&server, &key, "").await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["status"], "pending");
    server.kill();

    // The webhook endpoint is down when the receiver comes back.
    hook.stop().await;
    let server = launch(&db).env("STRATHON_ENCRYPTION_KEY", fernet).start().await;
    let id = queued[0]["id"].as_str().unwrap();
    let failed = settle(&server, &key, id, "failed_retrying").await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("request failed"),
        "{failed}"
    );
    assert_eq!(failed["last_response_status"], Value::Null);

    hook.serve();
    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["reason"], "queued before the restart");
    assert_eq!(
        got[0].verified_by(&secret),
        1,
        "signed with the key created before the restart"
    );
    settle(&server, &key, id, "succeeded").await;
    let (status, ready) = server.ready().await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["webhook_sweeper_task"]["status"], "ok");
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let hook = Hook::start();

    // The guard as shipped: loopback is private too.
    let server = Launch::serve(&db).start().await;
    channel(&server, &key, &hook.url("/ops"), &["halt_created"]).await;
    halt(&server, &key, "to loopback").await;
    let id = deliveries(&server, &key, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = settle(&server, &key, &id, "abandoned").await;
    let error = refused["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("SSRF blocked: ") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(refused["attempts"], 1);
    assert!(hook.received().is_empty(), "nothing reached the loopback endpoint");
    drop(server);

    // Allowing loopback allows nothing else.
    let server = launch(&db).start().await;
    for (target, reason) in [
        ("http://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fd00::1]/hook", "unique local"),
        ("https://0.0.0.0/hook", "unspecified"),
    ] {
        db.sql()
            .await
            .execute("DELETE FROM notification_channels", &[])
            .await
            .unwrap();
        channel(&server, &key, target, &["halt_created"]).await;
        halt(&server, &key, target).await;
        let newest = deliveries(&server, &key, "").await[0].clone();
        assert_eq!(newest["url"], target);
        let refused = settle(&server, &key, newest["id"].as_str().unwrap(), "abandoned").await;
        let error = refused["last_error"].as_str().unwrap();
        assert!(
            error.starts_with("SSRF blocked: ") && error.contains(reason),
            "{target}: {error}"
        );
    }
    let (status, replayed) = server.post(&format!("{DELIVERIES}/{id}/replay"), &key, json!({})).await;
    assert_eq!(status, 202, "an abandoned delivery can be replayed: {replayed}");
    hook.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn approvals_budgets_and_silent_agents_reach_a_channel_subscribed_to_everything() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = launch(&db)
        .env("STRATHON_BUDGET_EVAL_INTERVAL_SECONDS", "1")
        .env("STRATHON_HEARTBEAT_TIMEOUT_SECONDS", "2")
        .start()
        .await;
    let hook = Hook::start();
    channel(&server, &key, &hook.url("/all"), &[]).await;
    let policy = json!({
        "name": "refund approval", "match_expression": r#"attrs["gen_ai.tool.name"] == "refund""#,
        "action": "require_approval", "action_config": {"timeout_seconds": 600},
    });
    let (status, policy) = server.post("/v1/policies", &key, policy).await;
    assert_eq!(status, 201, "{policy}");
    let (status, budget) = server
        .post(
            "/v1/budgets",
            &key,
            json!({"name": "tiny", "scope": "project", "max_spend_usd": "0.10", "budget_duration": "1d"}),
        )
        .await;
    assert_eq!(status, 201, "{budget}");

    let spans = vec![
        span(9, 1, "tool.refund")
            .attr("gen_ai.tool.name", "refund")
            .attr("gen_ai.agent.name", "billing")
            .attr("strathon.agent.cost.usd", 0.5),
        span(9, 2, "strathon.heartbeat")
            .attr("strathon.agent.name", "billing")
            .attr("strathon.heartbeat", true),
    ];
    let (status, _, body) = server
        .post_traces(
            &key,
            protobuf(&request("billing", spans)),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let got = hook.wait_for(3, WAIT).await;
    let by_event = |name: &str| {
        got.iter()
            .map(|r| r.json())
            .find(|b| b["event"] == name)
            .unwrap_or_else(|| panic!("no {name} among {got:#?}"))
    };
    let approval = by_event("approval_requested");
    assert_eq!(approval["policy_id"], policy["id"]);
    assert_eq!(approval["tool_name"], "refund");
    assert_eq!(approval["agent_name"], "billing");
    assert_eq!(approval["timeout_seconds"], 600);
    let (status, _) = server
        .get_json(approval["approval_url"].as_str().unwrap(), Some(&key))
        .await;
    assert_eq!(status, 200, "approval_url points at the approval");
    let halted = by_event("budget_halt");
    assert_eq!(halted["actor"], "budget_monitor");
    assert_eq!(halted["budget_id"], budget["id"]);
    let missed = by_event("heartbeat_missed");
    assert_eq!(missed["agent_name"], "billing");
    assert_eq!(missed["timeout_seconds"], 2);
    assert!(missed["silent_seconds"].as_i64().unwrap() >= 2);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let events: Vec<String> = deliveries(&server, &key, "")
        .await
        .iter()
        .map(|d| d["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "heartbeat_missed").count(),
        1,
        "a silent agent is reported once: {events:?}"
    );
    assert_eq!(events.len(), 3, "{events:?}");
}

#[tokio::test]
async fn an_unanswered_approval_announces_its_request_and_its_expiry() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let hook = Hook::start();
    let server = launch(&db).start().await;
    channel(
        &server,
        &key,
        &hook.url("/approvals"),
        &["approval_request", "approval_expired"],
    )
    .await;
    let (status, created) = server
        .post(
            "/v1/approvals",
            &key,
            json!({"policy_id": uuid::Uuid::new_v4(), "tool_name": "wire_money", "timeout_seconds": 1}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let requested = hook.wait_for(1, WAIT).await[0].json();
    assert_eq!(requested["event"], "approval_requested");
    assert_eq!(requested["tool_name"], "wire_money");
    let id = requested["approval_id"].clone();

    // The reaper sweeps every 30 s and once at start: restart past the deadline.
    drop(server);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let server = launch(&db).start().await;
    let got = hook.wait_for(2, WAIT).await;
    let expired = got[1].json();
    assert_eq!(expired["event"], "approval_expired");
    assert_eq!(expired["approval_id"], id);
    assert_eq!(expired["status"], "expired");
    let events: Vec<Value> = deliveries(&server, &key, "")
        .await
        .iter()
        .map(|d| d["event"].clone())
        .collect();
    assert_eq!(events, [json!("approval_expired"), json!("approval_request")]);
}
