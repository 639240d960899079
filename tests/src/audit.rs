//! The tamper-evident audit log: every mutation leaves a chained, signed
//! event, the log cannot be edited through SQL, and verification finds a
//! row someone changed behind the triggers' back.

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};

async fn post(server: &Server, key: &str, path: &str, body: Value) -> u16 {
    server.post(path, key, body).await.0
}

#[tokio::test]
async fn mutations_are_chained_and_tampering_is_found() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db)
        .env("STRATHON_AUDIT_HMAC_KEY", "k".repeat(64))
        .start()
        .await;
    assert_eq!(
        post(
            &server,
            &key,
            "/v1/halts",
            json!({"scope": "project", "reason": "drill"})
        )
        .await,
        201
    );
    assert_eq!(
        post(
            &server,
            &key,
            "/v1/policies",
            json!({"name": "p", "match_expression": "true", "action": "log", "description": "d"})
        )
        .await,
        201
    );

    let (status, listed) = server
        .get_json("/v1/audit/events?filter=action%20eq%20%22halt.issue%22", Some(&key))
        .await;
    assert_eq!(status, 200, "{listed}");
    let event = &listed["data"][0];
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(event["category"], "halt");
    assert_eq!(event["actor_key_prefix"], &key[..12]);
    assert_eq!(event["after_state"]["reason"], "drill");
    assert_eq!(event["hmac_key_id"], 1);
    assert_eq!(
        event["prev_hash"],
        "0".repeat(64),
        "the project's first event starts the chain"
    );
    let (_, one) = server
        .get_json(
            &format!("/v1/audit/events/{}/verify", event["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(one["valid"], true);
    assert_eq!(
        server
            .get_json("/v1/audit/events?filter=nope%20eq%20%22x%22", Some(&key))
            .await
            .0,
        400
    );

    let (_, chain) = server.get_json("/v1/audit/verify", Some(&key)).await;
    assert_eq!(chain["valid"], true, "{chain}");
    // The two mutations and the list read just made (reads are audited too).
    assert_eq!(chain["events_checked"], 3);

    let sql = db.sql().await;
    for statement in [
        "UPDATE audit.events SET reason = 'edited'",
        "DELETE FROM audit.events",
        "TRUNCATE audit.events",
    ] {
        let refused = sql.batch_execute(statement).await.expect_err(statement);
        let message = refused
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }

    // A superuser can switch the triggers off; verification still notices.
    sql.batch_execute(
        "ALTER TABLE audit.events DISABLE TRIGGER USER;
         UPDATE audit.events SET after_state = jsonb_set(after_state, '{reason}', '\"nothing happened\"') WHERE action = 'halt.issue';
         ALTER TABLE audit.events ENABLE TRIGGER USER;",
    )
    .await
    .unwrap();
    let (_, chain) = server.get_json("/v1/audit/verify", Some(&key)).await;
    assert_eq!(chain["valid"], false);
    assert_eq!(chain["first_broken"]["event_id"], event["id"]);
    assert_eq!(
        chain["first_broken"]["problem"],
        "row_hash does not match the event's contents"
    );
    let (_, one) = server
        .get_json(
            &format!("/v1/audit/events/{}/verify", event["id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(one["valid"], false);
}

#[tokio::test]
async fn anchors_seal_events_and_are_checked() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db)
        .env("STRATHON_AUDIT_ANCHOR_INTERVAL_SECONDS", "10")
        .start()
        .await;
    assert_eq!(
        post(
            &server,
            &key,
            "/v1/halts",
            json!({"scope": "project", "reason": "seal me"})
        )
        .await,
        201
    );
    server
        .wait_for("an anchor", std::time::Duration::from_secs(25), async || {
            server.get_json("/v1/audit/anchors/status", Some(&key)).await.1["anchored"] == true
        })
        .await;
    let (_, anchors) = server.get_json("/v1/audit/anchors", Some(&key)).await;
    assert!(anchors["data"][0]["event_count"].as_i64().unwrap() >= 1);
    let (_, chain) = server.get_json("/v1/audit/verify", Some(&key)).await;
    assert_eq!(chain["valid"], true, "{chain}");
    assert!(chain["anchors_checked"].as_i64().unwrap() >= 1);
}
