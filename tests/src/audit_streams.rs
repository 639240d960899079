//! Audit streams as a log pipeline sees them: every audit event of the
//! chosen categories arrives, signed, in sequence order, through a crash of
//! the Strathon receiver and an outage of the endpoint; a dead-lettered
//! event pauses the stream instead of being skipped, and resuming sends it
//! and everything after it, still in order.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::hook::{Hook, Received};

const STREAMS: &str = "/v1/audit/streams";
const WAIT: Duration = Duration::from_secs(30);

fn launch(db: &TestDb) -> Launch {
    Launch::serve(db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .env("STRATHON_WEBHOOK_MIN_BACKOFF_MS", "100")
        .env("STRATHON_WEBHOOK_MAX_BACKOFF_MS", "300")
        .env("STRATHON_WEBHOOK_SWEEPER_INTERVAL_SEC", "1")
}

async fn halt(server: &Server, key: &str, reason: &str) {
    let (status, body) = server
        .post(
            "/v1/halts",
            key,
            json!({"scope": "agent", "scope_value": reason, "reason": reason}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The sequence numbers in the order the endpoint saw them.
fn sequence(got: &[Received]) -> Vec<i64> {
    got.iter().map(|r| r.json()["sequence_no"].as_i64().unwrap()).collect()
}

/// Distinct events in arrival order; panics if any arrived out of order
/// (a retry may repeat the event just sent, never an older one).
fn in_order(seqs: &[i64]) -> Vec<i64> {
    for pair in seqs.windows(2) {
        assert!(
            pair[1] >= pair[0],
            "event {} arrived after {}: {seqs:?}",
            pair[1],
            pair[0]
        );
    }
    let mut distinct = seqs.to_vec();
    distinct.dedup();
    distinct
}

/// The sequence numbers of the project's halt events, oldest first.
async fn halt_events(server: &Server, key: &str) -> Vec<i64> {
    let events = server
        .list("/v1/audit/events?limit=1000&filter=action_category eq \"halt\"", key)
        .await;
    let mut seqs: Vec<i64> = events.iter().map(|e| e["sequence_no"].as_i64().unwrap()).collect();
    seqs.sort_unstable();
    seqs
}

async fn wait_distinct(hook: &Hook, n: usize) -> Vec<i64> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = in_order(&sequence(&hook.received()));
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} distinct events within {WAIT:?}, got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stream_delivers_every_event_in_order_through_crashes_and_outages() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let mut hook = Hook::start();
    let mut server = launch(&db).start().await;
    let (status, signing) = server.post("/v1/webhook_signing_keys", &key, json!({})).await;
    assert_eq!(status, 201);
    let secret = signing["secret"].as_str().unwrap().to_owned();
    // A second live key: the stream names the first, so only it signs.
    let (_, other) = server.post("/v1/webhook_signing_keys", &key, json!({})).await;
    let body =
        json!({"name": "siem", "url": hook.url("/audit"), "categories": ["halt"], "signing_key_id": signing["id"]});
    let (status, stream) = server.post(STREAMS, &key, body).await;
    assert_eq!(status, 201, "{stream}");
    assert_eq!(stream["categories"], json!(["halt"]));
    assert_eq!(stream["enabled"], true);
    assert_eq!(stream["paused_at"], Value::Null);

    for i in 0..12 {
        halt(&server, &key, &format!("agent-{i}")).await;
    }
    // A policy event is of another category: never streamed.
    let policy = json!({"name": "p", "match_expression": "true", "action": "log"});
    assert_eq!(server.post("/v1/policies", &key, policy).await.0, 201);

    // The receiver dies mid-stream (SIGKILL: no chance to finish anything).
    wait_distinct(&hook, 3).await;
    server.kill();
    let server = launch(&db).start().await;
    for i in 12..16 {
        halt(&server, &key, &format!("agent-{i}")).await;
    }
    // Then the endpoint goes away for a while.
    wait_distinct(&hook, 14).await;
    hook.stop().await;
    for i in 16..20 {
        halt(&server, &key, &format!("agent-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hook.serve();

    let expected = halt_events(&server, &key).await;
    assert_eq!(expected.len(), 20);
    let got = wait_distinct(&hook, 20).await;
    assert_eq!(got, expected, "every halt event, once each, in sequence order");
    let received = hook.received();
    assert!(received.iter().all(|r| r.json()["data"]["action_category"] == "halt"));
    assert!(received.iter().all(|r| r.verified_by(&secret) == 1));
    assert_eq!(received[0].verified_by(other["secret"].as_str().unwrap()), 0);
    assert_eq!(
        received[0].header("webhook-signature").unwrap().split(' ').count(),
        1,
        "signed by the stream's key alone"
    );

    // Each delivery carries the event exactly as the audit API shows it.
    let last = received.last().unwrap().json();
    assert_eq!(last["event"], "audit_event");
    assert_eq!(last["stream_id"], stream["id"]);
    let (status, event) = server
        .get_json(
            &format!("/v1/audit/events/{}", last["data"]["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(last["data"], event);

    let (_, listed) = server.get_json(STREAMS, Some(&key)).await;
    let listed = &listed["data"][0];
    assert_eq!(listed["backlog"], 0);
    assert_eq!(listed["delivered_through"], json!(expected.last()));
}

#[tokio::test]
async fn a_dead_event_pauses_its_stream_until_it_is_resumed() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let hook = Hook::start();
    let server = launch(&db).env("STRATHON_WEBHOOK_MAX_ATTEMPTS", "2").start().await;
    let (status, stream) = server
        .post(
            STREAMS,
            &key,
            json!({"name": "siem", "url": hook.url("/audit"), "categories": ["halt"]}),
        )
        .await;
    assert_eq!(status, 201, "{stream}");
    let path = format!("{STREAMS}/{}", stream["id"].as_str().unwrap());

    halt(&server, &key, "first").await;
    wait_distinct(&hook, 1).await;
    // The second event fails twice: dead-lettered, and the stream holds.
    hook.respond(&[500, 500]);
    halt(&server, &key, "second").await;
    let mut paused = Value::Null;
    server
        .wait_for("the stream to pause", WAIT, async || {
            paused = server.get_json(&path, Some(&key)).await.1;
            paused["paused_at"].is_string()
        })
        .await;
    let reason = paused["pause_reason"].as_str().unwrap();
    assert!(
        reason.contains("dead-lettered") && reason.contains("HTTP 500"),
        "{reason}"
    );
    halt(&server, &key, "third").await;
    halt(&server, &key, "fourth").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.received().len(), 3, "nothing is sent past a dead event");
    let (_, now) = server.get_json(&path, Some(&key)).await;
    assert_eq!(now["backlog"], 3, "{now}");

    let (status, resumed) = server
        .call(Method::PATCH, &path, &key, Some(json!({"paused": false})))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["paused_at"], Value::Null);
    let got = wait_distinct(&hook, 4).await;
    assert_eq!(got, halt_events(&server, &key).await);
    let reasons: Vec<Value> = hook
        .received()
        .iter()
        .map(|r| r.json()["data"]["after_state"]["reason"].clone())
        .collect();
    assert_eq!(reasons.last(), Some(&json!("fourth")));

    // Held by hand, then deleted with everything it still had queued.
    let (status, held) = server
        .call(Method::PATCH, &path, &key, Some(json!({"paused": true})))
        .await;
    assert_eq!(status, 200);
    assert!(held["pause_reason"].as_str().unwrap().starts_with("paused by"));
    halt(&server, &key, "fifth").await;
    let (status, _) = server.call(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM webhook_deliveries WHERE event = 'audit_event'")
            .await,
        0
    );
    let actions = server.audit_actions(&key, "audit_stream").await;
    assert_eq!(
        actions,
        [
            "audit_stream.delete",
            "audit_stream.update",
            "audit_stream.update",
            "audit_stream.create"
        ]
    );
}

#[tokio::test]
async fn stream_definitions_are_validated() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["audit:read"]).await;
    let server = Launch::serve(&db).start().await;
    let ok = json!({"name": "siem", "url": "https://logs.example.com/ingest"});
    let cases = [
        (
            json!({"name": "x", "url": "https://logs.example.com/x", "extra": 1}),
            422,
            "extra",
        ),
        (json!({"url": "https://logs.example.com/x"}), 422, "Field required"),
        (
            json!({"name": "", "url": "https://logs.example.com/x"}),
            422,
            "1 to 128",
        ),
        (json!({"name": "x", "url": "https:/"}), 422, "8 to 2048"),
        (json!({"name": "x", "url": "http://logs.example.com/x"}), 400, "https"),
        (
            json!({"name": "x", "url": "https://logs.example.com/x", "categories": ["halts"]}),
            400,
            "unknown categories: ['halts']",
        ),
        (
            json!({"name": "x", "url": "https://logs.example.com/x", "categories": []}),
            400,
            "at least one",
        ),
        (json!({"name": "x", "url": "http://10.0.0.8/hook"}), 400, "url rejected"),
        (json!({"name": "x", "url": "https://127.0.0.1/hook"}), 400, "loopback"),
        (
            json!({"name": "x", "url": "https://logs.example.com/x", "signing_key_id": uuid::Uuid::new_v4()}),
            400,
            "not a live signing key",
        ),
        (
            json!({"name": "x", "url": "https://logs.example.com/x", "signing_key_id": "nope"}),
            422,
            "UUID",
        ),
    ];
    for (body, status, detail) in cases {
        let (got, answer) = server.post(STREAMS, &key, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["detail"].to_string().contains(detail), "{body}: {answer}");
    }
    let (status, created) = server.post(STREAMS, &key, ok.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["categories"], Value::Null, "no categories: every event");
    assert_eq!(server.post(STREAMS, &key, ok.clone()).await.0, 409);
    assert_eq!(server.post(STREAMS, &reader, ok).await.0, 403);
    let (status, listed) = server.get_json(STREAMS, Some(&reader)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let missing = uuid::Uuid::new_v4();
    let (status, body) = server
        .call(Method::DELETE, &format!("{STREAMS}/{missing}"), &key, None)
        .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": format!("stream {missing} not found")}))
    );
    let path = format!("{STREAMS}/{}", created["id"].as_str().unwrap());
    let (status, body) = server.call(Method::PATCH, &path, &key, Some(json!({}))).await;
    assert_eq!((status, body["detail"].clone()), (400, json!("nothing to update")));
    let (status, _) = server
        .call(Method::PATCH, &path, &key, Some(json!({"enabled": "no"})))
        .await;
    assert_eq!(status, 422);
}
