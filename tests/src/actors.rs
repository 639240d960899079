//! The background actors doing their jobs against Postgres, leadership
//! between replicas, and supervision after a panic.

use std::time::Duration;

use serde_json::Value;
use strathon_schema::partitions::Month;

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

async fn tables(db: &TestDb) -> Vec<String> {
    let rows = db
        .sql()
        .await
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'spans_y%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn partition_maintainer_creates_ahead_and_drops_expired_months() {
    let db = TestDb::migrated().await;
    let now = Month::of(chrono::Utc::now());
    let (old, older, ahead) = (now.plus(-14), now.plus(-11), now.plus(3));
    let sql = db.sql().await;
    for m in [old, older] {
        sql.batch_execute(&format!(
            "CREATE TABLE {} PARTITION OF spans FOR VALUES FROM ({}) TO ({})",
            m.span_partition(),
            m.start_ns(),
            m.end_ns()
        ))
        .await
        .unwrap();
    }
    sql.batch_execute(&format!("DROP TABLE {}", ahead.span_partition()))
        .await
        .unwrap();

    // Auto-migrate off, so only the actor can restore the missing month.
    let server = Launch::serve(&db).env("STRATHON_AUTO_MIGRATE", "false").start().await;
    server
        .wait_for("the maintainer's first pass", Duration::from_secs(20), async || {
            let t = tables(&db).await;
            t.contains(&ahead.span_partition()) && !t.contains(&old.span_partition())
        })
        .await;
    let t = tables(&db).await;
    assert!(
        t.contains(&older.span_partition()),
        "11 months old is within the default 12: {t:?}"
    );
    for offset in -1..=3 {
        assert!(t.contains(&now.plus(offset).span_partition()), "{t:?}");
    }
}

#[tokio::test]
async fn partition_retention_is_configurable() {
    let db = TestDb::migrated().await;
    let old = Month::of(chrono::Utc::now()).plus(-14);
    db.sql()
        .await
        .batch_execute(&format!(
            "CREATE TABLE {} PARTITION OF spans FOR VALUES FROM ({}) TO ({})",
            old.span_partition(),
            old.start_ns(),
            old.end_ns()
        ))
        .await
        .unwrap();
    let server = Launch::serve(&db)
        .env("STRATHON_SPAN_PARTITION_RETENTION_MONTHS", "24")
        .start()
        .await;
    server.wait_ready().await;
    assert!(tables(&db).await.contains(&old.span_partition()));
}

#[tokio::test]
async fn dropping_an_old_month_does_not_stall_ingest_behind_a_long_reader() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let old = Month::of(chrono::Utc::now()).plus(-14);
    let sql = db.sql().await;
    sql.batch_execute(&format!(
        "CREATE TABLE {} PARTITION OF spans FOR VALUES FROM ({}) TO ({})",
        old.span_partition(),
        old.start_ns(),
        old.end_ns()
    ))
    .await
    .unwrap();
    // A dashboard query that takes its time: it holds its locks on `spans`
    // (and every partition) until it commits.
    let reader = db.sql().await;
    reader.batch_execute("BEGIN; SELECT count(*) FROM spans").await.unwrap();

    let server = Launch::serve(&db)
        .env("STRATHON_SPAN_PARTITION_INTERVAL_SECONDS", "1")
        .start()
        .await;
    server
        .wait_for(
            "the maintainer to wait for the reader",
            Duration::from_secs(20),
            async || {
                let waiting = sql
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND (query LIKE 'ALTER TABLE spans DETACH%' OR query LIKE 'DROP TABLE%')",
                        &[],
                    )
                    .await
                    .unwrap();
                waiting.get::<_, i64>(0) > 0
            },
        )
        .await;
    // Meanwhile ingest goes on.
    let body = protobuf(&request("agent", vec![span(1, 1, "during.retention")]));
    let posted = tokio::time::timeout(
        Duration::from_secs(5),
        server.post_traces(&key, body, "application/x-protobuf", None),
    )
    .await
    .expect("ingest was blocked by the partition drop");
    assert_eq!(posted.0, 200);

    reader.batch_execute("COMMIT").await.unwrap();
    server
        .wait_for("the old month to be dropped", Duration::from_secs(20), async || {
            !tables(&db).await.contains(&old.span_partition())
        })
        .await;
    assert_eq!(db.scalar_i64("SELECT count(*) FROM spans").await, 1);
}

#[tokio::test]
async fn only_one_replica_leads_and_another_takes_over_when_it_dies() {
    let db = TestDb::migrated().await;
    let launch = Launch::serve(&db).env("STRATHON_SPAN_PARTITION_INTERVAL_SECONDS", "1");
    let mut first = launch.start().await;
    first.wait_ready().await;
    let second = launch.start().await;
    second.wait_ready().await;
    let leader = |body: &Value| body["checks"]["spans_partition_task"]["leader"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(leader(&first.wait_ready().await), Value::Bool(true));
    let standby = second.wait_ready().await;
    assert_eq!(
        leader(&standby),
        Value::Bool(false),
        "a standby replica stays ready: {standby}"
    );

    first.kill();
    second
        .wait_for("the standby to take over", Duration::from_secs(15), async || {
            leader(&second.ready().await.1) == Value::Bool(true)
        })
        .await;
}

async fn insert_trace(db: &TestDb, id: u8, days_ago: i64) {
    let start = chrono::Utc::now().timestamp_nanos_opt().unwrap() - days_ago * 86_400_000_000_000;
    db.sql()
        .await
        .execute(
            "INSERT INTO traces (project_id, id, start_time_unix_nano, span_count) VALUES ($1, $2, $3, 1)",
            &[&DEFAULT_PROJECT_ID, &vec![id; 16], &start],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn retention_sweeper_deletes_expired_traces_in_bounded_batches() {
    let db = TestDb::migrated().await;
    let mut conn = db.conn().await;
    strathon_schema::projects::ensure_default(&mut conn).await.unwrap();
    db.sql()
        .await
        .execute(
            "UPDATE project_settings SET trace_retention_days = 2 WHERE project_id = $1",
            &[&DEFAULT_PROJECT_ID],
        )
        .await
        .unwrap();
    for id in 1..=5 {
        insert_trace(&db, id, 10 + i64::from(id)).await;
    }
    for id in 6..=7 {
        insert_trace(&db, id, 1).await;
    }
    // The oldest trace has a span stored in last month's partition... or
    // earlier; place it in the current month so a partition exists.
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    db.sql()
        .await
        .execute(
            "INSERT INTO spans (project_id, start_time_unix_nano, trace_id, span_id, name, kind) VALUES ($1, $2, $3, $4, 'old.span', 'INTERNAL')",
            &[&DEFAULT_PROJECT_ID, &now_ns, &vec![5u8; 16], &vec![1u8; 8]],
        )
        .await
        .unwrap();

    let server = Launch::serve(&db)
        .env("STRATHON_RETENTION_BATCH_SIZE", "2")
        .env("STRATHON_RETENTION_INTERVAL_SECONDS", "3600")
        .start()
        .await;
    server
        .wait_for("the first sweep", Duration::from_secs(20), async || {
            server.metric("strathon_receiver_retention_sweeps_total").await == Some(1.0)
        })
        .await;
    assert_eq!(
        server.metric("strathon_receiver_retention_traces_deleted_total").await,
        Some(2.0)
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM traces").await,
        5,
        "one sweep deletes at most the batch size"
    );
    // Oldest first: trace 5 (15 days) and 4 went, with trace 5's span.
    assert_eq!(db.scalar_i64("SELECT count(*) FROM spans").await, 0);
    drop(server);

    let fast = Launch::serve(&db)
        .env("STRATHON_RETENTION_BATCH_SIZE", "2")
        .env("STRATHON_RETENTION_INTERVAL_SECONDS", "1")
        .start()
        .await;
    fast.wait_for("all expired traces to go", Duration::from_secs(20), async || {
        db.scalar_i64("SELECT count(*) FROM traces").await == 2
    })
    .await;
    assert_eq!(db.scalar_i64("SELECT count(*) FROM traces WHERE id IN ('\\x06060606060606060606060606060606', '\\x07070707070707070707070707070707')").await, 2);
}

#[tokio::test]
async fn disabled_retention_reports_ok_and_disabled() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db)
        .env("STRATHON_RETENTION_ENABLED", "false")
        .start()
        .await;
    let ready = server.wait_ready().await;
    assert_eq!(
        ready["checks"]["retention_task"],
        serde_json::json!({"status": "ok", "disabled": true})
    );
}

#[tokio::test]
async fn cleanup_removes_expired_sessions_and_keys() {
    let db = TestDb::migrated().await;
    let mut conn = db.conn().await;
    strathon_schema::projects::ensure_default(&mut conn).await.unwrap();
    let live_key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let dead_key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let sql = db.sql().await;
    sql.execute(
        "UPDATE api_keys SET expires_at = now() - interval '31 days' WHERE key_hash = $1",
        &[&strathon_schema::api_keys::hash(&dead_key)],
    )
    .await
    .unwrap();
    sql.batch_execute(
        "INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-00000000beef', 'ops@example.com');
         INSERT INTO sessions (user_id, token_hash, expires_at) VALUES
            ('00000000-0000-0000-0000-00000000beef', 'expired', now() - interval '1 minute'),
            ('00000000-0000-0000-0000-00000000beef', 'live', now() + interval '1 day');",
    )
    .await
    .unwrap();

    let server = Launch::serve(&db).start().await;
    server
        .wait_for("cleanup", Duration::from_secs(20), async || {
            db.scalar_i64("SELECT count(*) FROM sessions").await == 1
                && db.scalar_i64("SELECT count(*) FROM api_keys").await == 1
        })
        .await;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM sessions WHERE token_hash = 'live'")
            .await,
        1
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM api_keys").await, 1);
    assert_eq!(server.get_json("/v1/project/settings", Some(&live_key)).await.0, 200);
}

#[tokio::test]
async fn a_panicking_actor_is_restarted_and_counted() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db)
        .env("STRATHON_FAULT_INJECT", "actor-panic:retention_cleanup_task")
        .env("STRATHON_RETENTION_CLEANUP_INTERVAL_SECONDS", "1")
        .start()
        .await;
    server
        .wait_for("the restart to be counted", Duration::from_secs(20), async || {
            server
                .metric(r#"strathon_receiver_actor_restarts_total{actor="retention_cleanup_task"}"#)
                .await
                == Some(1.0)
        })
        .await;
    assert_eq!(
        server
            .metric(r#"strathon_receiver_actor_ticks_total{actor="retention_cleanup_task",outcome="panic"}"#)
            .await,
        Some(1.0)
    );
    let ready = server.wait_ready().await;
    let check = &ready["checks"]["retention_cleanup_task"];
    assert_eq!(check["status"], "ok");
    assert_eq!(check["restarts"], 1);
    let logged = server
        .records()
        .iter()
        .any(|r| r["level"] == "ERROR" && r["actor"] == "retention_cleanup_task");
    assert!(logged, "{:#?}", server.logs());
    // It keeps working after the restart.
    server
        .wait_for("ticks after the restart", Duration::from_secs(10), async || {
            server
                .metric(r#"strathon_receiver_actor_ticks_total{actor="retention_cleanup_task",outcome="ok"}"#)
                .await
                .unwrap_or(0.0)
                >= 2.0
        })
        .await;
}
