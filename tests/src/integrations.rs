//! Slack and GitHub as they call us: an approval request reaches a Slack
//! channel with Approve and Deny buttons, and a press signed the way Slack
//! signs it decides the approval as that Slack user (replays, stale and
//! unsigned presses refused); GitHub webhooks signed with the repository's
//! secret record commits, and a trace that ran one is linked to it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{hmac_sha256_hex as sign, Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::hook::Hook;
use crate::otlp::{protobuf, request, span};

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK: &str = "/v1/integrations/slack/actions";
const GITHUB: &str = "/v1/integrations/github";
const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// A button press as Slack sends it: the form body and its headers.
fn press(value: &str, action: &str, user: &str, at: i64) -> (String, String, String) {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": user, "username": format!("{user}-name"), "team_id": "T0001"},
        "actions": [{"action_id": action, "block_id": "strathon_approval", "value": value, "type": "button"}],
        "response_url": "https://hooks.slack.com/actions/T0001/1/xyz",
    });
    let body = format!("payload={}", percent_encode(&payload.to_string()));
    let timestamp = at.to_string();
    let signature = format!(
        "v0={}",
        sign(SLACK_SECRET.as_bytes(), format!("v0:{timestamp}:{body}").as_bytes())
    );
    (body, timestamp, signature)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send_press(server: &Server, body: &str, timestamp: Option<&str>, signature: Option<&str>) -> (u16, Value) {
    let mut req = server
        .request(Method::POST, SLACK)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(t) = timestamp {
        req = req.header("x-slack-request-timestamp", t);
    }
    if let Some(s) = signature {
        req = req.header("x-slack-signature", s);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null),
    )
}

async fn approval(server: &Server, key: &str, tool: &str, approvers: i64) -> Value {
    let (status, created) = server
        .post(
            "/v1/approvals",
            key,
            json!({"policy_id": uuid::Uuid::new_v4(), "tool_name": tool, "agent_name": "payments", "approvers_required": approvers}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn slack_buttons_decide_approvals_as_the_slack_user() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let slack = Hook::start();
    let server = Launch::serve(&db)
        .env("STRATHON_WEBHOOK_ALLOW_LOOPBACK", "true")
        .env("STRATHON_SLACK_SIGNING_SECRET", SLACK_SECRET)
        .start()
        .await;
    let channel = json!({"channel_type": "slack", "name": "approvals", "config": {"url": slack.url("/services/T0001/B1/x")}, "events": ["approval_request"]});
    assert_eq!(server.post("/v1/notification-channels", &key, channel).await.0, 201);

    // The request reaches Slack with the two buttons.
    let created = approval(&server, &key, "wire_money", 1).await;
    let message = slack.wait_for(1, WAIT).await[0].json();
    assert!(
        message["text"].as_str().unwrap().contains("wants to call 'wire_money'"),
        "{message}"
    );
    let buttons = message["blocks"][1]["elements"].as_array().unwrap().clone();
    assert_eq!(buttons[0]["action_id"], "strathon_approve");
    assert_eq!(buttons[1]["action_id"], "strathon_deny");
    let value = buttons[0]["value"].as_str().unwrap().to_owned();
    assert_eq!(
        serde_json::from_str::<Value>(&value).unwrap()["approval_id"],
        created["id"]
    );

    // Unsigned, mis-signed and stale presses change nothing.
    let now = chrono::Utc::now().timestamp();
    let (body, timestamp, signature) = press(&value, "strathon_approve", "U100", now);
    let forged = format!(
        "v0={}",
        sign(b"not the signing secret", format!("v0:{timestamp}:{body}").as_bytes())
    );
    for (t, s, why) in [
        (None, None, "missing"),
        (Some(timestamp.as_str()), Some("v0=00"), "invalid Slack signature"),
        (
            Some(timestamp.as_str()),
            Some(forged.as_str()),
            "invalid Slack signature",
        ),
    ] {
        let (status, answer) = send_press(&server, &body, t, s).await;
        assert_eq!(status, 403, "{why} {t:?} {s:?}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(why), "{answer}");
    }
    let (old_body, old_t, old_s) = press(&value, "strathon_approve", "U100", now - 301);
    let (status, answer) = send_press(&server, &old_body, Some(&old_t), Some(&old_s)).await;
    assert_eq!(status, 403);
    assert!(answer["detail"].as_str().unwrap().contains("five minutes"), "{answer}");
    let id = created["id"].as_str().unwrap();
    let (_, still) = server.get_json(&format!("/v1/approvals/{id}"), Some(&key)).await;
    assert_eq!(still["status"], "pending");

    // A properly signed press approves, as that Slack user.
    let (status, _) = send_press(&server, &body, Some(&timestamp), Some(&signature)).await;
    assert_eq!(status, 200);
    let (_, decided) = server.get_json(&format!("/v1/approvals/{id}"), Some(&key)).await;
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["resolved_by"], "slack:T0001:U100");
    // The very same request again is a replay.
    let (status, answer) = send_press(&server, &body, Some(&timestamp), Some(&signature)).await;
    assert_eq!(
        (status, answer["detail"].clone()),
        (403, json!("this Slack request was already received"))
    );

    let events = server
        .list("/v1/audit/events?filter=action eq \"approval.approve\"", &key)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["id"], "slack:T0001:U100");
    assert_eq!(events[0]["actor"]["display"], "U100-name");
    assert_eq!(events[0]["auth_method"], "slack");

    // Two approvers: one vote each per person; a deny vetoes.
    let two = approval(&server, &key, "drop_table", 2).await;
    let value = json!({"approval_id": two["id"]}).to_string();
    let now = chrono::Utc::now().timestamp();
    let (b, t, s) = press(&value, "strathon_approve", "U1", now);
    assert_eq!(send_press(&server, &b, Some(&t), Some(&s)).await.0, 200);
    let (b, t, s) = press(&value, "strathon_approve", "U1", now + 1);
    let (status, answer) = send_press(&server, &b, Some(&t), Some(&s)).await;
    assert_eq!(
        (status, answer["detail"].clone()),
        (404, json!("approval not found or already resolved")),
        "one vote per person"
    );
    let (b, t, s) = press(&value, "strathon_deny", "U2", now);
    assert_eq!(send_press(&server, &b, Some(&t), Some(&s)).await.0, 200);
    let (_, vetoed) = server
        .get_json(&format!("/v1/approvals/{}", two["id"].as_str().unwrap()), Some(&key))
        .await;
    assert_eq!(vetoed["status"], "denied");
    assert_eq!(vetoed["current_approvals"], 1);

    // Signed but nonsense: 400, and a missing approval: 404.
    let (b, t, s) = press("not json", "strathon_approve", "U3", now);
    assert_eq!(send_press(&server, &b, Some(&t), Some(&s)).await.0, 400);
    let (b, t, s) = press(
        &json!({"approval_id": uuid::Uuid::new_v4()}).to_string(),
        "strathon_approve",
        "U3",
        now,
    );
    assert_eq!(send_press(&server, &b, Some(&t), Some(&s)).await.0, 404);
}

#[tokio::test]
async fn github_webhooks_record_commits_that_traces_link_to() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let reader = db.key(DEFAULT_PROJECT_ID, &["traces:read"]).await;
    let fernet = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    let server = Launch::serve(&db).env("STRATHON_ENCRYPTION_KEY", fernet).start().await;
    let secret = "repo-webhook-secret";

    let register = json!({"repo_full_name": "acme/agent-tools", "webhook_secret": secret, "installation_id": 42});
    let (status, repo) = server.post(GITHUB, &key, register.clone()).await;
    assert_eq!(status, 201, "{repo}");
    assert_eq!(repo["repo_full_name"], "acme/agent-tools");
    assert_eq!(repo["installation_id"], 42);
    assert!(repo.get("webhook_secret").is_none(), "the secret is never shown");
    let stored: String = db
        .sql()
        .await
        .query_one("SELECT webhook_secret_sealed FROM github_integrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("enc:") && !stored.contains(secret), "sealed at rest");
    assert_eq!(server.post(GITHUB, &key, register).await.0, 409);
    for (bad, status) in [
        (json!({"repo_full_name": "no-slash", "webhook_secret": secret}), 400),
        (json!({"repo_full_name": "acme/x", "webhook_secret": "short"}), 422),
        (json!({"repo_full_name": "acme/x"}), 422),
        (
            json!({"repo_full_name": "acme/x", "webhook_secret": secret, "installation_id": "one"}),
            422,
        ),
        (
            json!({"repo_full_name": "acme/x", "webhook_secret": secret, "token": "x"}),
            422,
        ),
    ] {
        assert_eq!(server.post(GITHUB, &key, bad.clone()).await.0, status, "{bad}");
    }
    assert_eq!(server.post(GITHUB, &reader, json!({})).await.0, 403);

    let (status, pong) = server
        .github_webhook(
            "ping",
            &json!({"zen": "Keep it logically awesome.", "repository": {"full_name": "acme/agent-tools"}}),
            Some(secret),
        )
        .await;
    assert_eq!(
        (status, pong),
        (200, json!({"event": "ping", "zen": "Keep it logically awesome."}))
    );

    let sha1 = "a".repeat(40);
    let sha2 = format!("b{}", "0".repeat(39));
    let push = json!({
        "ref": "refs/heads/main",
        "repository": {"full_name": "Acme/Agent-Tools"},
        "commits": [
            {"id": sha1, "message": "Teach the agent to refund", "timestamp": "2026-12-01T10:00:00Z",
             "url": format!("https://github.com/acme/agent-tools/commit/{sha1}"),
             "author": {"name": "Ada", "email": "ada@example.com"}},
            {"id": sha2, "message": "Tighten the refund policy", "timestamp": "2026-12-02T10:00:00Z",
             "author": {"name": "Grace", "email": "grace@example.com"}},
        ],
    });
    let (status, tracked) = server.github_webhook("push", &push, Some(secret)).await;
    assert_eq!((status, tracked), (200, json!({"event": "push", "commits_tracked": 2})));
    let pr = json!({
        "action": "opened", "number": 7, "repository": {"full_name": "acme/agent-tools"},
        "pull_request": {"number": 7, "head": {"sha": sha2, "ref": "refunds"}, "html_url": "https://github.com/acme/agent-tools/pull/7"},
    });
    let (status, opened) = server.github_webhook("pull_request", &pr, Some(secret)).await;
    assert_eq!(
        (status, opened),
        (
            200,
            json!({"event": "pull_request", "action": "opened", "pr_number": 7})
        )
    );
    let (status, ignored) = server
        .github_webhook(
            "star",
            &json!({"repository": {"full_name": "acme/agent-tools"}}),
            Some(secret),
        )
        .await;
    assert_eq!((status, ignored), (200, json!({"event": "star", "status": "ignored"})));

    // Unsigned, mis-signed, or for a repository nobody registered: refused.
    assert_eq!(server.github_webhook("push", &push, None).await.0, 401);
    assert_eq!(
        server.github_webhook("push", &push, Some("not-the-secret")).await.0,
        401
    );
    let (status, body) = server
        .github_webhook(
            "push",
            &json!({"repository": {"full_name": "acme/other"}}),
            Some(secret),
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("repository acme/other is not registered"))
    );
    let resp = server
        .request(Method::POST, &format!("{GITHUB}/webhooks"))
        .header("x-github-event", "push")
        .header("x-hub-signature-256", "sha256=00")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // A trace whose agent ran the second commit.
    let writer = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let spans = vec![
        span(5, 1, "agent.run").attr("strathon.git.commit", sha2.to_uppercase()),
        span(5, 2, "tool.refund").parent(1).attr("gen_ai.tool.name", "refund"),
    ];
    let (status, _, _) = server
        .post_traces(
            &writer,
            protobuf(&request("refunder", spans)),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let trace_id = hex::encode(crate::otlp::trace_id(5));
    let (status, trace) = server.get_json(&format!("/v1/traces/{trace_id}"), Some(&reader)).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["git_commit_sha"], sha2);
    assert_eq!(trace["git_commit"]["commit_message"], "Tighten the refund policy");
    assert_eq!(trace["git_commit"]["pr_number"], 7);
    assert_eq!(trace["git_commit"]["branch"], "main", "the push's branch is kept");
    let listed = server
        .list(&format!("/v1/traces?git_commit={}", &sha2[..8]), &reader)
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["trace_id"], trace_id);
    assert!(server
        .list(&format!("/v1/traces?git_commit={}", &sha1[..8]), &reader)
        .await
        .is_empty());
    assert_eq!(server.get_json("/v1/traces?git_commit=xyz", Some(&reader)).await.0, 400);

    let commits = server.list(&format!("{GITHUB}/commits"), &reader).await;
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0]["commit_sha"], sha2, "newest first");
    assert_eq!(commits[0]["trace_count"], 1);
    assert_eq!(commits[1]["author_email"], "ada@example.com");
    assert_eq!(commits[1]["trace_count"], 0);
    assert_eq!(
        server
            .list(&format!("{GITHUB}/commits?branch=main&sha={}", &sha1[..10]), &reader)
            .await
            .len(),
        1
    );
    assert!(server
        .list(&format!("{GITHUB}/commits?repo=acme/other"), &reader)
        .await
        .is_empty());

    let (_, listing) = server.get_json(GITHUB, Some(&key)).await;
    assert!(listing["data"][0]["last_event_at"].is_string());
    let path = format!("{GITHUB}/{}", repo["id"].as_str().unwrap());
    assert_eq!(server.call(Method::DELETE, &path, &key, None).await.0, 204);
    assert_eq!(server.call(Method::DELETE, &path, &key, None).await.0, 404);
    assert_eq!(
        server
            .github_webhook(
                "ping",
                &json!({"repository": {"full_name": "acme/agent-tools"}}),
                Some(secret)
            )
            .await
            .0,
        404
    );
    let actions = server.audit_actions(&key, "github_integration").await;
    assert_eq!(actions, ["github_integration.delete", "github_integration.create"]);

    // Without a Slack signing secret the Slack endpoint says so.
    let (status, body) = send_press(&server, "payload=%7B%7D", Some("1"), Some("v0=00")).await;
    assert_eq!(status, 400);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("STRATHON_SLACK_SIGNING_SECRET"));
}
