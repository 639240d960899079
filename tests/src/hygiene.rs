//! Bad input gets a 4xx naming the field, on every kind of route; a real
//! server fault gets a 500 whose request id leads to its log line.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, TestDb, DEFAULT_PROJECT_ID};

const NUL: &str = "must not contain NUL (\\u0000) characters";

fn refusal(body: &Value) -> (Vec<String>, String) {
    let e = &body["detail"][0];
    let loc = e["loc"]
        .as_array()
        .map(|l| l.iter().map(|p| p.as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    (loc, e["msg"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_nul_anywhere_is_refused_naming_the_field_and_nothing_is_stored() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let bodies = [
        (
            Method::POST,
            "/v1/policies",
            json!({"name": "a\u{0}b", "match_expression": "true", "action": "block"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/policies",
            json!({"name": "p", "match_expression": "name == \"\u{0}\"", "action": "block"}),
            "match_expression",
        ),
        (Method::POST, "/v1/api_keys", json!({"name": "k\u{0}"}), "name"),
        (
            Method::POST,
            "/v1/notification-channels",
            json!({"name": "c\u{0}", "channel_type": "webhook", "config": {"url": "https://example.com"}}),
            "name",
        ),
        (
            Method::POST,
            "/v1/model_prices",
            json!({"model_name": "m\u{0}", "input_cost_per_token": "0.1", "output_cost_per_token": "0.2"}),
            "model_name",
        ),
        (
            Method::POST,
            "/v1/halts",
            json!({"scope": "project", "reason": "r\u{0}"}),
            "reason",
        ),
    ];
    for (method, path, body, field) in bodies {
        let (status, answer) = server.call(method.clone(), path, &key, Some(body)).await;
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_eq!(
            refusal(&answer),
            (vec!["body".to_owned(), field.to_owned()], NUL.to_owned()),
            "{path}"
        );
    }
    // Nested: the location is the whole path to the string.
    let (status, answer) = server
        .post("/v1/policies", &key, json!({"name": "p", "match_expression": "true", "action": "steer", "action_config": {"replacement": ["ok", "x\u{0}"]}}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(refusal(&answer).0, ["body", "action_config", "replacement", "1"]);
    for query in [
        "/v1/traces?agent_name=a%00b",
        "/v1/spans?q=a%00b",
        "/v1/audit/events?action=a%00b",
    ] {
        let (status, answer) = server.get_json(query, Some(&key)).await;
        assert_eq!(status, 422, "{query}: {answer}");
        let (loc, msg) = refusal(&answer);
        assert_eq!((loc[0].as_str(), msg.as_str()), ("query", NUL), "{query}");
        assert!(query.contains(&format!("{}=", loc[1])), "{query} names {loc:?}");
    }
    // Invalid UTF-8 in a query parameter, and a NUL in a path segment.
    let (status, answer) = server.get_json("/v1/traces?agent_name=%ff%fe", Some(&key)).await;
    assert_eq!(
        (status, refusal(&answer)),
        (
            422,
            (vec!["query".into(), "agent_name".into()], "must be valid UTF-8".into())
        )
    );
    let (status, answer) = server.get_json("/v1/policies/a%00b", Some(&key)).await;
    assert_eq!((status, refusal(&answer).0), (422, vec!["path".to_owned()]));
    assert_eq!(db.scalar_i64("SELECT count(*) FROM policies").await, 0);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM halts").await, 0);
    assert!(
        server.logs().iter().all(|l| !l.contains("ERROR")),
        "{:#?}",
        server.logs()
    );
}

#[tokio::test]
async fn documented_limits_are_enforced_before_the_handler() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let (_, doc) = server.get_json("/openapi.json", None).await;
    let limit = doc["components"]["schemas"]["HaltCreate"]["properties"]["reason"]["maxLength"]
        .as_u64()
        .expect("the halt reason has a documented limit");
    let at = |n: usize| json!({"scope": "project", "reason": "é".repeat(n)});
    let (status, over) = server.post("/v1/halts", &key, at(limit as usize + 1)).await;
    assert_eq!(status, 422, "{over}");
    assert_eq!(
        refusal(&over),
        (
            vec!["body".into(), "reason".into()],
            format!("must be at most {limit} characters")
        )
    );
    assert_eq!(db.scalar_i64("SELECT count(*) FROM halts").await, 0);
    let (status, _) = server.post("/v1/halts", &key, at(limit as usize)).await;
    assert_eq!(status, 201, "the limit itself is allowed (characters, not bytes)");
}

#[tokio::test]
async fn a_server_fault_answers_500_with_the_request_id_of_its_log_line() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let ok = server.get("/health").send().await.unwrap();
    assert_eq!(ok.headers()["x-request-id"].len(), 32, "every answer carries an id");
    // A proxy's id is kept, so a request can be followed across hops.
    let proxied = server
        .get("/health")
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.headers()["x-request-id"], "edge-42");
    // A genuine fault: the table the route reads is gone.
    db.sql().await.batch_execute("DROP TABLE halts CASCADE").await.unwrap();
    let resp = server.get("/v1/halts").bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let header = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["request_id"], header.as_str());
    assert!(
        !body.to_string().contains("halts"),
        "no SQL detail reaches the client: {body}"
    );
    server
        .wait_for("the error's log line", std::time::Duration::from_secs(5), async || {
            server.records().iter().any(|r| {
                r["level"] == "ERROR"
                    && r["request_id"] == header.as_str()
                    && r["cause"].as_str().is_some_and(|c| c.contains("halts"))
            })
        })
        .await;
}

#[tokio::test]
async fn another_projects_policy_history_is_not_found() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let other = db.project("other").await;
    let other_key = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let (status, policy) = server
        .post(
            "/v1/policies",
            &other_key,
            json!({"name": "theirs", "match_expression": "true", "action": "block"}),
        )
        .await;
    assert_eq!(status, 201, "{policy}");
    let path = format!("/v1/policies/{}/versions", policy["id"].as_str().unwrap());
    let (status, theirs) = server.get_json(&path, Some(&other_key)).await;
    assert_eq!((status, theirs["data"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, body) = server.get_json(&path, Some(&key)).await;
    assert_eq!((status, body), (404, json!({"detail": "policy not found"})));
}
