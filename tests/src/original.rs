//! A database of the Python original at revision 032, filled the way months
//! of use fill it: an owner with MFA on, keys of several scopes (one rotated,
//! one revoked, one expired), policies with versions and matches, halts,
//! budgets, approvals, channels, price overrides, an audit chain written by
//! the original's own algorithm (`tests/fixtures/original/audit_chain.py`),
//! and as many spans as a test asks for.
//!
//! The schema is our text from the internals spec
//! (`tests/fixtures/original/schema.sql`), never the original's code.

use std::path::PathBuf;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use uuid::Uuid;

use crate::harness::TestDb;

pub const DEFAULT_PROJECT: Uuid = Uuid::from_u128(1);
pub const RESEARCH_PROJECT: Uuid = Uuid::from_u128(0xb2);

/// The original's three security keys, as its operator set them.
pub const AUDIT_KEY: &str = "9c1f0e3a7b5d4c2e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";
pub const FERNET_KEY: &str = "dGhpcnR5LXR3by1ieXRlLWZlcm5ldC1rZXktZm9yLXQ=";
pub const PEPPER: &str = "original-pepper-6f1d2c";

pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "Tr4ced & trusted!";
pub const OWNER_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const OWNER_RECOVERY_CODE: &str = "0badc0de";
pub const OPERATOR_EMAIL: &str = "operator@example.com";
pub const OPERATOR_PASSWORD: &str = "0perate, don't break";
/// The secret GitHub signs `acme/agent-tools` webhooks with, stored in plain
/// text as the original does.
pub const GITHUB_SECRET: &str = "original-github-secret";
/// The commit that the default project's newest trace ran.
pub const GIT_COMMIT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// A raw key in the original's format: `stra_` and 43 url-safe characters.
pub fn raw_key(name: &str) -> String {
    format!("stra_{:x<43}", name)
}

/// The keys deployed agents and scripts hold: `(name, raw, scopes, state)`.
pub fn keys() -> Vec<(&'static str, String, &'static [&'static str], KeyState)> {
    vec![
        (
            "agent ingest",
            raw_key("agentIngest"),
            &["traces:write", "policies:read", "halts:read"],
            KeyState::Live,
        ),
        ("ops admin", raw_key("opsAdmin"), &["*"], KeyState::Live),
        (
            "dashboard reader",
            raw_key("reader"),
            &["traces:read", "policies:read", "audit:read"],
            KeyState::Live,
        ),
        (
            "sdk default",
            raw_key("sdkDefault"),
            &["traces:write", "policies:read"],
            KeyState::Live,
        ),
        (
            "rotated away",
            raw_key("rotatedAway"),
            &["traces:write", "policies:read", "halts:read"],
            KeyState::InGrace,
        ),
        ("revoked", raw_key("revokedOne"), &["*"], KeyState::Revoked),
        ("expired", raw_key("expiredOne"), &["*"], KeyState::Expired),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyState {
    Live,
    /// Rotated: deprecated, still valid until its expiry three days ahead.
    InGrace,
    Revoked,
    Expired,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

/// The original's password hash: argon2-cffi's PHC string with m=47104, t=1,
/// p=1 over pepper + password (no Argon2 secret).
pub fn original_password_hash(password: &str) -> String {
    let params = Params::new(47_104, 1, 1, Some(32)).expect("the original's parameters");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(&Uuid::new_v4().into_bytes()).expect("16-byte salt");
    argon
        .hash_password(format!("{PEPPER}{password}").as_bytes(), &salt)
        .expect("hashing")
        .to_string()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/original")
}

/// When the fixture's trace data starts and how long it spans.
pub const DAYS_OF_SPANS: i64 = 75;

pub struct Original {
    pub db: TestDb,
    pub spans: i64,
    pub traces: i64,
}

impl Original {
    /// A filled original with `traces` traces of ten spans each.
    pub async fn build(traces: i64) -> Original {
        let db = TestDb::empty().await;
        let sql = db.sql().await;
        let schema = std::fs::read_to_string(fixtures().join("schema.sql")).expect("schema.sql");
        sql.batch_execute(&schema).await.expect("loading the original's schema");
        seed_control_plane(&sql).await;
        seed_audit(&sql).await;
        seed_trace_data(&sql, traces).await;
        Original {
            db,
            spans: traces * 10,
            traces,
        }
    }
}

async fn seed_control_plane(sql: &tokio_postgres::Client) {
    let fernet = fernet::Fernet::new(FERNET_KEY).expect("valid Fernet key");
    let sealed_totp = format!("enc:{}", fernet.encrypt(OWNER_TOTP.as_bytes()));
    let owner = Uuid::from_u128(0x0a11ce);
    let operator = Uuid::from_u128(0x0b0b);
    let github_only = Uuid::from_u128(0x61);
    sql.execute(
        "INSERT INTO projects (id, name, slug, org_id) VALUES ($1, 'Research', 'research', '00000000-0000-0000-0000-0000000000aa')",
        &[&RESEARCH_PROJECT],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO project_settings (project_id, trace_retention_days, pii_redaction_patterns, intervention_default_action) \
         VALUES ($1, 90, '[{\"name\": \"ticket\", \"regex\": \"TCK-[0-9]+\"}]', NULL)",
        &[&RESEARCH_PROJECT],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO users (id, email, display_name, password_hash, totp_secret, mfa_enabled, backup_codes, last_login_at) \
         VALUES ($1, $2, 'Olive Owner', $3, $4, true, ARRAY[$5], now() - interval '2 days')",
        &[
            &owner,
            &OWNER_EMAIL,
            &original_password_hash(OWNER_PASSWORD),
            &sealed_totp,
            &sha256_hex(OWNER_RECOVERY_CODE),
        ],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, 'Oscar Operator', $3)",
        &[&operator, &OPERATOR_EMAIL, &original_password_hash(OPERATOR_PASSWORD)],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO users (id, github_id, github_username, avatar_url) VALUES ($1, 4242, 'octo', 'https://example.com/a.png')",
        &[&github_only],
    )
    .await
    .unwrap();
    for (project, user, role) in [
        (DEFAULT_PROJECT, owner, "owner"),
        (RESEARCH_PROJECT, owner, "owner"),
        (DEFAULT_PROJECT, operator, "operator"),
        (RESEARCH_PROJECT, github_only, "viewer"),
    ] {
        sql.execute(
            "INSERT INTO project_members (project_id, user_id, role, invited_at, accepted_at) VALUES ($1, $2, $3, now(), now())",
            &[&project, &user, &role],
        )
        .await
        .unwrap();
    }
    sql.batch_execute(
        "INSERT INTO pending_invitations (email, project_id, role) VALUES
            ('new.hire@example.com', '00000000-0000-0000-0000-000000000001', 'member'),
            ('auditor@example.com', '00000000-0000-0000-0000-0000000000b2', 'viewer');
         INSERT INTO sessions (id, user_id, token_hash, expires_at, ip_address, user_agent)
            VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000a11ce', repeat('ab', 32), now() + interval '20 hours', '198.51.100.4', 'Mozilla/5.0');",
    )
    .await
    .unwrap();

    let rotated_away = Uuid::from_u128(0xe1 << 96 | 5);
    for (i, (name, raw, scopes, state)) in keys().into_iter().enumerate() {
        let id = Uuid::from_u128(0xe1 << 96 | (i as u128 + 1));
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (deprecated, expires, revoked) = match state {
            KeyState::Live => ("NULL", "NULL", "NULL"),
            KeyState::InGrace => ("now() - interval '1 hour'", "now() + interval '71 hours'", "NULL"),
            KeyState::Revoked => ("NULL", "NULL", "now() - interval '3 days'"),
            KeyState::Expired => ("NULL", "now() - interval '1 day'", "NULL"),
        };
        let project = if i == 2 { RESEARCH_PROJECT } else { DEFAULT_PROJECT };
        sql.execute(
            &format!(
                "INSERT INTO api_keys (id, project_id, name, key_hash, key_prefix, scopes, deprecated_at, expires_at, revoked_at, \
                 last_used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, {deprecated}, {expires}, {revoked}, now() - interval '5 minutes', \
                 now() - interval '40 days')"
            ),
            &[&id, &project, &name, &sha256_hex(&raw), &&raw[..12], &scopes],
        )
        .await
        .unwrap();
    }
    // The rotated key's successor is the "sdk default" key (index 3 → id 4).
    sql.execute(
        "UPDATE api_keys SET rotated_from_id = $1 WHERE id = $2",
        &[&rotated_away, &Uuid::from_u128(0xe1 << 96 | 4)],
    )
    .await
    .unwrap();

    sql.batch_execute(
        r#"
        INSERT INTO policies (id, project_id, name, description, match_expression, action, action_config, applies_to, priority, match_count, last_matched_at, created_at, updated_at)
        VALUES
          ('00000000-0000-0000-0000-00000000f001', '00000000-0000-0000-0000-000000000001', 'block-shell', 'No shell for agents',
           'attrs["gen_ai.tool.name"] == "shell"', 'block', '{"message": "shell is off limits"}', '{tool}', 20, 3, now() - interval '1 day', now() - interval '30 days', now() - interval '10 days'),
          ('00000000-0000-0000-0000-00000000f002', '00000000-0000-0000-0000-000000000001', 'alert-on-spend', NULL,
           'double(attrs["gen_ai.usage.cost"]) > 0.5', 'alert', '{"webhook_url": "https://hooks.example.com/strathon"}', '{}', 5, 2, now() - interval '2 days', now() - interval '20 days', now() - interval '20 days'),
          ('00000000-0000-0000-0000-00000000f003', '00000000-0000-0000-0000-0000000000b2', 'approve-payments', 'Payments need a human',
           'attrs["gen_ai.tool.name"] == "pay"', 'require_approval', '{"timeout_seconds": 600}', '{tool}', 50, 1, now() - interval '3 days', now() - interval '15 days', now() - interval '15 days');
        INSERT INTO policy_versions (policy_id, project_id, version, name, description, match_expression, action, action_config, applies_to, enabled, priority, change_type, changed_at)
        VALUES
          ('00000000-0000-0000-0000-00000000f001', '00000000-0000-0000-0000-000000000001', 1, 'block-shell', NULL, 'attrs["gen_ai.tool.name"] == "sh"', 'block', '{}', '{tool}', true, 10, 'create', now() - interval '30 days'),
          ('00000000-0000-0000-0000-00000000f001', '00000000-0000-0000-0000-000000000001', 2, 'block-shell', 'No shell for agents', 'attrs["gen_ai.tool.name"] == "shell"', 'block', '{"message": "shell is off limits"}', '{tool}', true, 20, 'update', now() - interval '10 days'),
          ('00000000-0000-0000-0000-00000000f002', '00000000-0000-0000-0000-000000000001', 1, 'alert-on-spend', NULL, 'double(attrs["gen_ai.usage.cost"]) > 0.5', 'alert', '{"webhook_url": "https://hooks.example.com/strathon"}', '{}', true, 5, 'create', now() - interval '20 days'),
          ('00000000-0000-0000-0000-00000000f003', '00000000-0000-0000-0000-0000000000b2', 1, 'approve-payments', 'Payments need a human', 'attrs["gen_ai.tool.name"] == "pay"', 'require_approval', '{"timeout_seconds": 600}', '{tool}', true, 50, 'create', now() - interval '15 days');
        INSERT INTO policy_matches (policy_id, project_id, trace_id, span_id, action, action_outcome, matched_at, metadata)
        SELECT p, pr, decode(lpad(to_hex(n), 32, '0'), 'hex'), decode(lpad(to_hex(n), 16, '0'), 'hex'), a, o, now() - n * interval '1 hour', jsonb_build_object('span_name', 'tool.call')
        FROM (VALUES
            ('00000000-0000-0000-0000-00000000f001'::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'block', 'blocked', 1),
            ('00000000-0000-0000-0000-00000000f001'::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'block', 'blocked', 2),
            ('00000000-0000-0000-0000-00000000f001'::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'block', NULL, 3),
            ('00000000-0000-0000-0000-00000000f002'::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'alert', 'alert_queued', 4),
            ('00000000-0000-0000-0000-00000000f002'::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'alert', 'alert_queued', 5),
            ('00000000-0000-0000-0000-00000000f003'::uuid, '00000000-0000-0000-0000-0000000000b2'::uuid, 'require_approval', 'approval_requested', 6)
        ) AS m(p, pr, a, o, n);

        INSERT INTO notification_channels (id, project_id, channel_type, name, config, events)
        VALUES ('00000000-0000-0000-0000-0000000c0001', '00000000-0000-0000-0000-000000000001', 'webhook', 'ops hook',
                '{"url": "https://hooks.example.com/ops"}', '{}'),
               ('00000000-0000-0000-0000-0000000c0002', '00000000-0000-0000-0000-000000000001', 'slack', 'alerts channel',
                '{"webhook_url": "https://hooks.slack.example/T0/B0"}', '{policy_alert,budget_halt}');

        INSERT INTO budgets (id, project_id, name, description, max_spend_usd, spent_usd, max_repeated_calls, loop_window_seconds, scope, scope_value, budget_duration, budget_reset_at, last_evaluated_at)
        VALUES
          ('00000000-0000-0000-0000-0000000b0001', '00000000-0000-0000-0000-000000000001', 'daily spend', 'Whole project, per day', 25.5, 3.141593, NULL, NULL, 'project', NULL, '1d', now() + interval '5 hours', now() - interval '5 seconds'),
          ('00000000-0000-0000-0000-0000000b0002', '00000000-0000-0000-0000-000000000001', 'shell loop', NULL, NULL, 0, 30, 60.5, 'agent', 'research-bot', NULL, NULL, NULL),
          ('00000000-0000-0000-0000-0000000b0003', '00000000-0000-0000-0000-0000000000b2', 'gpt-4o cap', NULL, 100, 0, 500, 10, 'model', 'gpt-4o', '30d', now() + interval '20 days', NULL),
          ('00000000-0000-0000-0000-0000000b0004', '00000000-0000-0000-0000-0000000000b2', 'placeholder', 'never limited anything', NULL, 0, NULL, NULL, 'project', NULL, NULL, NULL, NULL);

        INSERT INTO halt_state (project_id, trace_id, agent_id, budget_id, state, reason, actor, set_at, cleared_at, metadata)
        VALUES
          ('00000000-0000-0000-0000-000000000001', NULL, '*', NULL, 'paused', 'maintenance window', 'user', now() - interval '1 hour', NULL, '{}'),
          ('00000000-0000-0000-0000-000000000001', NULL, 'research-bot', NULL, 'halted', 'runaway loop', 'user', now() - interval '2 hours', NULL, '{}'),
          ('00000000-0000-0000-0000-000000000001', NULL, '*', '00000000-0000-0000-0000-0000000b0001', 'halted', 'Cost budget ''daily spend'' exceeded: spent $26.000000 of $25.500000', 'budget_monitor', now() - interval '3 days', now() - interval '2 days', '{"budget_kind": "cost", "budget_id": "00000000-0000-0000-0000-0000000b0001"}'),
          ('00000000-0000-0000-0000-0000000000b2', NULL, 'pay-agent', NULL, 'halted', 'loop detected', 'loop_detector', now() - interval '4 days', now() - interval '4 days', NULL),
          ('00000000-0000-0000-0000-0000000000b2', '\x0123456789abcdef0123456789abcdef', NULL, NULL, 'halted', 'trace halt from an old SDK', 'policy_engine', now() - interval '9 days', NULL, '{}');

        INSERT INTO approvals (id, project_id, policy_id, trace_id, span_id, span_name, tool_name, tool_args, policy_name, status, requested_at, resolved_at, resolved_by, timeout_seconds, expires_at, current_approvals, approval_decisions, version, agent_name)
        VALUES
          ('00000000-0000-0000-0000-0000000a0001', '00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-00000000f003', '\x00000000000000000000000000000006', '\x0000000000000006', 'tool.call', 'pay', '{"amount": 120}', 'approve-payments', 'approved', now() - interval '3 days', now() - interval '3 days' + interval '40 seconds', 'owner@example.com', 600, now() - interval '3 days' + interval '10 minutes', 1, '[{"actor": "owner@example.com", "decision": "approve", "timestamp": "2026-01-01T00:00:00Z"}]', 2, 'pay-agent'),
          ('00000000-0000-0000-0000-0000000a0002', '00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-00000000f003', '\x00000000000000000000000000000007', '\x0000000000000007', 'tool.call', 'pay', '{"amount": 9}', 'approve-payments', 'pending', now(), NULL, NULL, 600, now() + interval '10 minutes', 0, '[]', 1, 'pay-agent');

        INSERT INTO model_price_overrides (id, project_id, model_name, input_cost_per_token, output_cost_per_token)
        VALUES ('00000000-0000-0000-0000-00000000d001', '00000000-0000-0000-0000-000000000001', 'gpt-4o', 0.0000025, 0.00001);

        -- One repository with its secret in plain text (carries), one whose
        -- secret looks sealed (left out), registered by a user who does not carry.
        INSERT INTO github_integrations (id, project_id, repo_full_name, installation_id, webhook_secret, created_by_user_id, last_event_at)
        VALUES ('00000000-0000-0000-0000-00000000e001', '00000000-0000-0000-0000-000000000001', 'acme/agent-tools', 42,
                'original-github-secret', '00000000-0000-0000-0000-000000000061', now() - interval '1 day'),
               ('00000000-0000-0000-0000-00000000e002', '00000000-0000-0000-0000-000000000001', 'acme/odd-secret', NULL,
                'enc:not-really-sealed', '00000000-0000-0000-0000-0000000a11ce', NULL);
        INSERT INTO git_commits (id, project_id, integration_id, commit_sha, repo_full_name, commit_message, author_name, author_email, committed_at, branch, pr_number)
        VALUES ('00000000-0000-0000-0000-00000000e101', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000e001',
                'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00', 'acme/agent-tools', 'Refunds need an approval', 'Ada', 'ada@example.com',
                now() - interval '3 days', 'main', 12),
               ('00000000-0000-0000-0000-00000000e102', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000e002',
                'badc0de0badc0de0badc0de0badc0de0badc0de0', 'acme/odd-secret', 'Odd one', 'Bob', NULL, NULL, NULL, NULL);

        INSERT INTO webhook_signing_keys (id, project_id, prefix, secret_hash)
        VALUES ('00000000-0000-0000-0000-00000000c5c5', '00000000-0000-0000-0000-000000000001', 'abcd', '\x00');
        "#,
    )
    .await
    .expect("seeding the control plane");
}

/// The chain the original wrote: canonical JSON, HMAC and anchors computed
/// by the original's algorithm in Python.
async fn seed_audit(sql: &tokio_postgres::Client) {
    let start = chrono::Utc::now().timestamp() - 60 * 86_400;
    let out = std::process::Command::new("python3")
        .arg(fixtures().join("audit_chain.py"))
        .args(["--key", AUDIT_KEY])
        .args(["--projects", &format!("{DEFAULT_PROJECT},{RESEARCH_PROJECT}")])
        .args(["--start", &start.to_string()])
        .output()
        .expect("running python3 tests/fixtures/original/audit_chain.py");
    assert!(
        out.status.success(),
        "audit_chain.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sql.batch_execute(&String::from_utf8(out.stdout).expect("SQL text"))
        .await
        .expect("writing the original's audit chain");
}

/// `traces` traces of ten spans (one root, nine children with tools, models
/// and cost), spread over the last `DAYS_OF_SPANS` days.
async fn seed_trace_data(sql: &tokio_postgres::Client, traces: i64) {
    let now = chrono::Utc::now();
    let first = now - chrono::Duration::days(DAYS_OF_SPANS);
    let mut month = strathon_schema::partitions::Month::of(first);
    while month <= strathon_schema::partitions::Month::of(now) {
        sql.execute(
            "SELECT original_span_month($1, $2)",
            &[&month.year, &(month.month as i32)],
        )
        .await
        .unwrap();
        month = month.plus(1);
    }
    let base = first.timestamp_nanos_opt().unwrap_or_default();
    let step = DAYS_OF_SPANS * 86_400 * 1_000_000_000 / traces.max(1);
    sql.execute(
        "INSERT INTO traces (id, project_id, start_time_unix_nano, end_time_unix_nano, agent_name, workflow_name, conversation_id,
                             span_count, intervention_state, metadata, total_cost_usd, total_input_tokens)
         SELECT decode(lpad(to_hex(t), 32, '0'), 'hex'),
                CASE WHEN t % 4 = 0 THEN '00000000-0000-0000-0000-0000000000b2'::uuid ELSE '00000000-0000-0000-0000-000000000001'::uuid END,
                $1 + t * $2, $1 + t * $2 + 9000000000, 'agent-' || (t % 7), 'support-flow', 'conv-' || (t % 100),
                10, CASE WHEN t % 50 = 0 THEN 'halted' ELSE 'completed' END, '{}', 0, NULL
         FROM generate_series(1, $3::bigint) AS t",
        &[&base, &step, &traces],
    )
    .await
    .expect("traces");
    sql.execute(
        "UPDATE traces SET git_commit_sha = $1 WHERE id = (SELECT id FROM traces WHERE project_id = $2 \
         ORDER BY start_time_unix_nano DESC LIMIT 1)",
        &[&GIT_COMMIT, &DEFAULT_PROJECT],
    )
    .await
    .expect("a trace that ran a commit");
    sql.execute(
        "INSERT INTO spans (start_time_unix_nano, trace_id, span_id, parent_span_id, project_id, name, kind, end_time_unix_nano,
                            status_code, operation_name, provider_name, request_model, response_model, agent_name, agent_id,
                            tool_name, workflow_name, conversation_id, input_tokens, output_tokens, cost_usd, intervention_state,
                            reasoning_tokens, attributes)
         SELECT $1 + t * $2 + k::bigint * 700000000,
                decode(lpad(to_hex(t), 32, '0'), 'hex'),
                decode(lpad(to_hex(t * 16 + k), 16, '0'), 'hex'),
                CASE WHEN k = 0 THEN NULL ELSE decode(lpad(to_hex(t * 16), 16, '0'), 'hex') END,
                CASE WHEN t % 4 = 0 THEN '00000000-0000-0000-0000-0000000000b2'::uuid ELSE '00000000-0000-0000-0000-000000000001'::uuid END,
                CASE WHEN k = 0 THEN 'invoke_agent' WHEN k % 3 = 0 THEN 'execute_tool' ELSE 'chat' END,
                CASE WHEN k = 0 THEN 'SERVER' ELSE 'CLIENT' END,
                $1 + t * $2 + k::bigint * 700000000 + 650000000,
                CASE WHEN t % 97 = 0 AND k = 9 THEN 'ERROR' ELSE 'OK' END,
                CASE WHEN k % 3 = 0 THEN 'execute_tool' ELSE 'chat' END,
                'openai', 'gpt-4o', 'gpt-4o-2024-08-06', 'agent-' || (t % 7), 'agent-' || (t % 7) || '-id',
                CASE WHEN k % 3 = 0 AND k > 0 THEN (ARRAY['search', 'shell', 'pay'])[1 + t % 3] END,
                'support-flow', 'conv-' || (t % 100), 120 + k, 40 + t % 13, round((0.0001 * k + 0.000001 * (t % 1000))::numeric, 6),
                CASE WHEN t % 50 = 0 AND k = 9 THEN 'halted' END,
                CASE WHEN k = 1 THEN 7 END,
                jsonb_build_object('gen_ai.system', 'openai', 'strathon.agent.name', 'agent-' || (t % 7), 'seq', k,
                                   'gen_ai.prompt', 'Résumé of ticket TCK-' || t)
         FROM generate_series(1, $3::bigint) AS t, generate_series(0, 9) AS k",
        &[&base, &step, &traces],
    )
    .await
    .expect("spans");
    sql.batch_execute("ANALYZE").await.unwrap();
}
