//! The security tools over HTTP: the credential catalogue ingest redaction
//! uses, and scanning text against it.

use serde_json::{json, Value};

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

#[tokio::test]
async fn the_credential_catalogue_and_scanner_are_the_ones_ingest_uses() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let writer = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let server = Launch::serve(&db).start().await;

    let (status, catalogue) = server.get_json("/v1/credentials/patterns", Some(&key)).await;
    assert_eq!(status, 200, "{catalogue}");
    let patterns = catalogue["patterns"].as_array().unwrap();
    assert_eq!(catalogue["total_patterns"], patterns.len());
    assert!(patterns.len() >= 70);
    let severities: i64 = catalogue["severity_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(severities as usize, patterns.len());
    assert!(catalogue["categories"].as_array().unwrap().contains(&json!("cloud")));
    let aws = patterns.iter().find(|p| p["id"] == "aws-access-key").unwrap();
    assert_eq!(aws["name"], "AWS Access Key ID");
    assert_eq!(aws["severity"], "critical");

    let text = "deploy with AKIAIOSFODNN7EXAMPLE — ünïcode first — and ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let (status, scan) = server.post("/v1/credentials/scan", &key, json!({"text": text})).await;
    assert_eq!(status, 200, "{scan}");
    assert_eq!(scan["findings_count"], 2);
    let first = &scan["findings"][0];
    assert_eq!(first["pattern_id"], "aws-access-key");
    assert_eq!(first["match_start"], 12);
    assert_eq!(first["match_length"], 20);
    assert_eq!(first["preview"], "AKIA********");
    let second = &scan["findings"][1];
    assert_eq!(second["pattern_id"], "github-pat");
    let chars: Vec<char> = text.chars().collect();
    let start = second["match_start"].as_u64().unwrap() as usize;
    let end = second["match_end"].as_u64().unwrap() as usize;
    assert_eq!(
        chars[start..end].iter().collect::<String>(),
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    );
    assert!(
        !scan.to_string().contains("IOSFODNN7EXAMPLE"),
        "the secret is never echoed"
    );

    // What the scanner finds, ingest redacts under the same name.
    let spans = vec![span(3, 1, "tool.deploy").attr("strathon.tool.args", text)];
    let (status, _, _) = server
        .post_traces(
            &writer,
            protobuf(&request("ops", spans)),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let stored = server.list("/v1/spans?limit=5", &key).await;
    let args = stored[0]["attributes"]["strathon.tool.args"].as_str().unwrap();
    assert!(
        args.contains("[AWS ACCESS KEY ID_REDACTED]") && args.contains("[GITHUB PERSONAL ACCESS TOKEN_REDACTED]"),
        "{args}"
    );

    for (body, status) in [
        (json!({}), 422),
        (json!({"text": 5}), 422),
        (json!({"text": "x".repeat(100_001)}), 422),
        (json!(["text"]), 422),
    ] {
        let (got, answer) = server.post("/v1/credentials/scan", &key, body).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["detail"].is_array(), "{answer}");
    }
    let (status, empty) = server.post("/v1/credentials/scan", &key, json!({"text": ""})).await;
    assert_eq!(
        (status, empty),
        (200, json!({"findings_count": 0, "findings": Vec::<Value>::new()}))
    );
    assert_eq!(server.get_json("/v1/credentials/patterns", Some(&writer)).await.0, 403);
    assert_eq!(
        server
            .post("/v1/credentials/scan", &writer, json!({"text": "x"}))
            .await
            .0,
        403
    );
}
