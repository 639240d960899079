//! `strathon adopt`: a team moves from the Python original in one command
//! and keeps everything: old keys, old passwords and second factors, the
//! audit chain, the trace data; an interrupted move resumes; `adopt verify`
//! finds what does not match.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{binary, Launch, Server, TestDb};
use crate::original::{self, KeyState, Original, DEFAULT_PROJECT, RESEARCH_PROJECT};
use crate::otlp;

/// What one `strathon adopt …` run left: exit status, stdout, stderr lines.
struct Run {
    status: i32,
    stdout: String,
    stderr: Vec<String>,
}

impl Run {
    fn records(&self) -> Vec<Value> {
        self.stderr
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn record(&self, message: &str) -> Option<Value> {
        self.records().into_iter().find(|r| r["message"] == message)
    }
}

fn adopt_command(target: &TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &target.url)
        .env("STRATHON_LOG_FORMAT", "json")
        .env("STRATHON_AUDIT_HMAC_KEY", original::AUDIT_KEY)
        .env("STRATHON_ENCRYPTION_KEY", original::FERNET_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn run(target: &TestDb, args: &[&str]) -> Run {
    let mut cmd = adopt_command(target, args);
    let what = format!("strathon {args:?}");
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("running strathon");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned)
                .collect(),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Starts `strathon adopt` and SIGKILLs it as soon as it has committed its
/// first chunk of spans: an interruption in the middle of the bulk copy.
async fn adopt_and_kill_mid_copy(target: &TestDb, from: &str) -> Vec<String> {
    let mut cmd = adopt_command(target, &["adopt", "--from", from]);
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawning strathon adopt");
        let stderr = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let record: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            seen.push(line);
            if record["message"] == "chunk committed" && record["phase"] == "spans" {
                child.kill().expect("SIGKILL");
                break;
            }
        }
        let _ = child.wait();
        seen
    })
    .await
    .expect("the interrupted run")
}

async fn scalar(db: &TestDb, query: &str) -> i64 {
    db.scalar_i64(query).await
}

fn serve_adopted(target: &TestDb) -> Launch {
    Launch::serve(target)
        .env("STRATHON_AUDIT_HMAC_KEY", original::AUDIT_KEY)
        .env("STRATHON_ENCRYPTION_KEY", original::FERNET_KEY)
        .env("STRATHON_PASSWORD_PEPPER", original::PEPPER)
}

fn totp_now(secret: &str) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now).to_string()
}

async fn anonymous_post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let resp = server.http.post(server.url(path)).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn key(name: &str) -> String {
    original::keys()
        .into_iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, raw, ..)| raw)
        .expect("a fixture key")
}

#[tokio::test]
async fn a_team_moves_in_one_command_and_keeps_everything() {
    let source = Original::build(10_000).await;
    let from = source.db.url.clone();
    let target = TestDb::unborn();

    // The dry run counts, explains, and writes nothing (not even the database).
    let dry = run(&target, &["adopt", "--from", &from, "--dry-run"]).await;
    assert_eq!(dry.status, 0, "{:?}", dry.stderr);
    let line = |name: &str| {
        dry.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{}", dry.stdout))
            .to_owned()
    };
    assert!(line("spans ").contains("100000 / 100000"), "{}", dry.stdout);
    assert!(line("users ").contains("2 / 3"), "{}", dry.stdout);
    assert!(line("halt_state -> halts").contains("4 / 5"), "{}", dry.stdout);
    assert!(line("budgets ").contains("3 / 4"), "{}", dry.stdout);
    for explained in [
        "1 left out: users without an email",
        "1 left out: a halt scoped to a trace",
        "1 changed: a budget with both limits keeps its spend limit",
        "1 changed: the legacy role 'member' becomes 'operator'",
        "spans.reasoning_tokens",
        "traces.conversation_id",
        "users.github_id",
    ] {
        assert!(dry.stdout.contains(explained), "{explained}:\n{}", dry.stdout);
    }
    assert!(
        line("sessions ").contains("every user signs in again"),
        "{}",
        dry.stdout
    );
    assert!(line("webhook_signing_keys ").contains(" 1 "), "{}", dry.stdout);
    assert!(line("github_integrations ").contains("1 / 2"), "{}", dry.stdout);
    assert!(line("git_commits ").contains("2 / 2"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("1 left out: a webhook secret beginning with 'enc:'"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        scalar(
            &source.db,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{}'", target.name)
        )
        .await,
        0,
        "a dry run creates nothing"
    );

    // Interrupted in the middle of the span copy, then run again.
    let first = adopt_and_kill_mid_copy(&target, &from).await;
    let copied = scalar(&target, "SELECT count(*) FROM spans").await;
    assert!(
        copied > 0 && copied < source.spans,
        "killed mid-copy, yet {copied} spans are in: {first:#?}"
    );
    let chunks_done = scalar(
        &target,
        "SELECT count(*) FROM adoption.chunks WHERE phase = 'spans' AND done_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        copied,
        scalar(
            &target,
            "SELECT coalesce(sum(copied_rows), 0)::bigint FROM adoption.chunks WHERE phase = 'spans'"
        )
        .await
    );
    assert!(chunks_done >= 1);

    // Meanwhile a receiver already wrote the newest span (as it was in the
    // original) into a range the adopt has not reached.
    let cols = "project_id, start_time_unix_nano, trace_id, span_id, parent_span_id, name, kind, end_time_unix_nano, \
                status_code, status_message, operation_name, provider_name, request_model, response_model, agent_name, \
                agent_id, tool_name, workflow_name, conversation_id, input_tokens, output_tokens, cost_usd, \
                intervention_state, attributes";
    let newest: Value = source
        .db
        .sql()
        .await
        .query_one(
            &format!("SELECT row_to_json(t)::jsonb FROM (SELECT {cols} FROM spans ORDER BY start_time_unix_nano DESC LIMIT 1) t"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    target
        .sql()
        .await
        .execute(
            &format!("INSERT INTO spans ({cols}) SELECT {cols} FROM jsonb_populate_record(NULL::spans, $1)"),
            &[&newest],
        )
        .await
        .unwrap();
    // As the receiver's ingest writer does, in the same breath.
    target
        .sql()
        .await
        .execute(
            &strathon_schema::ingest::rollup_upsert(&format!(
                "(SELECT * FROM spans WHERE start_time_unix_nano = {}) AS written",
                newest["start_time_unix_nano"]
            )),
            &[],
        )
        .await
        .unwrap();

    let started = Instant::now();
    let again = run(&target, &["adopt", "--from", &from]).await;
    let took = started.elapsed();
    assert_eq!(again.status, 0, "{:#?}", again.stderr);
    assert!(
        again
            .record("control plane already carried by an earlier run; resuming the trace data")
            .is_some(),
        "{:#?}",
        again.stderr
    );
    let resumed = again
        .record("resuming after the last committed chunk")
        .expect("resumed");
    assert_eq!(resumed["chunks_done"], chunks_done);
    assert!(
        again
            .record("spans already in the range; copying through staging")
            .is_some(),
        "{:#?}",
        again.stderr
    );
    let done = again.record("adopt complete").expect("a summary");
    assert_eq!(
        done["spans"].as_i64(),
        Some(source.spans - copied),
        "only the rest is copied"
    );
    let rate = done["spans_per_second"].as_f64().unwrap_or_default();
    let per_million = done["seconds_per_million_spans"].as_f64().unwrap_or_default();
    assert!(rate > 0.0 && per_million > 0.0, "{done}");
    assert!(again.stdout.contains("spans/s"), "{}", again.stdout);
    eprintln!(
        "adopt: resumed run copied {} spans at {rate:.0} spans/s ({per_million:.1} s per million); whole run {took:?}",
        source.spans - copied
    );

    // Exactly one copy of every row.
    assert_eq!(scalar(&target, "SELECT count(*) FROM spans").await, source.spans);
    assert_eq!(
        scalar(
            &target,
            "SELECT count(DISTINCT (project_id, trace_id, span_id)) FROM spans"
        )
        .await,
        source.spans
    );
    assert_eq!(scalar(&target, "SELECT count(*) FROM traces").await, source.traces);
    assert_eq!(scalar(&target, "SELECT count(*) FROM audit.events").await, 60);
    // The hourly rollups the overview, agents and costs read hold the
    // adopted history, each span counted once.
    let rollup_cols = "project_id, hour, agent_name, tool_name, model, intervention_state, error, spans, cost_usd, \
                       input_tokens, output_tokens, ended, first_start, last_start";
    let from_scratch = "SELECT project_id, (start_time_unix_nano / 3600000000000) * 3600000000000, coalesce(agent_name, ''), \
         coalesce(tool_name, ''), coalesce(response_model, request_model, ''), coalesce(intervention_state, ''), \
         coalesce(status_code = 'ERROR', false), count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), \
         coalesce(sum(output_tokens), 0), count(end_time_unix_nano), min(start_time_unix_nano), max(start_time_unix_nano) \
         FROM spans GROUP BY 1, 2, 3, 4, 5, 6, 7";
    let differing = scalar(
        &target,
        &format!(
            "SELECT count(*) FROM (((SELECT {rollup_cols} FROM span_rollups) EXCEPT ({from_scratch})) \
             UNION ALL (({from_scratch}) EXCEPT (SELECT {rollup_cols} FROM span_rollups))) d"
        ),
    )
    .await;
    assert_eq!(differing, 0, "rollups match the spans");
    assert_eq!(
        scalar(&target, "SELECT sum(spans)::bigint FROM span_rollups").await,
        source.spans
    );
    // History does not page anyone: no webhook was queued for old matches,
    // approvals or halts.
    assert_eq!(scalar(&target, "SELECT count(*) FROM webhook_deliveries").await, 0);

    // A third run has nothing left to do.
    let third = run(&target, &["adopt", "--from", &from]).await;
    assert_eq!(third.status, 0);
    assert!(third.stdout.contains("already adopted"), "{}", third.stdout);
    assert_eq!(scalar(&target, "SELECT count(*) FROM spans").await, source.spans);

    // Verify: tables, checksums, chains, anchors and sealed secrets all match.
    let verified = run(&target, &["adopt", "verify", "--from", &from]).await;
    assert_eq!(verified.status, 0, "{}\n{:#?}", verified.stdout, verified.stderr);
    assert!(verified.stdout.contains("Verified"), "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains("60 events in 2 projects; 3 anchors, 3 holding"),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.contains("TOTP secrets: 1 sealed, 1 open"),
        "{}",
        verified.stdout
    );

    // Someone edits the original's audit log behind the triggers' back.
    source
        .db
        .sql()
        .await
        .batch_execute(
            "ALTER TABLE audit.events DISABLE TRIGGER events_no_update;
             UPDATE audit.events SET reason = 'nothing to see' WHERE sequence_no = 5;
             ALTER TABLE audit.events ENABLE TRIGGER events_no_update;",
        )
        .await
        .unwrap();
    let differs = run(&target, &["adopt", "verify", "--from", &from]).await;
    assert_eq!(differs.status, 1, "{}", differs.stdout);
    let audit_line = differs
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("audit.events "))
        .unwrap_or_default();
    assert!(audit_line.contains("CONTENTS DIFFER"), "{}", differs.stdout);

    // The receiver on the adopted database: old keys, old logins, one chain.
    let server = serve_adopted(&target)
        .env("STRATHON_RETENTION_INTERVAL_SECONDS", "1")
        .start()
        .await;
    server.wait_ready().await;
    for (name, raw, _, state) in original::keys() {
        let (status, body) = server.get_json("/v1/policies", Some(&raw)).await;
        let expected = match state {
            KeyState::Live | KeyState::InGrace => 200,
            KeyState::Revoked | KeyState::Expired => 401,
        };
        assert_eq!(status, expected, "{name}: {body}");
    }
    let (_, policies) = server.get_json("/v1/policies", Some(&key("agent ingest"))).await;
    let names: Vec<&str> = policies["policies"]
        .as_array()
        .or(policies["data"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"block-shell") && names.contains(&"alert-on-spend"),
        "{policies}"
    );
    let (status, sync) = server
        .post("/v1/intervention/sync", &key("agent ingest"), json!({}))
        .await;
    assert_eq!(status, 200, "{sync}");
    let halts: Vec<(String, Value)> = sync["halts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["scope"].as_str().unwrap_or("").to_owned(), h["scope_value"].clone()))
        .collect();
    assert!(halts.contains(&("project".into(), Value::Null)), "{sync}");
    assert!(halts.contains(&("agent".into(), json!("research-bot"))), "{sync}");
    assert_eq!(
        server
            .post("/v1/intervention/sync", &key("sdk default"), json!({}))
            .await
            .0,
        403,
        "a default-scoped key still lacks halts:read"
    );
    let (status, _) = server
        .post(
            "/v1/policies",
            &key("dashboard reader"),
            json!({"name": "x", "match_expression": "true", "action": "log"}),
        )
        .await;
    assert_eq!(status, 403, "scopes carry as they were");

    // The chain verifies end to end, anchors included, and ours continues it.
    let admin = key("ops admin");
    let (status, chain) = server.get_json("/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(chain["valid"], true, "{chain}");
    assert_eq!(chain["events_checked"], 30, "{chain}");
    // The original's three anchors, and ours once the sealer seals the tail.
    assert!(chain["anchors_checked"].as_i64() >= Some(3), "{chain}");
    assert_eq!(chain["first_bad_anchor"], Value::Null, "{chain}");
    let (status, _) = server
        .post(
            "/v1/halts",
            &admin,
            json!({"scope": "agent", "scope_value": "billing", "reason": "after the move"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, chain) = server.get_json("/v1/audit/verify", Some(&admin)).await;
    assert_eq!(
        (chain["valid"].clone(), chain["events_checked"].clone()),
        (json!(true), json!(31)),
        "{chain}"
    );
    let newest = scalar(&target, "SELECT max(sequence_no) FROM audit.events").await;
    assert_eq!(newest, 62, "the original's sequence (61 with one gap) continues");
    let (_, reader_chain) = server
        .get_json("/v1/audit/verify", Some(&key("dashboard reader")))
        .await;
    assert_eq!(
        (reader_chain["valid"].clone(), reader_chain["events_checked"].clone()),
        (json!(true), json!(30)),
        "{reader_chain}"
    );

    // Ingest with the agent's old key.
    let body = otlp::protobuf(&otlp::request(
        "billing-agent",
        vec![otlp::span(201, 1, "invoke_agent").attr("strathon.agent.name", "billing")],
    ));
    let (status, _, _) = server
        .post_traces(&key("agent ingest"), body, "application/x-protobuf", None)
        .await;
    assert_eq!(status, 200);

    // The owner signs in with the old password and the authenticator app.
    let (status, challenge) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": original::OWNER_EMAIL, "password": original::OWNER_PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, challenge["mfa_required"].as_bool()),
        (200, Some(true)),
        "{challenge}"
    );
    let (status, session) = anonymous_post(
        &server,
        "/v1/auth/mfa/verify",
        json!({"mfa_token": challenge["mfa_token"], "code": totp_now(original::OWNER_TOTP)}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let me = server.get("/v1/auth/me").bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let stored: String = target
        .sql()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE email = $1",
            &[&original::OWNER_EMAIL],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "rehashed our way at sign-in: {stored}"
    );
    let (status, again) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": original::OPERATOR_EMAIL, "password": original::OPERATOR_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert!(again["token"].is_string(), "{again}");
    let (status, _) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": original::OPERATOR_EMAIL, "password": "not it"}),
    )
    .await;
    assert_eq!(status, 401);

    // GitHub keeps signing with the secret the original stored in plain
    // text; the first webhook that verifies seals it.
    let push = json!({
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/agent-tools"},
        "commits": [{"id": "d".repeat(40), "message": "After the move", "timestamp": "2026-12-04T10:00:00Z",
                     "author": {"name": "Ada", "email": "ada@example.com"}}],
    });
    let (status, tracked) = server
        .github_webhook("push", &push, Some(original::GITHUB_SECRET))
        .await;
    assert_eq!((status, tracked), (200, json!({"event": "push", "commits_tracked": 1})));
    let secret: String = target
        .sql()
        .await
        .query_one(
            "SELECT webhook_secret_sealed FROM github_integrations WHERE repo_full_name = 'acme/agent-tools'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        secret.starts_with("enc:") && !secret.contains(original::GITHUB_SECRET),
        "sealed at first use"
    );
    assert_eq!(
        server
            .github_webhook("push", &push, Some(original::GITHUB_SECRET))
            .await
            .0,
        200,
        "and it still verifies once sealed"
    );
    let commits = server
        .list(
            "/v1/integrations/github/commits?repo=acme/agent-tools",
            &key("ops admin"),
        )
        .await;
    let shas: Vec<&str> = commits.iter().filter_map(|c| c["commit_sha"].as_str()).collect();
    assert!(shas.contains(&original::GIT_COMMIT) && shas.len() == 2, "{commits:?}");
    let linked = server
        .list(
            &format!("/v1/traces?git_commit={}", &original::GIT_COMMIT[..12]),
            &key("ops admin"),
        )
        .await;
    assert_eq!(linked.len(), 1, "the trace that ran the commit: {linked:?}");

    // Retention continues as if the data had always been ours: the default
    // project keeps 30 days, the research project 90.
    server
        .wait_for("retention of the adopted traces", Duration::from_secs(30), async || {
            scalar(
                &target,
                &format!(
                    "SELECT count(*) FROM traces WHERE project_id = '{DEFAULT_PROJECT}' \
                     AND start_time_unix_nano < (extract(epoch FROM now() - interval '31 days') * 1e9)::bigint"
                ),
            )
            .await
                == 0
        })
        .await;
    assert!(
        scalar(
            &target,
            &format!(
                "SELECT count(*) FROM traces WHERE project_id = '{RESEARCH_PROJECT}' \
                 AND start_time_unix_nano < (extract(epoch FROM now() - interval '31 days') * 1e9)::bigint"
            )
        )
        .await
            > 0
    );
}

#[tokio::test]
async fn a_source_row_tampered_before_the_move_is_reported() {
    let source = Original::build(20).await;
    let sql = source.db.sql().await;
    sql.batch_execute("ALTER TABLE audit.events DISABLE TRIGGER events_no_update")
        .await
        .unwrap();
    let tampered: uuid::Uuid = sql
        .query_one(
            "UPDATE audit.events SET after_state = after_state || '{\"name\": \"innocent\"}' \
             WHERE sequence_no = 20 RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    sql.batch_execute("ALTER TABLE audit.events ENABLE TRIGGER events_no_update")
        .await
        .unwrap();
    let target = TestDb::unborn();
    let adopted = run(&target, &["adopt", "--from", &source.db.url]).await;
    assert_eq!(adopted.status, 0, "{:#?}", adopted.stderr);

    let verified = run(&target, &["adopt", "verify", "--from", &source.db.url]).await;
    assert_eq!(verified.status, 1, "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains(&format!("CHAIN BROKEN at event {tampered} (sequence 20)")),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stderr.iter().any(|l| l.contains("verification found")),
        "{:#?}",
        verified.stderr
    );
    // Sequence 20 is the default project's (even events are, and one
    // sequence number was skipped): its chain breaks there, the research
    // project's holds.
    let server = serve_adopted(&target).start().await;
    let (_, default) = server.get_json("/v1/audit/verify", Some(&key("ops admin"))).await;
    assert_eq!(default["valid"], false, "{default}");
    assert_eq!(default["first_broken"]["event_id"], json!(tampered), "{default}");
    let (_, research) = server
        .get_json("/v1/audit/verify", Some(&key("dashboard reader")))
        .await;
    assert_eq!(research["valid"], true, "{research}");
}

#[tokio::test]
async fn only_an_original_at_revision_032_into_an_empty_database_is_adopted() {
    let source = Original::build(1).await;
    source
        .db
        .sql()
        .await
        .batch_execute("UPDATE alembic_version SET version_num = '029'")
        .await
        .unwrap();
    let target = TestDb::unborn();
    let refused = run(&target, &["adopt", "--from", &source.db.url]).await;
    assert_eq!(refused.status, 1);
    let message = refused.stderr.join("\n");
    assert!(
        message.contains("schema revision 029") && message.contains("reads revision 032"),
        "{message}"
    );
    let dry = run(&target, &["adopt", "--from", &source.db.url, "--dry-run"]).await;
    assert_eq!(dry.status, 1, "a dry run checks the revision too");

    let not_original = TestDb::empty().await;
    let refused = run(&target, &["adopt", "--from", &not_original.url]).await;
    assert_eq!(refused.status, 1);
    assert!(
        refused.stderr.join("\n").contains("no alembic_version table"),
        "{:?}",
        refused.stderr
    );

    source
        .db
        .sql()
        .await
        .batch_execute("UPDATE alembic_version SET version_num = '032'")
        .await
        .unwrap();
    let occupied = TestDb::migrated().await;
    occupied.key(DEFAULT_PROJECT, &["*"]).await;
    let refused = run(&occupied, &["adopt", "--from", &source.db.url]).await;
    assert_eq!(refused.status, 1);
    assert!(
        refused.stderr.join("\n").contains("already holds data of its own"),
        "{:?}",
        refused.stderr
    );
    let itself = run(&source.db, &["adopt", "--from", &source.db.url]).await;
    assert_eq!(itself.status, 1);
    assert!(
        itself.stderr.join("\n").contains("names the source database itself"),
        "{:?}",
        itself.stderr
    );
}
