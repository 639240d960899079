//! Liveness, readiness, metrics and the shapes clients rely on.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Launch, PrivatePostgres, TestDb, DEFAULT_PROJECT_ID};

const ACTOR_CHECKS: [&str; 3] = ["retention_task", "retention_cleanup_task", "spans_partition_task"];

#[tokio::test]
async fn health_is_static_and_ready_lists_every_check() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    let (status, health) = server.get_json("/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"status": "ok", "service": "strathon-receiver", "version": "1.4.0"})
    );

    let ready = server.wait_ready().await;
    assert_eq!(ready["status"], "ready");
    let checks = &ready["checks"];
    assert_eq!(checks["db"]["status"], "ok");
    assert!(checks["db"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(checks["migrations"]["status"], "ok");
    assert_eq!(checks["migrations"]["current"], checks["migrations"]["head"]);
    assert!(checks["migrations"]["head"].as_str().unwrap().starts_with("2026"));
    let month = chrono::Utc::now().format("spans_y%Ym%m").to_string();
    assert_eq!(
        checks["partitions"],
        json!({"status": "ok", "current_partition": month})
    );
    for name in ACTOR_CHECKS {
        assert_eq!(checks[name]["status"], "ok", "{name}: {checks}");
    }
}

#[tokio::test]
async fn a_missing_partition_fails_readiness_with_a_reason() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    server.wait_ready().await;
    let month = chrono::Utc::now().format("spans_y%Ym%m").to_string();
    db.sql()
        .await
        .batch_execute(&format!("DROP TABLE {month}"))
        .await
        .unwrap();
    let (status, body) = server.ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["partitions"]["status"], "failed");
    let reason = body["checks"]["partitions"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("no spans partition for current month"), "{reason}");
    assert_eq!(body["checks"]["db"]["status"], "ok");
}

#[tokio::test]
async fn stopping_postgres_flips_readiness_and_back_while_health_stays_up() {
    let pg = PrivatePostgres::start().expect("a private Postgres cluster");
    let mut server = Launch::with_url("serve", &pg.url("postgres")).start().await;
    server.wait_ready().await;

    pg.down().unwrap();
    let started = std::time::Instant::now();
    let (status, body) = server.ready().await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "one probe, bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(body["checks"]["db"]["status"], "failed");
    assert!(body["checks"]["db"]["reason"].is_string());
    let (status, _) = server.get_json("/health", None).await;
    assert_eq!(status, 200);

    pg.up().unwrap();
    server.wait_ready().await;
    assert!(server.is_running(), "the process keeps serving across the outage");
    let (status, _) = server.get_json("/health", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    let (status, body) = server.get_json("/v1/nothing-here", None).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    let resp = server.request(reqwest::Method::DELETE, "/health").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "Method Not Allowed"})
    );
    let resp = server.get("/health").send().await.unwrap();
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["referrer-policy"], "strict-origin-when-cross-origin");
}

#[tokio::test]
async fn metrics_cover_http_actors_pool_and_process() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["project_settings:read"]).await;
    let server = Launch::serve(&db).start().await;
    server.wait_ready().await;
    for _ in 0..3 {
        server.get_json("/v1/project/settings", Some(&key)).await;
    }
    server.get_json("/v1/project/settings", Some("stra_wrong")).await;
    // Readiness can come from the partition job's heartbeat a moment before
    // its tick is counted.
    let tick = r#"strathon_receiver_actor_ticks_total{actor="spans_partition_task",outcome="ok"}"#;
    server
        .wait_for(
            "the partition job's first counted tick",
            Duration::from_secs(10),
            async || {
                let text = server.get("/metrics").send().await.unwrap().text().await.unwrap();
                text.lines().any(|l| l.starts_with(tick))
            },
        )
        .await;
    let resp = server.get("/metrics").send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
    assert!(
        has(r#"strathon_receiver_http_requests_total{method="GET",route="/v1/project/settings",status="200"} 3"#),
        "{text}"
    );
    assert!(has(
        r#"strathon_receiver_http_requests_total{method="GET",route="/v1/project/settings",status="401"} 1"#
    ));
    assert!(has(
        r#"strathon_receiver_http_request_duration_seconds_bucket{method="GET",route="/v1/project/settings""#
    ));
    assert!(has("strathon_receiver_auth_failures_total 1"));
    assert!(has(
        r#"strathon_receiver_actor_ticks_total{actor="spans_partition_task",outcome="ok"}"#
    ));
    assert!(has(r#"strathon_receiver_db_pool_connections{state="idle"}"#));
    assert!(has("process_resident_memory_bytes"));
    assert!(has("process_cpu_seconds_total"));
    assert!(has("strathon_receiver_sampling_rate 1"));
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db)
        .env("STRATHON_METRICS_AUTH_TOKEN", "scrape-me")
        .start()
        .await;
    assert_eq!(server.get("/metrics").send().await.unwrap().status(), 401);
    assert_eq!(
        server
            .get("/metrics")
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let ok = server.get("/metrics").bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok
        .text()
        .await
        .unwrap()
        .contains("strathon_receiver_http_requests_total"));
}

#[tokio::test]
async fn version_endpoint_reports_the_release() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    assert_eq!(
        server.get_json("/v1/version", None).await,
        (200, json!({"version": "1.4.0", "api_version": "v1"}))
    );
}

#[tokio::test]
async fn sigterm_turns_ready_to_503_serves_through_the_drain_then_exits_0() {
    let db = TestDb::migrated().await;
    let mut server = Launch::serve(&db)
        .env("STRATHON_SHUTDOWN_DRAIN_SECONDS", "2")
        .start()
        .await;
    server.wait_ready().await;
    let signalled = std::time::Instant::now();
    server.terminate();
    server
        .wait_for("/ready to answer 503", Duration::from_secs(2), async || {
            server.ready().await.0 == 503
        })
        .await;
    let resp = server.get("/ready").send().await.unwrap();
    assert_eq!(
        resp.headers()["connection"],
        "close",
        "clients are told to reconnect elsewhere"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["shutting_down"]["status"], "failed", "{body}");
    // Still serving real requests while the drain lasts.
    let (status, _) = server.get_json("/v1/version", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{:#?}",
        server.logs()
    );
    assert!(signalled.elapsed() >= Duration::from_secs(2), "drained before closing");
    let logs = server.logs().join("\n");
    assert!(
        logs.contains("shutdown requested") && logs.contains("Strathon receiver stopped"),
        "{logs}"
    );
}
