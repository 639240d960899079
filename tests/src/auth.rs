//! API-key authentication, scopes, project isolation and the dev key.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID, DEV_KEY_RAW};

const SETTINGS: &str = "/v1/project/settings";

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_401() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    let malformed = json!({"detail": "Missing or malformed Authorization header. Expected: Bearer <token>"});
    assert_eq!(server.get_json(SETTINGS, None).await, (401, malformed.clone()));
    let resp = server
        .get(SETTINGS)
        .header("Authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), malformed);
    assert_eq!(
        server.get_json(SETTINGS, Some("stra_not_a_real_key")).await,
        (401, json!({"detail": "Invalid API key"}))
    );
    let (status, _) = server.get_json(SETTINGS, Some("some-session-token")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let db = TestDb::migrated().await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["project_settings:read"]).await;
    let ingest_only = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let wildcard = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;

    assert_eq!(server.get_json(SETTINGS, Some(&reader)).await.0, 200);
    assert_eq!(
        server.get_json(SETTINGS, Some(&ingest_only)).await,
        (403, json!({"detail": "missing required scope: project_settings:read"}))
    );
    let patch = |key: &str| {
        server
            .request(reqwest::Method::PATCH, SETTINGS)
            .bearer_auth(key)
            .json(&json!({"trace_retention_days": 7}))
    };
    let resp = patch(&reader).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "missing required scope: project_settings:write"})
    );
    let resp = patch(&wildcard).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["trace_retention_days"],
        7
    );
}

#[tokio::test]
async fn revoked_expired_and_ip_restricted_keys_are_refused() {
    let db = TestDb::migrated().await;
    let revoked = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let expired = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let elsewhere = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let sql = db.sql().await;
    let hash = strathon_schema::api_keys::hash;
    sql.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1",
        &[&hash(&revoked)],
    )
    .await
    .unwrap();
    // Still within the grace of the cleanup actor's next run: only auth decides.
    sql.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = $1",
        &[&hash(&expired)],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE api_keys SET allowed_ips = ARRAY['10.9.8.7'] WHERE key_hash = $1",
        &[&hash(&elsewhere)],
    )
    .await
    .unwrap();
    let server = Launch::serve(&db)
        .env("STRATHON_RETENTION_CLEANUP_INTERVAL_SECONDS", "3600")
        .start()
        .await;

    assert_eq!(
        server.get_json(SETTINGS, Some(&revoked)).await,
        (401, json!({"detail": "Invalid API key"}))
    );
    assert_eq!(server.get_json(SETTINGS, Some(&expired)).await.0, 401);
    assert_eq!(
        server.get_json(SETTINGS, Some(&elsewhere)).await,
        (403, json!({"detail": "request IP not in key's allowed_ips"}))
    );
}

#[tokio::test]
async fn a_bad_project_header_is_reported_and_a_good_one_cannot_cross_projects() {
    let db = TestDb::migrated().await;
    let other = db.project("other-team").await;
    let key_default = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let key_other = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;

    let resp = server
        .get(SETTINGS)
        .bearer_auth(&key_default)
        .header("X-Project-Id", "not-a-uuid")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "Invalid X-Project-Id header: not-a-uuid"})
    );

    // The key decides the project, whatever the header claims.
    let resp = server
        .request(reqwest::Method::PATCH, SETTINGS)
        .bearer_auth(&key_other)
        .header("X-Project-Id", DEFAULT_PROJECT_ID.to_string())
        .json(&json!({"intervention_default_action": "block"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        server.get_json(SETTINGS, Some(&key_other)).await.1["intervention_default_action"],
        "block"
    );
    assert_eq!(
        server.get_json(SETTINGS, Some(&key_default)).await.1["intervention_default_action"],
        "allow"
    );
}

#[tokio::test]
async fn settings_validation_answers_400() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let patch = |body: serde_json::Value| {
        server
            .request(reqwest::Method::PATCH, SETTINGS)
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let resp = patch(json!({"trace_retention_days": 5000})).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "trace_retention_days must be between 1 and 3650, got 5000"})
    );
    let resp = patch(json!({"nope": true})).await.unwrap();
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "unknown settings keys: ['nope']"})
    );
    let resp = server
        .request(reqwest::Method::PATCH, SETTINGS)
        .bearer_auth(&key)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn dev_key_exists_only_while_seeding_is_on_and_the_banner_announces_it() {
    let db = TestDb::migrated().await;
    let mut seeded = Launch::serve(&db).env("STRATHON_SEED_DEV_KEY", "true").start().await;
    seeded.wait_ready().await;
    let (status, body) = seeded.get_json(SETTINGS, Some(DEV_KEY_RAW)).await;
    assert_eq!(status, 200, "{body}");
    let logs = seeded.logs();
    let banner = logs
        .iter()
        .position(|l| l == "  Strathon receiver ready")
        .expect("banner printed");
    assert_eq!(logs[banner - 1], "=".repeat(60));
    let endpoint = format!(
        "  Endpoint:   http://localhost:{}",
        seeded.base.rsplit(':').next().unwrap()
    );
    assert!(logs.contains(&endpoint), "{logs:#?}");
    assert!(logs.contains(&format!("      {DEV_KEY_RAW}")));
    seeded.kill();

    let plain = Launch::serve(&db).start().await;
    plain.wait_ready().await;
    assert_eq!(
        plain.get_json(SETTINGS, Some(DEV_KEY_RAW)).await,
        (401, json!({"detail": "Invalid API key"}))
    );
    assert!(!plain.logs().iter().any(|l| l.contains("Strathon receiver ready")));
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM api_keys WHERE key_prefix = 'stra_dev_loc'")
            .await,
        0
    );
}

#[tokio::test]
async fn dev_command_creates_the_database_and_seeds_the_key() {
    let db = TestDb::unborn();
    let server = Launch::serve(&db).command("dev").start().await;
    let ready = server.wait_ready().await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(server.get_json(SETTINGS, Some(DEV_KEY_RAW)).await.0, 200);
    assert!(server.logs().iter().any(|l| l == "  Strathon receiver ready"));
    tokio::time::sleep(Duration::from_millis(10)).await;
}
