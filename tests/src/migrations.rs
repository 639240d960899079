//! Migrations: applied at startup under a lock, skipped when disabled, and
//! available as `strathon migrate`.

use std::time::Duration;

use crate::harness::{Launch, TestDb};

#[tokio::test]
async fn two_processes_migrating_at_once_both_come_up_with_the_schema_applied_once() {
    let db = TestDb::empty().await;
    let launch = Launch::serve(&db);
    let (a, b) = tokio::join!(launch.try_start(), launch.try_start());
    let (mut a, mut b) = (a.expect("first replica"), b.expect("second replica"));
    a.wait_ready().await;
    b.wait_ready().await;
    assert!(a.is_running() && b.is_running());
    let embedded = strathon_schema::migrate::embedded_versions().len() as i64;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM __diesel_schema_migrations").await,
        embedded
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM projects WHERE slug = 'default'")
            .await,
        1
    );
}

#[tokio::test]
async fn without_auto_migrate_an_unmigrated_database_is_refused_clearly() {
    let db = TestDb::empty().await;
    let (code, stderr) = Launch::serve(&db)
        .env("STRATHON_AUTO_MIGRATE", "false")
        .run_to_exit(Duration::from_secs(30));
    assert_eq!(code, 1, "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("strathon migrate")), "{stderr:?}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_tables WHERE tablename = 'projects'")
            .await,
        0
    );
}

#[tokio::test]
async fn migrate_command_applies_everything_then_serve_starts_without_migrating() {
    let db = TestDb::empty().await;
    let (code, stderr) = Launch::serve(&db)
        .command("migrate")
        .run_to_exit(Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr:?}");
    let embedded = strathon_schema::migrate::embedded_versions().len() as i64;
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM __diesel_schema_migrations").await,
        embedded
    );
    let month = chrono::Utc::now().format("spans_y%Ym%m").to_string();
    assert_eq!(
        db.scalar_i64(&format!("SELECT count(*) FROM pg_tables WHERE tablename = '{month}'"))
            .await,
        1
    );

    let server = Launch::serve(&db).env("STRATHON_AUTO_MIGRATE", "false").start().await;
    let ready = server.wait_ready().await;
    assert_eq!(ready["checks"]["migrations"]["status"], "ok");
    assert!(server
        .records()
        .iter()
        .any(|r| r["message"].as_str().unwrap_or("").starts_with("auto-migrate disabled")));
}
