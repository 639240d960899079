//! The control plane as its clients see it: policies (the SDK's feed, CRUD,
//! versions, batch, export/import), templates, halts and the SDK's sync,
//! budgets, and the budget monitor halting what real ingested spans spend.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{self, protobuf, request, span};

const POLICIES: &str = "/v1/policies";
const HALTS: &str = "/v1/halts";
const BUDGETS: &str = "/v1/budgets";
const SYNC: &str = "/v1/intervention/sync";
const PB: &str = "application/x-protobuf";
const ASYNC: Duration = Duration::from_secs(15);

const ACTION_MESSAGE: &str =
    "action must be one of ['alert', 'allow', 'block', 'log', 'require_approval', 'steer', 'throttle']";

/// Sends `body` (if any) as JSON with `key`; returns status and JSON body
/// (`Null` when there is none, as for a 204).
async fn post(server: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    server.post(path, key, body).await
}

async fn patch(server: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    server.call(Method::PATCH, path, key, Some(body)).await
}

async fn delete(server: &Server, path: &str, key: &str) -> (u16, Value) {
    server.call(Method::DELETE, path, key, None).await
}

async fn get(server: &Server, path: &str, key: &str) -> (u16, Value) {
    server.get_json(path, Some(key)).await
}

fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

fn near_now(v: &Value, offset: chrono::Duration) {
    let expected = chrono::Utc::now() + offset;
    let drift = (ts(v) - expected).num_seconds().abs();
    assert!(drift < 120, "{v} is not near {expected}");
}

fn approx(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

async fn started(db: &TestDb) -> (Server, String) {
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    (Launch::serve(db).start().await, key)
}

async fn create_policy(server: &Server, key: &str, body: Value) -> Value {
    let (status, policy) = post(server, POLICIES, key, body.clone()).await;
    assert_eq!(status, 201, "{body} -> {policy}");
    policy
}

fn log_policy(name: &str) -> Value {
    json!({"name": name, "match_expression": "true", "action": "log"})
}

async fn feed(server: &Server, key: &str) -> Value {
    let (status, body) = get(server, POLICIES, key).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn names(feed: &Value) -> Vec<String> {
    feed["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------- policies

#[tokio::test]
async fn a_created_policy_has_every_field_and_the_feed_lists_all_in_evaluation_order() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;

    let body = json!({
        "name": "no-refunds",
        "description": "Refunds need a human",
        "match_expression": r#"attrs["gen_ai.tool.name"] == "refund""#,
        "action": "block",
        "action_config": {"message": "No refunds today"},
        "applies_to": ["tool"],
        "priority": 10,
        "ignored_key": "is ignored",
    });
    let p = create_policy(&server, &key, body).await;
    assert_eq!(
        keys(&p),
        set(&[
            "id",
            "project_id",
            "name",
            "description",
            "match_expression",
            "action",
            "action_config",
            "applies_to",
            "enabled",
            "priority",
            "match_count",
            "last_matched_at",
            "shadow",
            "created_at",
            "updated_at",
        ])
    );
    uuid::Uuid::parse_str(p["id"].as_str().unwrap()).expect("a uuid id");
    assert_eq!(p["project_id"], DEFAULT_PROJECT_ID.to_string());
    assert_eq!(p["name"], "no-refunds");
    assert_eq!(p["description"], "Refunds need a human");
    assert_eq!(p["match_expression"], r#"attrs["gen_ai.tool.name"] == "refund""#);
    assert_eq!(p["action"], "block");
    assert_eq!(p["action_config"], json!({"message": "No refunds today"}));
    assert_eq!(p["applies_to"], json!(["tool"]));
    assert_eq!(p["enabled"], true);
    assert_eq!(p["priority"], 10);
    assert_eq!(p["match_count"], 0);
    assert_eq!(p["last_matched_at"], Value::Null);
    assert_eq!(p["shadow"], false);
    for field in ["created_at", "updated_at"] {
        assert!(p[field].as_str().unwrap().ends_with('Z'), "{field}: {}", p[field]);
        near_now(&p[field], chrono::Duration::zero());
    }
    let path = format!("{POLICIES}/{}", p["id"].as_str().unwrap());
    assert_eq!(get(&server, &path, &key).await, (200, p.clone()));

    // Defaults for everything optional.
    let minimal = create_policy(&server, &key, log_policy("minimal")).await;
    assert_eq!(minimal["description"], Value::Null);
    assert_eq!(minimal["action_config"], json!({}));
    assert_eq!(minimal["applies_to"], json!([]));
    assert_eq!(
        (&minimal["enabled"], &minimal["priority"], &minimal["shadow"]),
        (&json!(true), &json!(0), &json!(false))
    );

    // Disabled and shadow policies are served too: the SDK skips them itself.
    for (name, priority, extra) in [
        ("charlie", 10, json!({})),
        ("bravo", 5, json!({"enabled": false})),
        ("alpha", 5, json!({"shadow": true})),
        ("zulu", -3, json!({})),
        ("delta", 99, json!({"enabled": false, "shadow": true})),
    ] {
        let mut body = log_policy(name);
        body["priority"] = json!(priority);
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        create_policy(&server, &key, body).await;
    }
    let listed = feed(&server, &key).await;
    assert_eq!(keys(&listed), set(&["policies", "intervention_default_action"]));
    assert_eq!(
        names(&listed),
        ["delta", "charlie", "no-refunds", "alpha", "bravo", "minimal", "zulu"],
        "priority descending, then name ascending"
    );
    assert_eq!(listed["policies"][2], p, "the feed carries the same object as GET one");
    assert_eq!(listed["policies"][0]["enabled"], false);
    assert_eq!(listed["policies"][0]["shadow"], true);
    assert_eq!(listed["intervention_default_action"], "allow");

    // Allow-list mode follows the project setting.
    let (status, body) = patch(
        &server,
        "/v1/project/settings",
        &key,
        json!({"intervention_default_action": "block"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(feed(&server, &key).await["intervention_default_action"], "block");
    // The SDK's query parameter is ignored: the key decides the project.
    let other = uuid::Uuid::new_v4();
    let (status, body) = get(&server, &format!("{POLICIES}?project_id={other}"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(body["policies"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn policy_validation_answers_400_with_the_original_messages_and_stores_nothing() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    let base = |extra: Value| {
        let mut b = json!({"name": "n", "match_expression": "true", "action": "block"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let throttle = |config: Value| base(json!({"action": "throttle", "action_config": config}));
    let cases: Vec<(Value, String)> = vec![
        (
            json!({}),
            "missing required fields: ['action', 'match_expression', 'name']".into(),
        ),
        (
            json!({"match_expression": "true"}),
            "missing required fields: ['action', 'name']".into(),
        ),
        (
            base(json!({"action": null})),
            "missing required fields: ['action']".into(),
        ),
        (base(json!({"action": "nuke"})), format!("{ACTION_MESSAGE}, got 'nuke'")),
        (
            base(json!({"action": "BLOCK"})),
            format!("{ACTION_MESSAGE}, got 'BLOCK'"),
        ),
        (base(json!({"action": 5})), format!("{ACTION_MESSAGE}, got 5")),
        (
            base(json!({"action": "throttle"})),
            "throttle action_config.max_calls must be a positive integer, got None".into(),
        ),
        (
            throttle(json!({"max_calls": 0, "window_seconds": 60})),
            "throttle action_config.max_calls must be a positive integer, got 0".into(),
        ),
        (
            throttle(json!({"max_calls": true, "window_seconds": 60})),
            "throttle action_config.max_calls must be a positive integer, got True".into(),
        ),
        (
            throttle(json!({"max_calls": 5})),
            "throttle action_config.window_seconds must be a positive number, got None".into(),
        ),
        (
            throttle(json!({"max_calls": 5, "window_seconds": "60"})),
            "throttle action_config.window_seconds must be a positive number, got '60'".into(),
        ),
        (
            throttle(json!({"max_calls": 5, "window_seconds": 60, "scope": "user"})),
            "throttle action_config.scope must be one of ['agent', 'global'], got 'user'".into(),
        ),
        (
            base(json!({"action": "require_approval", "action_config": {"approvers_required": 0}})),
            "require_approval action_config.approvers_required must be a positive integer, got 0".into(),
        ),
        (
            base(json!({"match_expression": "   "})),
            "invalid match expression: expression must not be empty".into(),
        ),
        (
            base(json!({"match_expression": 7})),
            "invalid match expression: expression must be a string, got int".into(),
        ),
        // Wrong JSON types are the client's fault: 400, never a 500.
        (
            base(json!({"priority": "high"})),
            "priority must be an integer, got str".into(),
        ),
        (
            base(json!({"priority": 1.5})),
            "priority must be a 32-bit integer, got 1.5".into(),
        ),
        (
            base(json!({"priority": 4_000_000_000i64})),
            "priority must be a 32-bit integer, got 4000000000".into(),
        ),
        (
            base(json!({"action_config": [1]})),
            "action_config must be an object, got list".into(),
        ),
        (
            base(json!({"enabled": "yes"})),
            "enabled must be a boolean, got str".into(),
        ),
        (base(json!({"shadow": 1})), "shadow must be a boolean, got int".into()),
        (
            base(json!({"applies_to": "tool"})),
            "applies_to must be a list of strings, got str".into(),
        ),
        (
            base(json!({"applies_to": ["tool", 3]})),
            "applies_to must be a list of strings".into(),
        ),
        (base(json!({"name": 5})), "name must be a string, got int".into()),
        (
            base(json!({"description": {}})),
            "description must be a string, got dict".into(),
        ),
        // Validation order: missing fields, action, action_config, expression.
        (
            json!({"name": "n", "match_expression": "attrs[", "action": "nuke"}),
            format!("{ACTION_MESSAGE}, got 'nuke'"),
        ),
        (
            json!({"name": "n", "match_expression": "attrs[", "action": "throttle"}),
            "throttle action_config.max_calls must be a positive integer, got None".into(),
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = post(&server, POLICIES, &key, body.clone()).await;
        assert_eq!((status, answer), (400, detail(&message)), "{body}");
    }

    for bad in ["attrs[", "((((", "\"unterminated", "1 +", "}{"] {
        let (status, answer) = post(&server, POLICIES, &key, base(json!({"match_expression": bad}))).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        let message = answer["detail"].as_str().unwrap();
        assert!(
            message.starts_with("invalid match expression: failed to compile CEL expression: "),
            "{bad}: {message}"
        );
    }

    // A body that is JSON but not an object is a validation error (422).
    for body in [json!([1, 2]), json!("policy"), json!(null)] {
        let (status, answer) = post(&server, POLICIES, &key, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["type"], "dict_type", "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body"]));
    }
    let resp = server
        .request(Method::POST, POLICIES)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);

    assert_eq!(feed(&server, &key).await["policies"], json!([]));
    assert_eq!(db.scalar_i64("SELECT count(*) FROM policies").await, 0);
    assert_eq!(db.scalar_i64("SELECT count(*) FROM policy_versions").await, 0);
}

#[tokio::test]
async fn policies_are_read_patched_versioned_and_deleted() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    let created = create_policy(
        &server,
        &key,
        json!({"name": "p", "description": "d", "match_expression": "true", "action": "block", "priority": 1}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("{POLICIES}/{id}");

    assert_eq!(
        get(&server, &format!("{POLICIES}/not-a-uuid"), &key).await,
        (400, detail("invalid policy_id"))
    );
    let unknown = format!("{POLICIES}/{}", uuid::Uuid::new_v4());
    assert_eq!(get(&server, &unknown, &key).await, (404, detail("policy not found")));

    // Partial update: nulls and unknown keys are ignored.
    let (status, p) = patch(
        &server,
        &path,
        &key,
        json!({"priority": 7, "description": null, "name": null, "color": "red"}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["priority"], 7);
    assert_eq!(p["description"], "d");
    assert_eq!(p["name"], "p");
    assert_eq!(p["created_at"], created["created_at"]);
    assert!(p["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(ts(&p["updated_at"]) > ts(&created["updated_at"]), "{p}");
    assert_eq!(get(&server, &path, &key).await, (200, p.clone()));

    // Becoming a throttle demands the throttle's config.
    assert_eq!(
        patch(&server, &path, &key, json!({"action": "throttle"})).await,
        (
            400,
            detail("throttle action_config.max_calls must be a positive integer, got None")
        )
    );
    assert_eq!(get(&server, &path, &key).await.1["action"], "block", "nothing stored");
    let (status, p) = patch(
        &server,
        &path,
        &key,
        json!({"action": "throttle", "action_config": {"max_calls": 3, "window_seconds": 60}}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["action"], "throttle");
    assert_eq!(p["action_config"], json!({"max_calls": 3, "window_seconds": 60}));
    // A config-only change is checked against the stored action.
    assert_eq!(
        patch(&server, &path, &key, json!({"action_config": {"max_calls": 0}})).await,
        (
            400,
            detail("throttle action_config.max_calls must be a positive integer, got 0")
        )
    );
    let (status, bad_expr) = patch(&server, &path, &key, json!({"match_expression": "attrs["})).await;
    assert_eq!(status, 400);
    assert!(bad_expr["detail"]
        .as_str()
        .unwrap()
        .starts_with("invalid match expression: failed to compile CEL expression: "));
    assert_eq!(
        patch(&server, &path, &key, json!({"action": "nuke"})).await,
        (400, detail(&format!("{ACTION_MESSAGE}, got 'nuke'")))
    );
    assert_eq!(
        patch(&server, &path, &key, json!({"enabled": "no"})).await,
        (400, detail("enabled must be a boolean, got str"))
    );
    assert_eq!(patch(&server, &path, &key, json!([1])).await.0, 422);

    // Nothing recognized: the policy comes back unchanged, no new version.
    let (status, same) = patch(&server, &path, &key, json!({"color": "blue", "priority": null})).await;
    assert_eq!((status, &same), (200, &p));

    // create = 1, each update + 1; newest first.
    let (status, versions) = get(&server, &format!("{path}/versions"), &key).await;
    assert_eq!(status, 200, "{versions}");
    let v = versions["data"].as_array().unwrap();
    let numbers: Vec<i64> = v.iter().map(|x| x["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [3, 2, 1]);
    let changes: Vec<&str> = v.iter().map(|x| x["change_type"].as_str().unwrap()).collect();
    assert_eq!(changes, ["update", "update", "create"]);
    assert_eq!(v[0]["action"], "throttle");
    assert_eq!(v[1]["priority"], 7);
    assert_eq!(v[1]["action"], "block");
    assert_eq!(v[2]["priority"], 1);
    assert!(v.iter().all(|x| x["policy_id"] == id.as_str()));
    let (status, first) = get(&server, &format!("{path}/versions/1"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(first, v[2]);
    assert_eq!(first["name"], "p");
    assert_eq!(first["description"], "d");
    ts(&first["changed_at"]);
    assert_eq!(
        get(&server, &format!("{path}/versions/9"), &key).await,
        (404, detail("version not found"))
    );
    assert_eq!(get(&server, &format!("{path}/versions/one"), &key).await.0, 422);

    assert_eq!(
        patch(&server, &format!("{POLICIES}/nope"), &key, json!({"priority": 1})).await,
        (400, detail("invalid policy_id"))
    );
    assert_eq!(
        patch(&server, &unknown, &key, json!({"priority": 1})).await,
        (404, detail("policy not found"))
    );

    assert_eq!(delete(&server, &path, &key).await, (204, Value::Null));
    assert_eq!(get(&server, &path, &key).await, (404, detail("policy not found")));
    assert_eq!(delete(&server, &path, &key).await, (404, detail("policy not found")));
    assert_eq!(
        delete(&server, &format!("{POLICIES}/nope"), &key).await,
        (400, detail("invalid policy_id"))
    );
    assert_eq!(
        patch(&server, &path, &key, json!({"priority": 1})).await,
        (404, detail("policy not found"))
    );
    assert_eq!(
        get(&server, &format!("{path}/versions"), &key).await,
        (404, detail("policy not found")),
        "versions go with the policy"
    );
    assert_eq!(feed(&server, &key).await["policies"], json!([]));
}

#[tokio::test]
async fn shadow_stats_and_batch_changes() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    let mut shadow = log_policy("a");
    shadow["shadow"] = json!(true);
    let a = create_policy(&server, &key, shadow).await;
    let b = create_policy(&server, &key, log_policy("b")).await;
    let c = create_policy(&server, &key, log_policy("c")).await;
    let id = |p: &Value| p["id"].as_str().unwrap().to_owned();

    let (status, stats) = get(&server, &format!("{POLICIES}/{}/shadow-stats", id(&a)), &key).await;
    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({"policy_id": id(&a), "name": "a", "shadow": true, "match_count": 0,
               "last_matched_at": null, "enabled": true, "action": "log"})
    );
    assert_eq!(
        get(&server, &format!("{POLICIES}/xyz/shadow-stats"), &key).await,
        (400, detail("invalid policy id"))
    );
    assert_eq!(
        get(
            &server,
            &format!("{POLICIES}/{}/shadow-stats", uuid::Uuid::new_v4()),
            &key
        )
        .await,
        (404, detail("policy not found"))
    );

    let batch = |action: &str, ids: Vec<String>| json!({"action": action, "policy_ids": ids});
    let batch_path = "/v1/policies/batch";
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        post(
            &server,
            batch_path,
            &key,
            batch("disable", vec![id(&a), id(&b), unknown.clone()])
        )
        .await,
        (200, json!({"action": "disable", "affected": 2, "total": 3}))
    );
    let enabled = |feed: &Value| -> Vec<(String, bool)> {
        feed["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_owned(), p["enabled"].as_bool().unwrap()))
            .collect()
    };
    assert_eq!(
        enabled(&feed(&server, &key).await),
        [("a".to_owned(), false), ("b".to_owned(), false), ("c".to_owned(), true)]
    );
    assert_eq!(
        post(&server, batch_path, &key, batch("enable", vec![id(&a)])).await,
        (200, json!({"action": "enable", "affected": 1, "total": 1}))
    );
    let (_, versions) = get(&server, &format!("{POLICIES}/{}/versions", id(&a)), &key).await;
    let history: Vec<(i64, bool)> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["enabled"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        history,
        [(3, true), (2, false), (1, true)],
        "batch changes are versioned"
    );

    assert_eq!(
        post(&server, batch_path, &key, batch("archive", vec![id(&a)])).await,
        (400, detail("action must be enable, disable, or delete; got 'archive'"))
    );
    // One bad id refuses the whole batch.
    assert_eq!(
        post(&server, batch_path, &key, batch("delete", vec![id(&c), "nope".into()])).await,
        (400, detail("invalid policy_id: 'nope'"))
    );
    assert_eq!(get(&server, &format!("{POLICIES}/{}", id(&c)), &key).await.0, 200);
    assert_eq!(post(&server, batch_path, &key, batch("delete", vec![])).await.0, 422);
    let too_many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    assert_eq!(post(&server, batch_path, &key, batch("delete", too_many)).await.0, 422);
    assert_eq!(
        post(&server, batch_path, &key, json!({"action": "delete"})).await.0,
        422
    );

    assert_eq!(
        post(&server, batch_path, &key, batch("delete", vec![id(&a), id(&b)])).await,
        (200, json!({"action": "delete", "affected": 2, "total": 2}))
    );
    assert_eq!(names(&feed(&server, &key).await), ["c"]);
}

#[tokio::test]
async fn export_then_import_round_trips_skipping_duplicates_and_reporting_bad_items() {
    let db = TestDb::migrated().await;
    let elsewhere = db.project("staging").await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let staging = db.key(elsewhere, &["*"]).await;
    let server = Launch::serve(&db).start().await;

    create_policy(
        &server,
        &key,
        json!({"name": "slow-down", "description": "at most 3 a minute", "match_expression": r#"name.startsWith("tool")"#,
               "action": "throttle", "action_config": {"max_calls": 3, "window_seconds": 60, "scope": "global"}, "priority": 4}),
    )
    .await;
    create_policy(
        &server,
        &key,
        json!({"name": "watch", "match_expression": "true", "action": "alert",
               "applies_to": ["langgraph"], "enabled": false, "shadow": true}),
    )
    .await;

    let (status, exported) = get(&server, "/v1/policies/export", &key).await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["count"], 2);
    let items = exported["policies"].as_array().unwrap();
    for item in items {
        assert_eq!(
            keys(item),
            set(&[
                "name",
                "description",
                "match_expression",
                "action",
                "action_config",
                "applies_to",
                "enabled",
                "priority",
                "shadow"
            ])
        );
    }
    assert_eq!(
        items[0],
        json!({"name": "slow-down", "description": "at most 3 a minute", "match_expression": r#"name.startsWith("tool")"#,
               "action": "throttle", "action_config": {"max_calls": 3, "window_seconds": 60, "scope": "global"},
               "applies_to": [], "enabled": true, "priority": 4, "shadow": false})
    );

    // Into another project: everything is created, and exports identically.
    let import = "/v1/policies/import";
    let body = json!({"policies": exported["policies"].clone()});
    assert_eq!(
        post(&server, import, &staging, body.clone()).await,
        (200, json!({"created": 2, "skipped": 0, "errors": []}))
    );
    assert_eq!(get(&server, "/v1/policies/export", &staging).await.1, exported);
    let staged = feed(&server, &staging).await;
    assert!(staged["policies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["project_id"] == elsewhere.to_string()));
    let imported_id = staged["policies"][0]["id"].as_str().unwrap();
    let (_, versions) = get(&server, &format!("{POLICIES}/{imported_id}/versions"), &staging).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);
    assert_eq!(versions["data"][0]["change_type"], "create");

    // Again, with extras: duplicates (same name and expression) are skipped,
    // bad items reported with their index, good ones created.
    let mut again = exported["policies"].as_array().unwrap().clone();
    again.push(json!("not a policy"));
    again.push(json!({"match_expression": "true", "action": "log"}));
    again.push(json!({"name": "bad", "match_expression": "true", "action": "nuke"}));
    again.push(log_policy("fresh"));
    let mut renamed = log_policy("watch");
    renamed["match_expression"] = json!("false");
    again.push(renamed);
    assert_eq!(
        post(&server, import, &staging, json!({"policies": again})).await,
        (
            200,
            json!({"created": 2, "skipped": 2, "errors": [
                {"index": "2", "error": "validation: each policy must be an object"},
                {"index": "3", "name": null, "error": "missing required fields: ['name']"},
                {"index": "4", "name": "bad", "error": format!("{ACTION_MESSAGE}, got 'nuke'")},
            ]})
        )
    );
    assert_eq!(
        names(&feed(&server, &staging).await),
        ["slow-down", "fresh", "watch", "watch"]
    );
    assert_eq!(
        names(&feed(&server, &key).await),
        ["slow-down", "watch"],
        "the source is untouched"
    );

    for bad in [json!({}), json!({"policies": "all"}), json!({"policies": {"a": 1}})] {
        assert_eq!(
            post(&server, import, &staging, bad.clone()).await,
            (400, detail("request body must contain a 'policies' array")),
            "{bad}"
        );
    }
    assert_eq!(post(&server, import, &staging, json!([])).await.0, 422);
}

#[tokio::test]
async fn policy_writes_need_the_write_scope_and_never_cross_projects() {
    let db = TestDb::migrated().await;
    let other = db.project("other-team").await;
    let writer = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["policies:read"]).await;
    let ingest_only = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let stranger = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;

    let p = create_policy(&server, &writer, log_policy("mine")).await;
    let path = format!("{POLICIES}/{}", p["id"].as_str().unwrap());

    assert_eq!(names(&feed(&server, &reader).await), ["mine"]);
    assert_eq!(get(&server, &path, &reader).await, (200, p.clone()));
    let denied = (403, detail("missing required scope: policies:write"));
    assert_eq!(post(&server, POLICIES, &reader, log_policy("x")).await, denied);
    assert_eq!(patch(&server, &path, &reader, json!({"priority": 5})).await, denied);
    assert_eq!(delete(&server, &path, &reader).await, denied);
    assert_eq!(
        post(
            &server,
            "/v1/policies/batch",
            &reader,
            json!({"action": "disable", "policy_ids": [p["id"]]})
        )
        .await,
        denied
    );
    assert_eq!(
        post(&server, "/v1/policies/import", &reader, json!({"policies": []})).await,
        denied
    );
    assert_eq!(
        post(
            &server,
            "/v1/policy-templates/block-dangerous-tools/apply",
            &reader,
            json!({})
        )
        .await,
        denied
    );
    assert_eq!(
        get(&server, POLICIES, &ingest_only).await,
        (403, detail("missing required scope: policies:read"))
    );

    // Another project's key sees nothing and can change nothing.
    assert_eq!(feed(&server, &stranger).await["policies"], json!([]));
    let not_found = (404, detail("policy not found"));
    assert_eq!(get(&server, &path, &stranger).await, not_found);
    assert_eq!(
        patch(&server, &path, &stranger, json!({"enabled": false})).await,
        not_found
    );
    assert_eq!(delete(&server, &path, &stranger).await, not_found);
    assert_eq!(
        get(&server, &format!("{path}/shadow-stats"), &stranger).await,
        not_found
    );
    assert_eq!(get(&server, &format!("{path}/versions"), &stranger).await, not_found);
    assert_eq!(
        post(
            &server,
            "/v1/policies/batch",
            &stranger,
            json!({"action": "delete", "policy_ids": [p["id"]]})
        )
        .await,
        (200, json!({"action": "delete", "affected": 0, "total": 1}))
    );
    assert_eq!(
        get(&server, "/v1/policies/export", &stranger).await,
        (200, json!({"policies": [], "count": 0}))
    );
    assert_eq!(get(&server, &path, &writer).await, (200, p), "untouched");
}

// --------------------------------------------------------------- templates

#[tokio::test]
async fn templates_are_listed_filtered_and_applied() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;

    let (status, body) = get(&server, "/v1/policy-templates", &key).await;
    assert_eq!(status, 200);
    let all = body["data"].as_array().unwrap();
    let ids: Vec<&str> = all.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "block-dangerous-tools",
            "block-data-exfiltration",
            "throttle-expensive-models",
            "block-competitor-email",
            "block-sql-injection-patterns",
            "enforce-business-hours",
            "alert-on-high-cost",
            "steer-internal-data",
            "block-memory-write-injection",
            "block-memory-system-key-overwrite",
            "throttle-memory-write-flood",
            "alert-memory-retrieval-injection",
        ]
    );
    for t in all {
        assert_eq!(
            keys(t),
            set(&[
                "id",
                "name",
                "description",
                "owasp_risks",
                "action",
                "match_expression",
                "action_config",
                "applies_to",
                "tags"
            ]),
            "{t}"
        );
        assert_eq!(t["applies_to"], json!([]));
    }

    let (_, cost) = get(&server, "/v1/policy-templates?tag=cost", &key).await;
    let cost_ids: Vec<&str> = cost["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(cost_ids, ["throttle-expensive-models", "alert-on-high-cost"]);
    assert_eq!(
        get(&server, "/v1/policy-templates?tag=nonexistent", &key).await,
        (200, json!({"data": []}))
    );

    let (status, one) = get(&server, "/v1/policy-templates/throttle-expensive-models", &key).await;
    assert_eq!(status, 200);
    assert_eq!(one, all[2]);
    assert_eq!(one["name"], "Rate-limit expensive model calls");
    assert_eq!(one["action"], "throttle");
    assert_eq!(one["action_config"], json!({"max_calls": 10, "window_seconds": 60}));
    assert_eq!(one["owasp_risks"], json!(["ASI-06"]));
    assert_eq!(one["tags"], json!(["cost", "rate-limit"]));
    assert_eq!(
        get(&server, "/v1/policy-templates/no-such-template", &key).await,
        (404, detail("template not found"))
    );

    // The CLI sends `{}`; the body is ignored.
    let (status, applied) = post(
        &server,
        "/v1/policy-templates/throttle-expensive-models/apply",
        &key,
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{applied}");
    assert_eq!(keys(&applied), set(&["template_id", "policy"]));
    assert_eq!(applied["template_id"], "throttle-expensive-models");
    let policy = &applied["policy"];
    assert_eq!(policy["name"], one["name"]);
    assert_eq!(policy["description"], one["description"]);
    assert_eq!(policy["match_expression"], one["match_expression"]);
    assert_eq!(policy["action"], "throttle");
    assert_eq!(policy["action_config"], json!({"max_calls": 10, "window_seconds": 60}));
    assert_eq!(
        (&policy["enabled"], &policy["shadow"], &policy["priority"]),
        (&json!(true), &json!(false), &json!(0))
    );
    let listed = feed(&server, &key).await;
    assert_eq!(listed["policies"], json!([policy]));

    let (status, steer) = post(
        &server,
        "/v1/policy-templates/steer-internal-data/apply",
        &key,
        json!({}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(steer["policy"]["action"], "steer");
    assert!(steer["policy"]["action_config"]["replacement"]
        .as_str()
        .is_some_and(|r| r.starts_with("This information is classified as internal.")));
    assert_eq!(
        post(&server, "/v1/policy-templates/no-such-template/apply", &key, json!({})).await,
        (404, detail("template not found"))
    );
    assert_eq!(feed(&server, &key).await["policies"].as_array().unwrap().len(), 2);
}

// ------------------------------------------------------------------- halts

async fn create_halt(server: &Server, key: &str, body: Value) -> Value {
    let (status, halt) = post(server, HALTS, key, body.clone()).await;
    assert_eq!(status, 201, "{body} -> {halt}");
    halt
}

#[tokio::test]
async fn halts_are_created_listed_and_cleared_once() {
    let db = TestDb::migrated().await;
    let other = db.project("other-team").await;
    let (server, key) = started(&db).await;
    let stranger = db.key(other, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["halts:read"]).await;

    let project = create_halt(&server, &key, json!({"scope": "project", "reason": "incident 42"})).await;
    let id = project["id"].as_i64().expect("the CLI prints a top-level id");
    assert_eq!(project["halt"]["id"], id);
    let h = &project["halt"];
    assert_eq!(h["scope"], "project");
    assert_eq!(h["scope_value"], Value::Null);
    assert_eq!(h["state"], "halted");
    assert_eq!(h["reason"], "incident 42");
    assert_eq!(h["actor"], "user");
    assert_eq!(h["budget_id"], Value::Null);
    assert_eq!(h["cleared_at"], Value::Null);
    assert_eq!(h["project_id"], DEFAULT_PROJECT_ID.to_string());
    near_now(&h["set_at"], chrono::Duration::zero());
    assert!(h["set_at"].as_str().unwrap().ends_with("+00:00"), "{h}");

    // The CLI names the agent `agent_name`; the original `scope_value`.
    let cli = create_halt(
        &server,
        &key,
        json!({"scope": "agent", "agent_name": "planner", "reason": "CLI halt", "state": "paused"}),
    )
    .await;
    assert!(cli["id"].as_i64().is_some(), "{cli}");
    assert_eq!(cli["scope"], "agent");
    assert_eq!(cli["scope_value"], "planner");
    assert_eq!(cli["agent_name"], "planner");
    assert_eq!(cli["state"], "paused");
    let original = create_halt(
        &server,
        &key,
        json!({"scope": "agent", "scope_value": "writer", "reason": "runaway"}),
    )
    .await;
    assert_eq!(original["halt"]["scope_value"], "writer");

    let listed = |body: &Value| -> Vec<i64> {
        body["halts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect()
    };
    let (cli_id, original_id) = (cli["id"].as_i64().unwrap(), original["id"].as_i64().unwrap());
    let (status, body) = get(&server, HALTS, &key).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&body), [original_id, cli_id, id], "newest first");
    assert_eq!(body["halts"][2], project["halt"]);
    assert_eq!(
        get(&server, &format!("{HALTS}/{id}"), &reader).await,
        (200, json!({"halt": project["halt"]}))
    );

    let (status, cleared) = delete(&server, &format!("{HALTS}/{cli_id}"), &key).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["id"], cli_id);
    let cleared_at = cleared["halt"]["cleared_at"]
        .as_str()
        .expect("cleared_at set")
        .to_owned();
    near_now(&cleared["halt"]["cleared_at"], chrono::Duration::zero());
    assert_eq!(listed(&get(&server, HALTS, &key).await.1), [original_id, id]);
    let (_, all) = get(&server, &format!("{HALTS}?include_cleared=true"), &key).await;
    assert_eq!(listed(&all), [original_id, cli_id, id]);
    assert_eq!(all["halts"][1]["cleared_at"], cleared_at.as_str());
    assert_eq!(
        delete(&server, &format!("{HALTS}/{cli_id}"), &key).await,
        (
            409,
            detail(&format!("halt {cli_id} is already cleared (cleared_at={cleared_at})"))
        )
    );
    let (_, one) = get(&server, &format!("{HALTS}/{cli_id}"), &key).await;
    assert_eq!(one["halt"]["cleared_at"], cleared_at.as_str(), "the row is kept");

    assert_eq!(get(&server, &format!("{HALTS}/abc"), &key).await.0, 422);
    assert_eq!(delete(&server, &format!("{HALTS}/abc"), &key).await.0, 422);
    assert_eq!(
        get(&server, &format!("{HALTS}/999999"), &key).await,
        (404, detail("halt not found"))
    );
    assert_eq!(
        delete(&server, &format!("{HALTS}/999999"), &key).await,
        (404, detail("halt not found"))
    );
    assert_eq!(get(&server, &format!("{HALTS}?limit=0"), &key).await.0, 422);
    assert_eq!(get(&server, &format!("{HALTS}?limit=5000"), &key).await.0, 422);
    assert_eq!(
        listed(&get(&server, &format!("{HALTS}?limit=1"), &key).await.1),
        [original_id]
    );

    // Scopes and projects.
    assert_eq!(
        post(&server, HALTS, &reader, json!({"scope": "project", "reason": "r"})).await,
        (403, detail("missing required scope: halts:write"))
    );
    assert_eq!(
        delete(&server, &format!("{HALTS}/{id}"), &reader).await,
        (403, detail("missing required scope: halts:write"))
    );
    assert_eq!(
        get(
            &server,
            HALTS,
            &db.key(DEFAULT_PROJECT_ID, &["traces:write", "policies:read"]).await
        )
        .await,
        (403, detail("missing required scope: halts:read"))
    );
    assert_eq!(get(&server, HALTS, &stranger).await, (200, json!({"halts": []})));
    assert_eq!(
        get(&server, &format!("{HALTS}/{id}"), &stranger).await,
        (404, detail("halt not found"))
    );
    assert_eq!(
        delete(&server, &format!("{HALTS}/{id}"), &stranger).await,
        (404, detail("halt not found"))
    );
    assert_eq!(
        get(&server, &format!("{HALTS}/{id}"), &key).await.1["halt"]["cleared_at"],
        Value::Null
    );
}

#[tokio::test]
async fn halt_validation_messages_are_verbatim() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    for (body, message) in [
        (
            json!({"scope": "trace", "reason": "r"}),
            "invalid scope 'trace'. Valid: ['agent', 'project']",
        ),
        (
            json!({"scope": "agent", "reason": "r"}),
            "scope=agent requires a non-empty scope_value",
        ),
        (
            json!({"scope": "agent", "agent_name": "   ", "reason": "r"}),
            "scope=agent requires a non-empty scope_value",
        ),
        (
            json!({"scope": "agent", "scope_value": "", "reason": "r"}),
            "scope=agent requires a non-empty scope_value",
        ),
        (
            json!({"scope": "project", "scope_value": "x", "reason": "r"}),
            "scope=project must not have a scope_value (project halts apply to all agents)",
        ),
        (
            json!({"scope": "project", "agent_name": "x", "reason": "r"}),
            "scope=project must not have a scope_value (project halts apply to all agents)",
        ),
        (json!({"scope": "project", "reason": "   "}), "reason is required"),
        (
            json!({"scope": "project", "reason": "r", "state": "resumed"}),
            "invalid state 'resumed'. Valid for new halts: ['paused', 'halted']",
        ),
        (
            json!({"scope": "project", "reason": "r", "state": "cleared"}),
            "invalid state 'cleared'. Valid for new halts: ['paused', 'halted']",
        ),
    ] {
        assert_eq!(
            post(&server, HALTS, &key, body.clone()).await,
            (400, detail(message)),
            "{body}"
        );
    }
    for body in [
        json!({"reason": "no scope"}),
        json!({"scope": "project", "reason": "x".repeat(1025)}),
        json!([{"scope": "project"}]),
    ] {
        assert_eq!(post(&server, HALTS, &key, body.clone()).await.0, 422, "{body}");
    }
    // NUL bytes are refused (the original stripped them silently); 1024
    // characters is the limit, inclusive.
    let (status, refused) = post(
        &server,
        HALTS,
        &key,
        json!({"scope": "agent", "scope_value": "bot1", "reason": "a\u{0}b"}),
    )
    .await;
    assert_eq!(
        (status, &refused["detail"][0]["loc"]),
        (422, &json!(["body", "reason"]))
    );
    create_halt(&server, &key, json!({"scope": "project", "reason": "é".repeat(1024)})).await;
    assert_eq!(db.scalar_i64("SELECT count(*) FROM halts").await, 1);
}

#[tokio::test]
async fn intervention_sync_serves_the_live_halts_to_the_sdk() {
    let db = TestDb::migrated().await;
    let other = db.project("other-team").await;
    let (server, key) = started(&db).await;
    let sdk = db
        .key(DEFAULT_PROJECT_ID, &["traces:write", "policies:read", "halts:read"])
        .await;
    let default_scopes = db.key(DEFAULT_PROJECT_ID, &["traces:write", "policies:read"]).await;
    let stranger = db.key(other, &["*"]).await;

    assert_eq!(
        post(&server, SYNC, &default_scopes, json!({})).await,
        (403, detail("missing required scope: halts:read"))
    );
    let (status, empty) = post(&server, SYNC, &sdk, json!({})).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(keys(&empty), set(&["halts", "budgets", "synced_at_unix_nano"]));
    assert_eq!(empty["halts"], json!([]));
    assert_eq!(empty["budgets"], json!([]));

    let project = create_halt(&server, &key, json!({"scope": "project", "reason": "freeze"})).await;
    let agent = create_halt(
        &server,
        &key,
        json!({"scope": "agent", "agent_name": "planner", "reason": "looping", "state": "paused"}),
    )
    .await;
    let gone = create_halt(
        &server,
        &key,
        json!({"scope": "agent", "scope_value": "old", "reason": "done"}),
    )
    .await;
    assert_eq!(delete(&server, &format!("{HALTS}/{}", gone["id"]), &key).await.0, 200);
    create_halt(&server, &stranger, json!({"scope": "project", "reason": "not yours"})).await;
    let (status, budget) = post(
        &server,
        BUDGETS,
        &key,
        json!({"name": "daily", "scope": "project", "max_spend_usd": "12.5", "budget_duration": "1d"}),
    )
    .await;
    assert_eq!(status, 201, "{budget}");

    let before = otlp::now_ns() as i64;
    let (status, synced) = post(&server, SYNC, &sdk, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        synced["halts"],
        json!([
            {"id": agent["id"], "scope": "agent", "scope_value": "planner", "state": "paused", "reason": "looping"},
            {"id": project["id"], "scope": "project", "scope_value": null, "state": "halted", "reason": "freeze"},
        ])
    );
    let at = synced["synced_at_unix_nano"].as_i64().expect("an integer of ns");
    assert!((at - before).abs() < 60_000_000_000, "{at} vs {before}");
    let budgets = synced["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 1);
    assert_eq!(
        keys(&budgets[0]),
        set(&[
            "id",
            "name",
            "scope",
            "scope_value",
            "max_spend_usd",
            "spent_usd",
            "max_repeated_calls",
            "budget_duration",
            "budget_reset_at"
        ])
    );
    assert_eq!(budgets[0]["id"], budget["id"]);
    assert_eq!(budgets[0]["max_spend_usd"], "12.5");
    assert_eq!(budgets[0]["spent_usd"], "0");
    assert_eq!(budgets[0]["budget_duration"], "1d");

    // No body at all, or any other JSON object, is fine too.
    let resp = server
        .request(Method::POST, SYNC)
        .bearer_auth(&sdk)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        post(&server, SYNC, &sdk, json!({"agent": "planner"})).await.1["halts"],
        synced["halts"]
    );

    let (_, theirs) = post(&server, SYNC, &stranger, json!({})).await;
    assert_eq!(theirs["halts"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["halts"][0]["reason"], "not yours");
    assert_eq!(theirs["budgets"], json!([]));
}

// ----------------------------------------------------------------- budgets

async fn create_budget(server: &Server, key: &str, body: Value) -> Value {
    let (status, budget) = post(server, BUDGETS, key, body.clone()).await;
    assert_eq!(status, 201, "{body} -> {budget}");
    budget
}

#[tokio::test]
async fn budgets_are_created_the_original_way_and_the_cli_way() {
    let db = TestDb::migrated().await;
    let other = db.project("other-team").await;
    let (server, key) = started(&db).await;
    let stranger = db.key(other, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["budgets:read"]).await;

    let daily = create_budget(
        &server,
        &key,
        json!({"name": "daily-spend", "description": "team budget", "scope": "project",
               "max_spend_usd": "25.50", "budget_duration": "1d"}),
    )
    .await;
    let daily_id = daily["id"].as_str().expect("top-level id").to_owned();
    assert_eq!(daily["budget"]["id"], daily_id.as_str());
    for b in [&daily, &daily["budget"]] {
        assert_eq!(b["budget_type"], "cost");
        assert_eq!(b["limit_usd"], 25.5);
        assert_eq!(b["limit_count"], Value::Null);
        assert_eq!(b["current_spend"], 0.0);
        assert_eq!(b["auto_halted"], false);
        assert_eq!(b["max_spend_usd"], "25.5");
        assert_eq!(b["spent_usd"], "0");
        assert_eq!(b["budget_duration"], "1d");
        assert_eq!(b["window_type"], "fixed");
        assert_eq!(b["scope"], "project");
        assert_eq!(b["scope_value"], Value::Null);
        assert_eq!(b["description"], "team budget");
        assert_eq!(b["is_active"], true);
        assert_eq!(b["max_repeated_calls"], Value::Null);
        assert_eq!(b["project_id"], DEFAULT_PROJECT_ID.to_string());
    }
    near_now(&daily["budget_reset_at"], chrono::Duration::days(1));
    near_now(&daily["created_at"], chrono::Duration::zero());

    // What `strathon budgets create --type cost --limit 5 --window rolling` sends.
    let cli = create_budget(
        &server,
        &key,
        json!({"name": "cli-daily", "budget_type": "cost", "window_type": "rolling", "limit_usd": 5}),
    )
    .await;
    assert!(cli["id"].as_str().is_some(), "{cli}");
    assert_eq!(cli["budget_type"], "cost");
    assert_eq!(cli["limit_usd"], 5.0);
    assert_eq!(cli["max_spend_usd"], "5");
    assert_eq!(cli["scope"], "project");
    assert_eq!(cli["budget_duration"], "1d");
    assert_eq!(cli["window_type"], "rolling");
    assert_eq!(cli["budget_reset_at"], Value::Null, "a rolling window never resets");
    assert_eq!(cli["current_spend"], 0.0);
    assert_eq!(cli["auto_halted"], false);

    let loops = create_budget(
        &server,
        &key,
        json!({"name": "loops", "budget_type": "iteration", "window_type": "fixed", "limit_count": 20}),
    )
    .await;
    assert_eq!(loops["budget_type"], "iteration");
    assert_eq!(loops["limit_count"], 20);
    assert_eq!(loops["max_repeated_calls"], 20);
    assert_eq!(loops["limit_usd"], Value::Null);
    assert_eq!(loops["max_spend_usd"], Value::Null);
    assert_eq!(loops["loop_window_seconds"], "3600");
    assert_eq!(loops["current_count"], 0);
    assert_eq!(loops["auto_halted"], false);

    let agent_loops = create_budget(
        &server,
        &key,
        json!({"name": "planner-loops", "scope": "agent", "scope_value": "planner",
               "max_repeated_calls": 5, "loop_window_seconds": "60"}),
    )
    .await;
    assert_eq!(agent_loops["scope_value"], "planner");
    assert_eq!(agent_loops["loop_window_seconds"], "60");

    let (status, list) = get(&server, BUDGETS, &reader).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["planner-loops", "loops", "cli-daily", "daily-spend"]);

    let path = format!("{BUDGETS}/{daily_id}");
    let (status, one) = get(&server, &path, &reader).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], daily_id.as_str());
    assert_eq!(one["budget"]["name"], "daily-spend");
    assert_eq!(get(&server, &format!("{BUDGETS}/nope"), &key).await.0, 422);
    let unknown = format!("{BUDGETS}/{}", uuid::Uuid::new_v4());
    assert_eq!(get(&server, &unknown, &key).await, (404, detail("budget not found")));

    // Live spend.
    let (status, spend) = get(&server, &format!("{path}/spend"), &reader).await;
    assert_eq!(status, 200, "{spend}");
    assert_eq!(
        keys(&spend),
        set(&[
            "budget_id",
            "kind",
            "spent_usd",
            "max_spend_usd",
            "window_start",
            "window_reset_at"
        ])
    );
    assert_eq!(
        (
            &spend["budget_id"],
            &spend["kind"],
            &spend["spent_usd"],
            &spend["max_spend_usd"]
        ),
        (&json!(daily_id), &json!("cost"), &json!("0"), &json!("25.5"))
    );
    near_now(&spend["window_start"], chrono::Duration::zero());
    near_now(&spend["window_reset_at"], chrono::Duration::days(1));
    let (_, rolling) = get(
        &server,
        &format!("{BUDGETS}/{}/spend", cli["id"].as_str().unwrap()),
        &key,
    )
    .await;
    assert_eq!(rolling["window_reset_at"], Value::Null);
    near_now(&rolling["window_start"], -chrono::Duration::days(1));
    let (_, counted) = get(
        &server,
        &format!("{BUDGETS}/{}/spend", loops["id"].as_str().unwrap()),
        &key,
    )
    .await;
    assert_eq!(
        counted,
        json!({"budget_id": loops["id"], "kind": "iteration", "count": 0, "max_repeated_calls": 20, "window_seconds": "3600"})
    );

    // Patch: partial, nulls ignored, CLI names accepted.
    let (status, patched) = patch(
        &server,
        &path,
        &key,
        json!({"name": "renamed", "description": null, "limit_usd": "30"}),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["id"], daily_id.as_str());
    assert_eq!(patched["budget"]["name"], "renamed");
    assert_eq!(patched["description"], "team budget");
    assert_eq!(patched["max_spend_usd"], "30");
    assert_eq!(patched["limit_usd"], 30.0);
    assert_eq!(patched["budget_duration"], "1d", "duration is immutable");
    let (status, same) = patch(&server, &path, &key, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(same["budget"]["name"], "renamed");
    let loops_path = format!("{BUDGETS}/{}", loops["id"].as_str().unwrap());
    let (status, more) = patch(&server, &loops_path, &key, json!({"limit_count": 40})).await;
    assert_eq!((status, &more["max_repeated_calls"]), (200, &json!(40)));
    for (target, body, message) in [
        (&path, json!({"name": "  "}), "name must not be empty"),
        (&path, json!({"max_spend_usd": "0"}), "max_spend_usd must be positive"),
        (
            &path,
            json!({"max_repeated_calls": 3}),
            "cannot set max_repeated_calls on a cost budget",
        ),
        (
            &path,
            json!({"loop_window_seconds": "60"}),
            "cannot set loop_window_seconds on a cost budget",
        ),
        (
            &loops_path,
            json!({"max_spend_usd": "5"}),
            "cannot set max_spend_usd on an iteration budget",
        ),
        (
            &loops_path,
            json!({"limit_count": 0}),
            "max_repeated_calls must be positive",
        ),
    ] {
        assert_eq!(
            patch(&server, target, &key, body.clone()).await,
            (400, detail(message)),
            "{body}"
        );
    }
    assert_eq!(
        patch(&server, &unknown, &key, json!({"name": "x"})).await,
        (404, detail("budget not found"))
    );

    // Deactivated budgets leave the default list.
    let (status, off) = patch(&server, &loops_path, &key, json!({"is_active": false})).await;
    assert_eq!((status, &off["is_active"]), (200, &json!(false)));
    let count = |body: &Value| body["budgets"].as_array().unwrap().len();
    assert_eq!(count(&get(&server, BUDGETS, &key).await.1), 3);
    assert_eq!(
        count(&get(&server, &format!("{BUDGETS}?include_inactive=true"), &key).await.1),
        4
    );
    assert_eq!(get(&server, &format!("{BUDGETS}?limit=0"), &key).await.0, 422);

    // Scopes and projects.
    assert_eq!(
        post(
            &server,
            BUDGETS,
            &reader,
            json!({"name": "x", "budget_type": "cost", "limit_usd": 1})
        )
        .await,
        (403, detail("missing required scope: budgets:write"))
    );
    assert_eq!(
        delete(&server, &path, &reader).await,
        (403, detail("missing required scope: budgets:write"))
    );
    assert_eq!(get(&server, &path, &stranger).await, (404, detail("budget not found")));
    assert_eq!(
        patch(&server, &path, &stranger, json!({"name": "mine"})).await,
        (404, detail("budget not found"))
    );
    assert_eq!(
        delete(&server, &path, &stranger).await,
        (404, detail("budget not found"))
    );
    assert_eq!(get(&server, BUDGETS, &stranger).await, (200, json!({"budgets": []})));

    assert_eq!(delete(&server, &path, &key).await, (200, json!({"deleted": true})));
    assert_eq!(get(&server, &path, &key).await, (404, detail("budget not found")));
    assert_eq!(delete(&server, &path, &key).await, (404, detail("budget not found")));
    assert_eq!(count(&get(&server, BUDGETS, &key).await.1), 2);
}

#[tokio::test]
async fn budget_validation_messages_are_verbatim() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    let cost = |extra: Value| {
        let mut b = json!({"name": "b", "scope": "project", "max_spend_usd": "10", "budget_duration": "1d"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let iteration = |extra: Value| {
        let mut b = json!({"name": "b", "scope": "project", "max_repeated_calls": 3, "loop_window_seconds": "60"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    for (body, message) in [
        (cost(json!({"name": "  "})), "name is required".to_owned()),
        (
            cost(json!({"scope": "team"})),
            "invalid scope 'team'. Valid: ['agent', 'model', 'project']".into(),
        ),
        (
            cost(json!({"scope_value": "x"})),
            "scope=project must not have a scope_value (applies to all)".into(),
        ),
        (
            cost(json!({"scope": "agent"})),
            "scope=agent requires a non-empty scope_value".into(),
        ),
        (
            cost(json!({"scope": "model", "scope_value": " "})),
            "scope=model requires a non-empty scope_value".into(),
        ),
        (
            cost(json!({"max_spend_usd": null})),
            "budget must have either max_spend_usd (cost budget) or max_repeated_calls (iteration budget)".into(),
        ),
        (
            cost(json!({"max_repeated_calls": 5})),
            "budget cannot be both cost and iteration; create two separate budgets".into(),
        ),
        (
            cost(json!({"max_spend_usd": "lots"})),
            "max_spend_usd must be a decimal string (got 'lots')".into(),
        ),
        (
            cost(json!({"max_spend_usd": "0"})),
            "max_spend_usd must be positive".into(),
        ),
        (
            cost(json!({"max_spend_usd": "-1.5"})),
            "max_spend_usd must be positive".into(),
        ),
        (
            cost(json!({"budget_duration": null})),
            "cost budgets require budget_duration".into(),
        ),
        (
            cost(json!({"budget_duration": "2w"})),
            "invalid budget_duration '2w'. Valid: ['1d', '1h', '30d', '7d']".into(),
        ),
        (
            cost(json!({"soft_limit_ratio": "most"})),
            "soft_limit_ratio must be a decimal string (got 'most')".into(),
        ),
        (
            iteration(json!({"max_repeated_calls": 0})),
            "max_repeated_calls must be positive".into(),
        ),
        (
            iteration(json!({"loop_window_seconds": null})),
            "iteration budgets require positive loop_window_seconds".into(),
        ),
        (
            iteration(json!({"loop_window_seconds": "0"})),
            "iteration budgets require positive loop_window_seconds".into(),
        ),
        (
            json!({"name": "b", "budget_type": "cost", "limit_usd": "x"}),
            "limit_usd must be a decimal string (got 'x')".into(),
        ),
        (
            json!({"name": "b", "budget_type": "cost", "limit_usd": 5, "window_type": "sliding"}),
            "invalid window_type 'sliding'. Valid: ['fixed', 'rolling']".into(),
        ),
        (
            json!({"name": "b", "budget_type": "cost"}),
            "budget must have either max_spend_usd (cost budget) or max_repeated_calls (iteration budget)".into(),
        ),
    ] {
        assert_eq!(
            post(&server, BUDGETS, &key, body.clone()).await,
            (400, detail(&message)),
            "{body}"
        );
    }
    for body in [
        cost(json!({"name": null})),
        cost(json!({"scope": null})),
        iteration(json!({"max_repeated_calls": 30_000_000_000i64})),
        iteration(json!({"max_repeated_calls": "3"})),
        json!(["not", "an", "object"]),
    ] {
        assert_eq!(post(&server, BUDGETS, &key, body.clone()).await.0, 422, "{body}");
    }
    assert_eq!(get(&server, BUDGETS, &key).await, (200, json!({"budgets": []})));
}

// ---------------------------------------------------- the budget monitor

/// A receiver whose budget monitor ticks every second, leading.
async fn monitored(db: &TestDb) -> (Server, String) {
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(db)
        .env("STRATHON_BUDGET_EVAL_INTERVAL_SECONDS", "1")
        .start()
        .await;
    server
        .wait_for("the budget monitor to lead", ASYNC, async || {
            let check = server.ready().await.1["checks"]["budget_monitor_task"].clone();
            check["status"] == "ok" && check["leader"] == true
        })
        .await;
    (server, key)
}

async fn send(server: &Server, key: &str, service: &str, spans: Vec<otlp::SpanB>) {
    let (status, _, body) = server
        .post_traces(key, protobuf(&request(service, spans)), PB, None)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

async fn sync_halts(server: &Server, key: &str) -> Vec<Value> {
    let (status, body) = post(server, SYNC, key, json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["halts"].as_array().cloned().unwrap_or_default()
}

async fn halts_by(server: &Server, key: &str, actor: &str, include_cleared: bool) -> Vec<Value> {
    let (status, body) = get(server, &format!("{HALTS}?include_cleared={include_cleared}"), key).await;
    assert_eq!(status, 200, "{body}");
    body["halts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["actor"] == actor)
        .cloned()
        .collect()
}

async fn budget(server: &Server, key: &str, id: &Value) -> Value {
    let (status, body) = get(server, &format!("{BUDGETS}/{}", id.as_str().unwrap()), key).await;
    assert_eq!(status, 200, "{body}");
    body["budget"].clone()
}

/// `Cost budget '<name>' exceeded: spent $<x> of $<max>` as (name, x, max).
fn cost_reason(reason: &str) -> (String, f64, f64) {
    let rest = reason
        .strip_prefix("Cost budget '")
        .unwrap_or_else(|| panic!("{reason}"));
    let (name, rest) = rest
        .split_once("' exceeded: spent $")
        .unwrap_or_else(|| panic!("{reason}"));
    let (spent, max) = rest.split_once(" of $").unwrap_or_else(|| panic!("{reason}"));
    (
        name.to_owned(),
        spent.parse().unwrap_or_else(|_| panic!("{reason}")),
        max.parse().unwrap_or_else(|_| panic!("{reason}")),
    )
}

#[tokio::test]
async fn a_project_cost_budget_over_its_limit_halts_the_project_until_the_limit_is_raised() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let ready = server.wait_ready().await;
    assert_eq!(ready["checks"]["budget_monitor_task"]["leader"], true, "{ready}");

    let operator = create_halt(
        &server,
        &key,
        json!({"scope": "agent", "agent_name": "bystander", "reason": "manual"}),
    )
    .await;
    let b = create_budget(
        &server,
        &key,
        json!({"name": "daily", "scope": "project", "max_spend_usd": "1.00", "budget_duration": "1d"}),
    )
    .await;
    server
        .wait_for("a first evaluation under the limit", ASYNC, async || {
            !budget(&server, &key, &b["id"]).await["last_evaluated_at"].is_null()
        })
        .await;
    assert_eq!(sync_halts(&server, &key).await.len(), 1, "under the limit: no halt");

    // $0.75 + $0.50 reported by the SDK, plus 1000 + 500 gpt-4o tokens ($0.0075).
    send(
        &server,
        &key,
        "billing-agent",
        vec![
            span(1, 1, "agents.step").attr("strathon.agent.cost.usd", 0.75),
            span(1, 2, "agents.step").attr("strathon.agent.cost.usd", "0.5"),
            span(1, 3, "openai.chat.gpt-4o")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("gen_ai.usage.input_tokens", 1000i64)
                .attr("gen_ai.usage.output_tokens", 500i64),
        ],
    )
    .await;
    server
        .wait_for("the monitor to halt the project", ASYNC, async || {
            sync_halts(&server, &key).await.iter().any(|h| h["scope"] == "project")
        })
        .await;

    let synced = sync_halts(&server, &key).await;
    assert_eq!(synced.len(), 2, "{synced:?}");
    let halt = synced.iter().find(|h| h["scope"] == "project").unwrap();
    assert_eq!(keys(halt), set(&["id", "scope", "scope_value", "state", "reason"]));
    assert_eq!(halt["scope_value"], Value::Null);
    assert_eq!(halt["state"], "halted");
    assert_eq!(synced[0]["id"], halt["id"], "newest first");

    let monitor = halts_by(&server, &key, "budget_monitor", false).await;
    assert_eq!(monitor.len(), 1, "{monitor:?}");
    let m = &monitor[0];
    assert_eq!(m["id"], halt["id"]);
    assert_eq!(m["scope"], "project");
    assert_eq!(m["budget_id"], b["id"]);
    assert_eq!(m["reason"], halt["reason"]);
    let (name, spent, max) = cost_reason(m["reason"].as_str().unwrap());
    assert_eq!(name, "daily");
    assert!((spent - 1.2575).abs() < 1e-9, "{}", m["reason"]);
    assert!((max - 1.0).abs() < 1e-9, "{}", m["reason"]);

    let seen = budget(&server, &key, &b["id"]).await;
    assert_eq!(seen["auto_halted"], true);
    assert!(approx(&seen["current_spend"], 1.2575), "{seen}");
    assert_eq!(seen["spent_usd"], "1.2575");
    let (_, live) = get(&server, &format!("{BUDGETS}/{}/spend", b["id"].as_str().unwrap()), &key).await;
    assert_eq!(live["spent_usd"], "1.2575");

    assert_eq!(
        server
            .metric(r#"strathon_receiver_budget_violations_total{kind="cost"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        server
            .metric(r#"strathon_receiver_halts_created_total{actor="budget_monitor",scope="project"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        server
            .metric(r#"strathon_receiver_halts_created_total{actor="user",scope="agent"}"#)
            .await,
        Some(1.0)
    );
    // Later ticks keep the one halt rather than piling up more.
    let evaluations = server
        .metric("strathon_receiver_budget_evaluations_total")
        .await
        .unwrap_or(0.0);
    server
        .wait_for("two more evaluations", ASYNC, async || {
            server
                .metric("strathon_receiver_budget_evaluations_total")
                .await
                .unwrap_or(0.0)
                >= evaluations + 2.0
        })
        .await;
    assert_eq!(halts_by(&server, &key, "budget_monitor", true).await.len(), 1);
    assert_eq!(
        server
            .metric(r#"strathon_receiver_budget_violations_total{kind="cost"}"#)
            .await,
        Some(1.0)
    );

    // Raising the limit lifts the monitor's halt, never the operator's.
    let (status, raised) = patch(
        &server,
        &format!("{BUDGETS}/{}", b["id"].as_str().unwrap()),
        &key,
        json!({"max_spend_usd": "10"}),
    )
    .await;
    assert_eq!(status, 200, "{raised}");
    server
        .wait_for("the monitor to lift its halt", ASYNC, async || {
            !sync_halts(&server, &key).await.iter().any(|h| h["scope"] == "project")
        })
        .await;
    let synced = sync_halts(&server, &key).await;
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0]["id"], operator["id"]);
    let lifted = halts_by(&server, &key, "budget_monitor", true).await;
    assert_eq!(lifted.len(), 1);
    assert!(lifted[0]["cleared_at"].is_string(), "{lifted:?}");
    assert_eq!(budget(&server, &key, &b["id"]).await["auto_halted"], false);
    assert_eq!(
        server
            .metric(r#"strathon_receiver_halts_cleared_total{actor="budget_monitor",reason="under_threshold"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        get(&server, &format!("{HALTS}/{}", operator["id"]), &key).await.1["halt"]["cleared_at"],
        Value::Null
    );
}

#[tokio::test]
async fn an_agent_budget_keyed_by_agent_name_halts_only_that_agent() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let planner = create_budget(
        &server,
        &key,
        json!({"name": "planner-daily", "scope": "agent", "scope_value": "planner",
               "max_spend_usd": "0.50", "budget_duration": "1d"}),
    )
    .await;
    let writer = create_budget(
        &server,
        &key,
        json!({"name": "writer-daily", "scope": "agent", "agent_name": "writer",
               "max_spend_usd": "100", "budget_duration": "1d"}),
    )
    .await;
    assert_eq!(writer["scope_value"], "writer");

    // SDK spans carry the agent's name (here via service.name and
    // gen_ai.agent.name), no agent id.
    send(
        &server,
        &key,
        "planner",
        vec![span(1, 1, "agents.step").attr("strathon.agent.cost.usd", 0.6)],
    )
    .await;
    send(
        &server,
        &key,
        "shared-runtime",
        vec![span(2, 1, "agents.step")
            .attr("gen_ai.agent.name", "writer")
            .attr("strathon.agent.cost.usd", 5.0)],
    )
    .await;
    let spans = server.list("/v1/spans", &key).await;
    let mut agents: Vec<&str> = spans.iter().map(|s| s["agent_name"].as_str().unwrap()).collect();
    agents.sort();
    assert_eq!(agents, ["planner", "writer"]);
    assert!(spans.iter().all(|s| s["agent_id"].is_null()));

    server
        .wait_for("the monitor to halt the planner", ASYNC, async || {
            !sync_halts(&server, &key).await.is_empty()
        })
        .await;
    server
        .wait_for("the writer's budget to see its spend", ASYNC, async || {
            approx(&budget(&server, &key, &writer["id"]).await["current_spend"], 5.0)
        })
        .await;
    let synced = sync_halts(&server, &key).await;
    assert_eq!(synced.len(), 1, "only the planner is halted: {synced:?}");
    assert_eq!(synced[0]["scope"], "agent");
    assert_eq!(synced[0]["scope_value"], "planner");
    assert_eq!(synced[0]["state"], "halted");

    let monitor = halts_by(&server, &key, "budget_monitor", false).await;
    assert_eq!(monitor.len(), 1);
    assert_eq!(monitor[0]["scope"], "agent");
    assert_eq!(monitor[0]["scope_value"], "planner");
    assert_eq!(monitor[0]["agent_name"], "planner");
    assert_eq!(monitor[0]["budget_id"], planner["id"]);
    let (name, spent, max) = cost_reason(monitor[0]["reason"].as_str().unwrap());
    assert_eq!(name, "planner-daily");
    assert!(
        (spent - 0.6).abs() < 1e-9 && (max - 0.5).abs() < 1e-9,
        "{}",
        monitor[0]["reason"]
    );

    let p = budget(&server, &key, &planner["id"]).await;
    assert_eq!(p["auto_halted"], true);
    assert!(
        approx(&p["current_spend"], 0.6),
        "the writer's $5 is not the planner's: {p}"
    );
    assert_eq!(budget(&server, &key, &writer["id"]).await["auto_halted"], false);
    assert_eq!(
        server
            .metric(r#"strathon_receiver_halts_created_total{actor="budget_monitor",scope="agent"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        server
            .metric(r#"strathon_receiver_halts_created_total{actor="budget_monitor",scope="project"}"#)
            .await
            .unwrap_or(0.0),
        0.0
    );
}

#[tokio::test]
async fn model_and_iteration_budgets_trip_on_their_own_spans() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let gpt = create_budget(
        &server,
        &key,
        json!({"name": "gpt-4o-hourly", "scope": "model", "scope_value": "gpt-4o",
               "max_spend_usd": "0.01", "budget_duration": "1h"}),
    )
    .await;
    let opus = create_budget(
        &server,
        &key,
        json!({"name": "opus-hourly", "scope": "model", "scope_value": "claude-3-opus-20240229",
               "max_spend_usd": "0.01", "budget_duration": "1h"}),
    )
    .await;
    let loops = create_budget(
        &server,
        &key,
        json!({"name": "looper-calls", "scope": "agent", "scope_value": "looper",
               "max_repeated_calls": 3, "loop_window_seconds": "600"}),
    )
    .await;

    // Two gpt-4o calls at $0.0075 each: over the model's $0.01.
    let chat = |id: u8| {
        span(1, id, "openai.chat.gpt-4o")
            .attr("gen_ai.request.model", "gpt-4o")
            .attr("gen_ai.usage.input_tokens", 1000i64)
            .attr("gen_ai.usage.output_tokens", 500i64)
    };
    send(&server, &key, "chatty", vec![chat(1), chat(2)]).await;
    // Three tool calls by the looper: at its limit of 3.
    let tool = |id: u8| span(2, id, "langgraph.tool.search").attr("gen_ai.tool.name", "search");
    send(&server, &key, "looper", vec![tool(1), tool(2), tool(3)]).await;

    server
        .wait_for("both budgets to trip", ASYNC, async || {
            halts_by(&server, &key, "budget_monitor", false).await.len() == 2
        })
        .await;
    let monitor = halts_by(&server, &key, "budget_monitor", false).await;
    let by_budget = |id: &Value| monitor.iter().find(|h| &h["budget_id"] == id).cloned();
    let model_halt = by_budget(&gpt["id"]).expect("the gpt-4o budget halted");
    assert_eq!(
        model_halt["scope"], "project",
        "the SDK knows only project and agent halts"
    );
    assert_eq!(model_halt["scope_value"], Value::Null);
    let (name, spent, _) = cost_reason(model_halt["reason"].as_str().unwrap());
    assert_eq!(name, "gpt-4o-hourly");
    assert!((spent - 0.015).abs() < 1e-9, "{}", model_halt["reason"]);

    let loop_halt = by_budget(&loops["id"]).expect("the iteration budget halted");
    assert_eq!(loop_halt["scope"], "agent");
    assert_eq!(loop_halt["scope_value"], "looper");
    let reason = loop_halt["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Iteration budget 'looper-calls' exceeded: 3 calls in last 600")
            && reason.ends_with("s, max 3"),
        "{reason}"
    );
    assert!(by_budget(&opus["id"]).is_none());
    let opus_seen = budget(&server, &key, &opus["id"]).await;
    assert_eq!(opus_seen["auto_halted"], false);
    let loops_seen = budget(&server, &key, &loops["id"]).await;
    assert_eq!(loops_seen["current_count"], 3);
    assert_eq!(loops_seen["auto_halted"], true);
    let (_, counted) = get(
        &server,
        &format!("{BUDGETS}/{}/spend", loops["id"].as_str().unwrap()),
        &key,
    )
    .await;
    assert_eq!(counted["count"], 3);
    assert_eq!(
        server
            .metric(r#"strathon_receiver_budget_violations_total{kind="iteration"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        server
            .metric(r#"strathon_receiver_budget_violations_total{kind="cost"}"#)
            .await,
        Some(1.0)
    );

    // Deleting a budget takes its halt with it.
    assert_eq!(
        delete(&server, &format!("{BUDGETS}/{}", gpt["id"].as_str().unwrap()), &key).await,
        (200, json!({"deleted": true}))
    );
    let synced = sync_halts(&server, &key).await;
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert_eq!(synced[0]["scope_value"], "looper");
}

#[tokio::test]
async fn the_cost_forecast_projects_burn_rate_and_budget_exhaustion() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let other = db.project("quiet-team").await;
    let quiet = db.key(other, &["*"]).await;
    let near = create_budget(
        &server,
        &key,
        json!({"name": "near", "budget_type": "cost", "limit_usd": "5"}),
    )
    .await;
    let far = create_budget(
        &server,
        &key,
        json!({"name": "far", "scope": "project", "max_spend_usd": "1000", "budget_duration": "30d"}),
    )
    .await;
    create_budget(
        &server,
        &key,
        json!({"name": "calls", "budget_type": "iteration", "limit_count": 100}),
    )
    .await;
    // $4.80 in the last day: $0.20 an hour.
    send(
        &server,
        &key,
        "spender",
        vec![
            span(1, 1, "agents.step").attr("strathon.agent.cost.usd", 2.4),
            span(1, 2, "agents.step").attr("strathon.agent.cost.usd", 2.4),
        ],
    )
    .await;
    server
        .wait_for("the monitor to record the spend", ASYNC, async || {
            approx(&budget(&server, &key, &near["id"]).await["current_spend"], 4.8)
                && approx(&budget(&server, &key, &far["id"]).await["current_spend"], 4.8)
        })
        .await;

    let (status, f) = get(&server, "/v1/costs/forecast", &key).await;
    assert_eq!(status, 200, "{f}");
    assert!(approx(&f["burn_rate_usd_per_hour"], 0.2), "{f}");
    assert!(approx(&f["total_cost_last_24h"], 4.8), "{f}");
    assert!(approx(&f["projected_daily_cost"], 4.8), "{f}");
    assert!(approx(&f["projected_weekly_cost"], 33.6), "{f}");
    assert!(approx(&f["projected_monthly_cost"], 144.0), "{f}");
    assert_eq!(f["alert_threshold_hours"], 24);

    let forecasts = f["budget_forecasts"].as_array().unwrap();
    assert_eq!(forecasts.len(), 2, "cost budgets only: {f}");
    let of = |name: &str| forecasts.iter().find(|b| b["budget_name"] == name).cloned().unwrap();
    let n = of("near");
    assert_eq!(n["budget_id"], near["id"]);
    assert_eq!(n["max_spend_usd"], "5");
    assert_eq!(n["current_spend_usd"], "4.8000");
    assert_eq!(n["remaining_usd"], "0.2000");
    assert!(approx(&n["hours_until_exhaustion"], 1.0), "{n}");
    assert_eq!(n["budget_alert"], true);
    near_now(&n["projected_exhaustion_date"], chrono::Duration::hours(1));
    let fa = of("far");
    assert_eq!(fa["budget_alert"], false);
    assert!(approx(&fa["hours_until_exhaustion"], 4976.0), "{fa}");

    let alerts = f["budget_alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{f}");
    assert_eq!(alerts[0]["budget_id"], near["id"]);
    assert_eq!(alerts[0]["budget_name"], "near");
    assert_eq!(alerts[0]["severity"], "warning");
    assert_eq!(
        alerts[0]["message"],
        "Budget 'near' is projected to run out within 24 hours"
    );
    assert_eq!(alerts[0]["projected_exhaustion_date"], n["projected_exhaustion_date"]);

    let (_, wide) = get(&server, "/v1/costs/forecast?alert_threshold_hours=10000", &key).await;
    assert_eq!(wide["alert_threshold_hours"], 10000);
    assert_eq!(wide["budget_alerts"].as_array().unwrap().len(), 2);

    // A project that spent nothing has no burn and no exhaustion date.
    create_budget(
        &server,
        &quiet,
        json!({"name": "idle", "budget_type": "cost", "limit_usd": 1}),
    )
    .await;
    let (status, calm) = get(&server, "/v1/costs/forecast", &quiet).await;
    assert_eq!(status, 200);
    assert_eq!(calm["burn_rate_usd_per_hour"], 0.0);
    assert_eq!(calm["budget_alerts"], json!([]));
    assert_eq!(calm["budget_forecasts"][0]["hours_until_exhaustion"], Value::Null);
    assert_eq!(calm["budget_forecasts"][0]["projected_exhaustion_date"], Value::Null);

    let budgets_only = db.key(DEFAULT_PROJECT_ID, &["budgets:read"]).await;
    assert_eq!(
        get(&server, "/v1/costs/forecast", &budgets_only).await,
        (403, detail("missing required scope: traces:read"))
    );
}

#[tokio::test]
async fn a_fixed_window_rolls_over_and_a_rolling_window_forgets_old_spend() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let hourly = create_budget(
        &server,
        &key,
        json!({"name": "hourly", "scope": "project", "max_spend_usd": "1", "budget_duration": "1h"}),
    )
    .await;
    let rolling = create_budget(
        &server,
        &key,
        json!({"name": "rolling", "scope": "project", "max_spend_usd": "3", "budget_duration": "1h",
               "window_type": "rolling"}),
    )
    .await;
    // The fixed window began 20 minutes ago (as if created then).
    let sql = db.sql().await;
    let hourly_id = uuid::Uuid::parse_str(hourly["id"].as_str().unwrap()).unwrap();
    sql.execute(
        "UPDATE budgets SET budget_reset_at = now() + interval '40 minutes' WHERE id = $1",
        &[&hourly_id],
    )
    .await
    .unwrap();
    let minutes_ago = |m: u64| otlp::now_ns() - m * 60 * 1_000_000_000;
    send(
        &server,
        &key,
        "agent",
        vec![
            span(1, 1, "old.step")
                .start(minutes_ago(120))
                .attr("strathon.agent.cost.usd", 5.0),
            span(1, 2, "recent.step")
                .start(minutes_ago(10))
                .attr("strathon.agent.cost.usd", 2.0),
        ],
    )
    .await;

    server
        .wait_for("the fixed window to trip", ASYNC, async || {
            halts_by(&server, &key, "budget_monitor", false)
                .await
                .iter()
                .any(|h| h["budget_id"] == hourly["id"])
        })
        .await;
    server
        .wait_for("the rolling budget to be evaluated", ASYNC, async || {
            approx(&budget(&server, &key, &rolling["id"]).await["current_spend"], 2.0)
        })
        .await;
    assert!(approx(
        &budget(&server, &key, &hourly["id"]).await["current_spend"],
        2.0
    ));
    assert_eq!(
        budget(&server, &key, &rolling["id"]).await["auto_halted"],
        false,
        "the $5 two hours ago is outside the last hour"
    );
    assert_eq!(halts_by(&server, &key, "budget_monitor", false).await.len(), 1);

    // The window ended 5 minutes ago: a new one starts, from zero.
    sql.execute(
        "UPDATE budgets SET budget_reset_at = now() - interval '5 minutes' WHERE id = $1",
        &[&hourly_id],
    )
    .await
    .unwrap();
    server
        .wait_for("the new window to lift the halt", ASYNC, async || {
            sync_halts(&server, &key).await.is_empty()
        })
        .await;
    let after = budget(&server, &key, &hourly["id"]).await;
    assert_eq!(after["auto_halted"], false);
    assert!(approx(&after["current_spend"], 0.0), "{after}");
    near_now(&after["budget_reset_at"], chrono::Duration::minutes(55));
    let (_, spend) = get(&server, &format!("{BUDGETS}/{hourly_id}/spend"), &key).await;
    assert_eq!(spend["spent_usd"], "0");
    near_now(&spend["window_start"], -chrono::Duration::minutes(5));
}

#[tokio::test]
async fn budget_numbers_that_do_not_fit_are_refused_as_client_errors() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    for body in [
        json!({"name": "huge", "scope": "project", "max_spend_usd": "99999999999", "budget_duration": "1d"}),
        json!({"name": "huge", "budget_type": "cost", "limit_usd": 1e15}),
        json!({"name": "ratio", "scope": "project", "max_spend_usd": "1", "budget_duration": "1d",
               "soft_limit_ratio": "12.5"}),
        json!({"name": "window", "scope": "project", "max_repeated_calls": 3, "loop_window_seconds": "1e12"}),
    ] {
        let (status, answer) = post(&server, BUDGETS, &key, body.clone()).await;
        assert!(matches!(status, 400 | 422), "{body} -> {status} {answer}");
    }
    let b = create_budget(
        &server,
        &key,
        json!({"name": "ok", "scope": "project", "max_spend_usd": "5", "budget_duration": "1d"}),
    )
    .await;
    let (status, answer) = patch(
        &server,
        &format!("{BUDGETS}/{}", b["id"].as_str().unwrap()),
        &key,
        json!({"max_spend_usd": "1e11"}),
    )
    .await;
    assert!(matches!(status, 400 | 422), "{status} {answer}");
    assert_eq!(
        get(&server, BUDGETS, &key).await.1["budgets"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_positive_limit_never_becomes_zero_and_halts_an_idle_project() {
    let db = TestDb::migrated().await;
    let (server, key) = monitored(&db).await;
    let (status, created) = post(
        &server,
        BUDGETS,
        &key,
        json!({"name": "tiny", "scope": "project", "max_spend_usd": "0.0000001", "budget_duration": "1d"}),
    )
    .await;
    match status {
        400 | 422 => {}
        201 => {
            assert_ne!(created["max_spend_usd"], "0", "a positive limit was stored as zero");
            server
                .wait_for("an evaluation", ASYNC, async || {
                    !budget(&server, &key, &created["id"]).await["last_evaluated_at"].is_null()
                })
                .await;
        }
        other => panic!("{other}: {created}"),
    }
    assert_eq!(
        sync_halts(&server, &key).await,
        Vec::<Value>::new(),
        "nothing was spent, so nothing may be halted"
    );
}

#[tokio::test]
async fn a_deeply_nested_expression_never_takes_the_receiver_down() {
    let db = TestDb::migrated().await;
    let (mut server, key) = started(&db).await;
    // Any policies:write key can send this; the answer may be 201 or 400,
    // but the receiver must survive it.
    let chain = format!("attrs{} == 1", ".b".repeat(5000));
    let resp = server
        .request(Method::POST, POLICIES)
        .bearer_auth(&key)
        .json(&json!({"name": "deep", "match_expression": chain, "action": "log"}))
        .send()
        .await;
    let status = resp.as_ref().map(|r| r.status().as_u16()).ok();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.is_running(), "the receiver died: {:#?}", server.logs());
    assert!(matches!(status, Some(201 | 400)), "{status:?}");
    assert!(server.is_healthy().await);
    assert_eq!(feed(&server, &key).await["intervention_default_action"], "allow");
}

#[tokio::test]
async fn budget_name_and_description_lengths_follow_the_contract() {
    let db = TestDb::migrated().await;
    let (server, key) = started(&db).await;
    let body = |name: String, description: String| json!({"name": name, "description": description, "budget_type": "cost", "limit_usd": 1});
    create_budget(&server, &key, body("n".repeat(200), "d".repeat(1024))).await;
    assert_eq!(
        post(&server, BUDGETS, &key, body("n".repeat(201), "d".into())).await.0,
        422
    );
    assert_eq!(
        post(&server, BUDGETS, &key, body("n".into(), "d".repeat(1025))).await.0,
        422
    );
}

#[tokio::test]
async fn deep_expressions_are_refused_at_write_time_and_modest_ones_evaluated_at_ingest() {
    let db = TestDb::migrated().await;
    let (mut server, key) = started(&db).await;
    for (name, expression, reason) in [
        (
            "negations",
            format!("{}true", "!".repeat(50_000)),
            "at most 4096 characters",
        ),
        (
            "chain",
            format!("attrs{} == 1", ".b".repeat(2_100)),
            "at most 4096 characters",
        ),
        ("members", format!("attrs{} == 1", ".b".repeat(300)), "member accesses"),
        (
            "parens",
            format!("{}true{}", "(".repeat(100), ")".repeat(100)),
            "nests deeper",
        ),
    ] {
        let (status, answer) = post(
            &server,
            POLICIES,
            &key,
            json!({"name": name, "match_expression": expression, "action": "log"}),
        )
        .await;
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(reason), "{name}: {answer}");
        assert!(server.is_running(), "{name} killed the receiver: {:#?}", server.logs());
    }
    let modest = format!("{}true", "!".repeat(40));
    let (status, answer) = post(
        &server,
        POLICIES,
        &key,
        json!({"name": "negations", "match_expression": modest, "action": "log"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    send(
        &server,
        &key,
        "agent",
        vec![span(1, 1, "langgraph.tool.search").attr("gen_ai.tool.name", "search")],
    )
    .await;
    assert!(server.is_running(), "ingest died: {:#?}", server.logs());
    assert_eq!(server.list("/v1/spans", &key).await.len(), 1);
    // An even number of negations of true: it matched, so it was evaluated.
    server
        .wait_for("the policy's match to be recorded", ASYNC, async || {
            let listed = feed(&server, &key).await;
            listed["policies"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "negations" && p["match_count"] == 1)
        })
        .await;
}
