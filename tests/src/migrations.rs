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

#[tokio::test]
async fn migrate_shows_status_and_history_and_reverts_only_when_confirmed() {
    let db = TestDb::empty().await;
    let migrate = Launch::with_url("migrate", &db.url);
    let wait = Duration::from_secs(60);
    let head = strathon_schema::migrate::head_version().unwrap();
    let total = strathon_schema::migrate::embedded_versions().len();

    let (code, out, _) = migrate.run_with(&["status"], wait);
    assert_eq!(code, 0);
    assert!(out.contains("current: none (not migrated)"), "{out}");
    assert!(out.contains(&format!("pending: {total}")), "{out}");

    assert_eq!(migrate.run_with(&[], wait).0, 0, "plain `migrate` applies");
    let (_, out, _) = migrate.run_with(&["status"], wait);
    assert!(out.starts_with(&format!("current: {head} (")), "{out}");
    assert!(out.contains("pending: none"), "{out}");
    let (_, history, _) = migrate.run_with(&["history"], wait);
    assert_eq!(history.lines().count(), total + 1, "{history}");
    assert!(history.lines().skip(1).all(|l| l.ends_with(" UTC")), "{history}");

    // Without --yes nothing is reverted, and the refusal says why.
    let versions = strathon_schema::migrate::embedded_versions();
    let target = &versions[versions.len() - 3];
    let (code, _, err) = migrate.run_with(&["revert", "--to", target], wait);
    assert_eq!(code, 1);
    assert!(err.iter().any(|l| l.contains("--yes")), "{err:?}");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM __diesel_schema_migrations").await,
        total as i64
    );
    let (code, out, _) = migrate.run_with(&["revert", "--to", target, "--yes"], wait);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("reverted ").count(), 2, "{out}");
    let (_, out, _) = migrate.run_with(&["status"], wait);
    assert!(
        out.starts_with(&format!("current: {target}")) && out.contains("pending: 2"),
        "{out}"
    );
    let (code, _, err) = migrate.run_with(&["revert", "--to", "19990101000000", "--yes"], wait);
    assert_eq!(code, 1);
    assert!(
        err.iter().any(|l| l.contains("not a migration of this binary")),
        "{err:?}"
    );
    // A receiver brings the schema back to head.
    let server = Launch::serve(&db).start().await;
    assert_eq!(
        server.wait_ready().await["checks"]["migrations"]["current"],
        head.as_str()
    );
}

#[tokio::test]
async fn generated_keys_are_accepted_by_a_receiver_that_requires_them() {
    let (code, out, _) = Launch::with_url("keys", "unused").run_with(&["generate"], Duration::from_secs(10));
    assert_eq!(code, 0);
    let db = TestDb::migrated().await;
    let mut launch = Launch::serve(&db).env("STRATHON_REQUIRE_SECURITY_KEYS", "true");
    for line in out.lines() {
        let (name, value) = line.split_once('=').expect("NAME=value lines");
        launch = launch.env(name, value);
    }
    let server = launch.start().await;
    server.wait_ready().await;
    let (_, again, _) = Launch::with_url("keys", "unused").run_with(&["generate"], Duration::from_secs(10));
    assert_ne!(again, out, "every run makes new keys");
}
