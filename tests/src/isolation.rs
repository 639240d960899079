//! Projects are walls. Project A's API key and A's owner's session call
//! every route of the OpenAPI document (the receiver's own route table, so a
//! new route is covered the day it is added) against project B's objects:
//! each answers 404, no list shows B's data, and B's rows in Postgres are
//! unchanged afterwards, byte for byte.
//!
//! B lives in another organization: `/v1/projects/{slug}` is org-wide by
//! contract (a `projects:manage` caller manages every project of its own
//! organization), so only across organizations is every route a wall.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{self, protobuf, request, span};

const PASSWORD: &str = "Correct-horse-9";
/// Every name B's objects carry, so a leak into A's answers is visible.
const MARK: &str = "bsecretmark";

/// Path parameters that name no project's object: the template catalogue
/// is the same for everyone.
const GLOBAL: [&str; 1] = ["template_id"];

/// Operations only a session can call: a key is told so (400) whatever
/// the id, which says nothing about B.
const SESSION_ONLY: [&str; 1] = ["revoke_session"];

/// Bodies for writes, by operation id, valid enough to get past validation
/// (so the answer is about the object, not the body). Absent: `{}`.
fn body_for(operation: &str) -> Value {
    match operation {
        "update_api_key" => json!({"name": "hijacked"}),
        "update_audit_stream" => json!({"enabled": false}),
        "update_budget" => json!({"name": "hijacked"}),
        "change_member_role" | "change_project_member_role" => json!({"role": "viewer"}),
        "add_project_member" => json!({"email": "intruder@example.com", "role": "viewer"}),
        "update_notification_channel" => json!({"enabled": false}),
        "update_policy" => json!({"enabled": false}),
        "rename_project" => json!({"name": "hijacked"}),
        _ => json!({}),
    }
}

/// Who calls: a bearer credential, and for sessions the project it claims.
struct Party {
    who: &'static str,
    bearer: String,
    project: Option<uuid::Uuid>,
    /// Answers that mean "no such thing here" for this party.
    refused: &'static [u16],
}

async fn call(server: &Server, method: &Method, path: &str, bearer: &str, body: Option<Value>) -> (u16, String) {
    send(server, method, path, bearer, None, body).await
}

async fn send(
    server: &Server,
    method: &Method,
    path: &str,
    bearer: &str,
    project: Option<uuid::Uuid>,
    body: Option<Value>,
) -> (u16, String) {
    let mut req = server.request(method.clone(), path).bearer_auth(bearer);
    if let Some(p) = project {
        // Sessions re-confirm their password for sensitive operations; an
        // intruder who knows it must still meet a wall.
        req = req
            .header("X-Project-Id", p.to_string())
            .header("X-Confirm-Password", PASSWORD);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    (resp.status().as_u16(), resp.text().await.unwrap_or_default())
}

async fn ok(server: &Server, method: Method, path: &str, bearer: &str, body: Value) -> Value {
    let (status, text) = call(server, &method, path, bearer, Some(body)).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn register(server: &Server, email: &str) -> (String, String) {
    let body = ok(
        server,
        Method::POST,
        "/v1/auth/register",
        "",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    (
        body["token"].as_str().expect("a session token").to_owned(),
        body["user"]["id"].as_str().expect("a user id").to_owned(),
    )
}

/// Every row of B's in every table that has a `project_id`, and B's user:
/// what must not change.
async fn snapshot(db: &TestDb, project: uuid::Uuid, user: &str) -> BTreeMap<String, String> {
    let sql = db.sql().await;
    let tables: Vec<String> = sql
        .query(
            "SELECT c.table_name FROM information_schema.columns c
              JOIN pg_class t ON t.relname = c.table_name AND t.relnamespace = 'public'::regnamespace
             WHERE c.column_name = 'project_id' AND c.table_schema = 'public'
               AND NOT t.relispartition AND t.relkind IN ('r', 'p')
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let row = sql
            .query_one(
                &format!(
                    "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
                       FROM {table} t WHERE project_id = $1"
                ),
                &[&project],
            )
            .await
            .unwrap();
        out.insert(table, row.get::<_, String>(0));
    }
    let uid = uuid::Uuid::parse_str(user).unwrap();
    for (name, query) in [
        ("users", "SELECT coalesce(md5(t::text), '') FROM users t WHERE id = $1"),
        ("sessions", "SELECT count(*)::text FROM sessions WHERE user_id = $1"),
    ] {
        let row = sql.query_one(query, &[&uid]).await.unwrap();
        out.insert(name.to_owned(), row.get::<_, String>(0));
    }
    out
}

#[tokio::test]
async fn no_route_lets_one_project_touch_another() {
    let db = TestDb::migrated().await;
    db.project("warm-up").await; // the default organization exists first
    let b_org = uuid::Uuid::new_v4();
    db.sql()
        .await
        .execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $2)",
            &[&b_org, &format!("{MARK}-org")],
        )
        .await
        .unwrap();
    let b_project = strathon_schema::projects::create(&mut db.conn().await, b_org, MARK, &format!("{MARK}-project"))
        .await
        .unwrap()
        .id;
    let b_key = db.key(b_project, &["*"]).await;
    let server = Launch::serve(&db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .start()
        .await;

    // A: a key of A's, and the session of A's owner (the first user), in
    // A's project and claiming B's, which it is no member of.
    let (a_session, _) = register(&server, "owner-a@example.com").await;

    // B's objects, one of each kind.
    let slug = format!("{MARK}-project");
    ok(
        &server,
        Method::POST,
        "/v1/members",
        &b_key,
        json!({"email": "member-b@example.com", "role": "admin"}),
    )
    .await;
    let (b_session, b_user) = register(&server, "member-b@example.com").await;
    ok(
        &server,
        Method::POST,
        "/v1/members",
        &b_key,
        json!({"email": "pending-b@example.com", "role": "viewer"}),
    )
    .await;
    let policy = ok(
        &server,
        Method::POST,
        "/v1/policies",
        &b_key,
        json!({"name": format!("{MARK} policy"), "match_expression": "name == \"x\"", "action": "require_approval"}),
    )
    .await;
    let budget = ok(
        &server,
        Method::POST,
        "/v1/budgets",
        &b_key,
        json!({"name": format!("{MARK} budget"), "scope": "project", "max_spend_usd": "5", "budget_duration": "1d"}),
    )
    .await;
    let halt = ok(
        &server,
        Method::POST,
        "/v1/halts",
        &b_key,
        json!({"scope": "agent", "scope_value": format!("{MARK}-agent"), "reason": MARK}),
    )
    .await;
    let approval = ok(
        &server,
        Method::POST,
        "/v1/approvals",
        &b_key,
        json!({"policy_id": policy["id"], "agent_name": format!("{MARK}-agent"), "tool_name": "send_email"}),
    )
    .await;
    let channel = ok(&server, Method::POST, "/v1/notification-channels", &b_key, json!({"name": format!("{MARK} channel"), "channel_type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}})).await;
    let signing = ok(&server, Method::POST, "/v1/webhook_signing_keys", &b_key, json!({})).await;
    let stream = ok(
        &server,
        Method::POST,
        "/v1/audit/streams",
        &b_key,
        json!({"name": format!("{MARK} stream"), "url": "http://127.0.0.1:9/audit"}),
    )
    .await;
    let integration = ok(
        &server,
        Method::POST,
        "/v1/integrations/github",
        &b_key,
        json!({"repo_full_name": format!("{MARK}/repo"), "webhook_secret": "s3cret-s3cret"}),
    )
    .await;
    ok(
        &server,
        Method::POST,
        "/v1/model_prices",
        &b_key,
        json!({"model_name": format!("{MARK}-model"), "input_cost_per_token": "0.1", "output_cost_per_token": "0.2"}),
    )
    .await;
    // B's owner (a fixture: projects made here have none) offers B to its admin.
    ok(
        &server,
        Method::POST,
        "/v1/members",
        &b_key,
        json!({"email": "owner-b@example.com", "role": "admin"}),
    )
    .await;
    let (b_owner, b_owner_id) = register(&server, "owner-b@example.com").await;
    db.sql()
        .await
        .execute(
            "UPDATE project_members SET role = 'owner' WHERE project_id = $1 AND user_id = $2",
            &[&b_project, &uuid::Uuid::parse_str(&b_owner_id).unwrap()],
        )
        .await
        .unwrap();
    let resp = server
        .request(Method::POST, &format!("/v1/members/{b_user}/transfer-ownership"))
        .bearer_auth(&b_owner)
        .header("X-Project-Id", b_project.to_string())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let offer: Value = resp.json().await.unwrap();
    let trace = span(7, 1, &format!("{MARK}.tool")).attr("gen_ai.agent.name", format!("{MARK}-agent"));
    let (status, _, _) = server
        .post_traces(
            &b_key,
            protobuf(&request(MARK, vec![trace])),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Something for the delivery routes: B's own halt announced to its channel.
    ok(
        &server,
        Method::POST,
        "/v1/halts",
        &b_key,
        json!({"scope": "project", "reason": MARK}),
    )
    .await;
    // The first item of a list answer, whatever its key (`data`, `api_keys`…).
    let first = |v: &Value, what: &str| {
        v.as_object()
            .and_then(|o| o.values().find_map(|x| x.as_array().and_then(|a| a.first())))
            .cloned()
            .unwrap_or_else(|| panic!("B has no {what}: {v}"))
    };
    let (_, keys) = server.get_json("/v1/api_keys", Some(&b_key)).await;
    let (_, events) = server.get_json("/v1/audit/events", Some(&b_key)).await;
    let (_, deliveries) = server.get_json("/v1/webhook_deliveries", Some(&b_key)).await;
    let (_, sessions) = server.get_json("/v1/auth/sessions", Some(&b_session)).await;
    let id = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not an id: {other}"),
    };
    let ids: BTreeMap<&str, String> = [
        ("key_id", id(&first(&keys, "API key")["id"])),
        ("approval_id", id(&approval["id"])),
        ("event_id", id(&first(&events, "audit event")["id"])),
        ("stream_id", id(&stream["id"])),
        ("session_id", id(&first(&sessions, "session")["id"])),
        ("budget_id", id(&budget["id"])),
        ("halt_id", id(&halt["id"])),
        ("integration_id", id(&integration["id"])),
        ("email", "pending-b@example.com".to_owned()),
        ("user_id", b_user.clone()),
        ("model_name", format!("{MARK}-model")),
        ("channel_id", id(&channel["id"])),
        ("id", id(&offer["transfer_id"])),
        ("policy_id", id(&policy["id"])),
        ("version", "1".to_owned()),
        ("slug", slug.clone()),
        ("trace_id", hex::encode(otlp::trace_id(7))),
        ("span_id", hex::encode(otlp::span_id(1))),
        ("delivery_id", id(&first(&deliveries, "webhook delivery")["id"])),
    ]
    .into_iter()
    .collect();
    // The signing key shares the `key_id` name with API keys: its route is
    // checked separately below.
    let signing_id = id(&signing["id"]);

    let parties = [
        Party {
            who: "A's key",
            bearer: db.key(DEFAULT_PROJECT_ID, &["*"]).await,
            project: None,
            refused: &[404],
        },
        Party {
            who: "A's session",
            bearer: a_session.clone(),
            project: Some(DEFAULT_PROJECT_ID),
            refused: &[404],
        },
        Party {
            who: "A's session claiming B",
            bearer: a_session,
            project: Some(b_project),
            refused: &[403, 404],
        },
    ];
    let before = snapshot(&db, b_project, &b_user).await;
    let (_, doc) = server.get_json("/openapi.json", None).await;
    let mut unknown = BTreeSet::new();
    let mut leaks = Vec::new();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let params: Vec<String> = template
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next())
                .map(str::to_owned)
                .collect();
            if params.iter().any(|p| GLOBAL.contains(&p.as_str())) {
                continue;
            }
            let mut path = template.clone();
            for p in &params {
                let value = if p == "key_id" && template.starts_with("/v1/webhook_signing_keys") {
                    Some(&signing_id)
                } else {
                    ids.get(p.as_str())
                };
                match value {
                    Some(v) => path = path.replace(&format!("{{{p}}}"), &urlencode(v)),
                    None => {
                        unknown.insert(format!("{p} (in {template})"));
                    }
                }
            }
            // Without an id a route can only act on the caller's own project
            // or account (logging out, say): only its reads can leak.
            if path.contains('{') || (params.is_empty() && method != Method::GET) {
                continue;
            }
            let operation = op["operationId"].as_str().unwrap_or_default();
            let body = (method != Method::GET && method != Method::DELETE).then(|| body_for(operation));
            for party in &parties {
                let who = party.who;
                if party.project.is_none() && SESSION_ONLY.contains(&operation) {
                    continue;
                }
                let (status, text) = send(&server, &method, &path, &party.bearer, party.project, body.clone()).await;
                checked += 1;
                if params.is_empty() {
                    // Lists and summaries: A may read its own, never B's.
                    if text.contains(MARK) || ids.values().any(|v| v.len() > 8 && text.contains(v.as_str())) {
                        leaks.push(format!(
                            "{who}: GET {path} shows B's data: {}",
                            &text[..text.len().min(300)]
                        ));
                    }
                } else if !party.refused.contains(&status) {
                    wrong.push(format!(
                        "{who}: {method} {path} ({operation}) -> {status} {}",
                        &text[..text.len().min(200)]
                    ));
                }
            }
        }
    }
    let after = snapshot(&db, b_project, &b_user).await;
    assert!(
        unknown.is_empty(),
        "path parameters this test has no object of B's for (add one): {unknown:#?}"
    );
    assert!(
        wrong.is_empty(),
        "{} answers were not 404:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    let changed: Vec<_> = before
        .iter()
        .filter(|(t, v)| after.get(*t) != Some(v))
        .map(|(t, _)| t)
        .collect();
    assert!(changed.is_empty(), "B's rows changed in {changed:?}");
    assert!(checked > 200, "only {checked} calls: the document lost routes?");

    // And B still sees all of its own (the calls above reached real objects).
    let (status, own) = server
        .get_json(&format!("/v1/policies/{}", ids["policy_id"]), Some(&b_key))
        .await;
    assert_eq!((status, own["enabled"].as_bool()), (200, Some(true)));
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
