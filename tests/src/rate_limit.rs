//! The per-identifier token bucket seen from a client.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};

fn limited(db: &TestDb) -> Launch {
    Launch::serve(db)
        .env("STRATHON_RATE_LIMIT_ENABLED", "true")
        .env("STRATHON_RATE_LIMIT_BURST", "5")
        .env("STRATHON_RATE_LIMIT_REQUESTS_PER_SECOND", "0.5")
}

#[tokio::test]
async fn bursts_beyond_capacity_get_429_with_retry_after_and_headers() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = limited(&db).start().await;
    for expected_remaining in (0..5).rev() {
        let resp = server
            .get("/v1/project/settings")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "5");
        assert_eq!(
            resp.headers()["x-ratelimit-remaining"],
            expected_remaining.to_string().as_str()
        );
    }
    let resp = server
        .get("/v1/project/settings")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "rate limit exceeded, retry in 2s"})
    );
    // A different credential has its own bucket; probes are never limited.
    let other = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    assert_eq!(
        server
            .get("/v1/project/settings")
            .bearer_auth(&other)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..20 {
        assert_eq!(server.get("/health").send().await.unwrap().status(), 200);
        assert_eq!(server.get("/ready").send().await.unwrap().status(), 200);
    }
    assert_eq!(
        server
            .metric(r#"strathon_receiver_rate_limit_rejections_total{key_type="api_key"}"#)
            .await,
        Some(1.0)
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        server
            .get("/v1/project/settings")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn anonymous_callers_are_told_apart_by_forwarded_for() {
    let db = TestDb::migrated().await;
    let server = limited(&db).start().await;
    let call = |ip: &'static str| {
        server
            .get("/v1/version")
            .header("X-Forwarded-For", format!("{ip}, 10.0.0.1"))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(call("198.51.100.7").await.unwrap().status(), 200);
    }
    assert_eq!(call("198.51.100.7").await.unwrap().status(), 429);
    assert_eq!(call("203.0.113.9").await.unwrap().status(), 200);
    assert_eq!(
        server
            .metric(r#"strathon_receiver_rate_limit_rejections_total{key_type="ip"}"#)
            .await,
        Some(1.0)
    );
}

#[tokio::test]
async fn disabled_limiter_sends_no_headers_and_never_refuses() {
    let db = TestDb::migrated().await;
    let server = limited(&db).env("STRATHON_RATE_LIMIT_ENABLED", "false").start().await;
    for _ in 0..30 {
        let resp = server.get("/v1/version").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("x-ratelimit-limit").is_none());
    }
}
