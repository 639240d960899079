//! Log output as operators consume it.

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};

#[tokio::test]
async fn json_logs_have_one_record_per_line_and_one_line_per_request() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    server.wait_ready().await;
    server.get_json("/v1/project/settings", Some(&key)).await;
    server
        .get_json("/v1/project/settings?token=hunter2", Some("stra_wrong_key_value"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    for line in server.logs().iter().filter(|l| l.starts_with('{')) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(record["level"].is_string() && record["timestamp"].is_string(), "{line}");
    }
    let requests: Vec<_> = server
        .records()
        .into_iter()
        .filter(|r| r["target"] == "strathon::http")
        .collect();
    let settings: Vec<_> = requests
        .iter()
        .filter(|r| r["route"] == "/v1/project/settings")
        .collect();
    assert_eq!(settings.len(), 2, "{requests:#?}");
    assert_eq!(settings[0]["method"], "GET");
    assert_eq!(settings[0]["status"], 200);
    assert_eq!(settings[1]["status"], 401);
    assert!(settings[0]["duration_ms"].as_f64().is_some());

    let all = server.logs().join("\n");
    for secret in [key.as_str(), "stra_wrong_key_value", "hunter2"] {
        assert!(!all.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test]
async fn text_logs_are_plain_lines_and_levels_filter() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).env("STRATHON_LOG_FORMAT", "text").start().await;
    server.wait_ready().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = server.logs();
    assert!(logs.iter().all(|l| !l.starts_with('{')));
    assert!(
        logs.iter()
            .any(|l| l.contains("INFO") && l.contains("route=/ready") && l.contains("status=200")),
        "{logs:#?}"
    );

    let quiet = Launch::serve(&db).env("STRATHON_LOG_LEVEL", "WARNING").start().await;
    quiet.wait_ready().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        quiet.records().iter().all(|r| r["level"] != "INFO"),
        "{:#?}",
        quiet.logs()
    );
}
