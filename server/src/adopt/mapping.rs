//! What carries from the original's schema (revision 032, internals §1) to
//! ours, as data: for every target column the source expression that fills
//! it, the rows that cannot carry and why, the columns and tables left behind
//! and why. The copy engine, the dry run and `adopt verify` all read this one
//! table, so what is copied is exactly what is counted and compared.
//!
//! Source expressions are SQL over the source row, aliased `s`. The engine
//! casts each to the target column's type as the target's catalog states it,
//! so a widened column (`numeric(12,6)` to `numeric(24,8)`) copies in binary
//! and checksums identically on both sides.

/// One target table filled from one source relation.
#[derive(Debug)]
pub struct Table {
    pub source: &'static str,
    pub target: &'static str,
    /// `(target column, source expression)`. Target columns not listed take
    /// their defaults.
    pub columns: &'static [(&'static str, &'static str)],
    /// A row carries when every condition holds; the others are counted
    /// under the condition's reason.
    pub filters: &'static [(&'static str, &'static str)],
    /// Source columns with no place in our schema, and why.
    pub dropped: &'static [(&'static str, &'static str)],
    /// Rows that carry changed: `(condition, what happens to them)`.
    pub changes: &'static [(&'static str, &'static str)],
    /// Our triggers that turn an insert into a notification (webhook
    /// deliveries). History must not page anyone, so they are off while it
    /// is copied, inside the copy's transaction.
    pub quiet_triggers: &'static [&'static str],
    /// A serial column whose sequence must continue after the copied ids.
    pub serial: Option<&'static str>,
}

/// A source table that does not carry at all, and why.
#[derive(Debug)]
pub struct Left {
    pub source: &'static str,
    pub reason: &'static str,
}

const NO_EMAIL: &str =
    "users without an email (GitHub sign-in only) do not carry: this receiver signs in by email and password";
const MEMBER_WITHOUT_EMAIL: &str = "the user has no email and does not carry";

/// Our tag for a password hash in the original's scheme (Argon2id over
/// pepper‖password, no secret input). `accounts::password::verify` checks
/// such a hash the original's way and replaces it with ours at the next
/// sign-in, the one moment the password is known.
pub const LEGACY_PASSWORD_TAG: &str = "prepended-pepper:";

/// The control plane, in foreign-key order: copied in one transaction.
pub static CONTROL_PLANE: &[Table] = &[
    Table {
        source: "organizations",
        target: "organizations",
        columns: &[
            ("id", "s.id"),
            ("name", "s.name"),
            ("slug", "s.slug"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
            ("deleted_at", "s.deleted_at"),
        ],
        filters: &[],
        dropped: &[
            ("cloud_plan", "cloud billing is not part of the self-hosted receiver"),
            ("cloud_billing_cycle_anchor", "cloud billing is not part of the self-hosted receiver"),
            ("cloud_current_cycle_usage", "cloud billing is not part of the self-hosted receiver"),
            ("cloud_config", "cloud billing is not part of the self-hosted receiver"),
        ],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "projects",
        target: "projects",
        columns: &[
            ("id", "s.id"),
            ("org_id", "s.org_id"),
            ("name", "s.name"),
            ("slug", "s.slug"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
            ("deleted_at", "s.deleted_at"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "project_settings",
        target: "project_settings",
        columns: &[
            ("project_id", "s.project_id"),
            ("intervention_default_action", "coalesce(s.intervention_default_action, 'allow')"),
            ("trace_retention_days", "least(greatest(s.trace_retention_days, 0), 3650)"),
            ("pii_redaction_enabled", "s.pii_redaction_enabled"),
            ("pii_redaction_patterns", "coalesce(s.pii_redaction_patterns, '[]')"),
            ("pii_redaction_strategy", "s.pii_redaction_strategy"),
            ("pii_redaction_key_actions", "s.pii_redaction_key_actions"),
            ("pii_attribute_allowlist", "s.pii_attribute_allowlist"),
            ("content_capture_enabled", "s.content_capture_enabled"),
            ("updated_at", "s.updated_at"),
        ],
        filters: &[],
        dropped: &[(
            "updated_by_user_id",
            "the audit log records who changed settings; this receiver keeps no copy on the row",
        )],
        changes: &[(
            "s.trace_retention_days NOT BETWEEN 0 AND 3650",
            "retention outside 0..3650 days is clamped into that range",
        )],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "users",
        target: "users",
        columns: &[
            ("id", "s.id"),
            ("email", "s.email"),
            ("display_name", "s.display_name"),
            (
                "password_hash",
                "CASE WHEN s.password_hash IS NULL THEN NULL ELSE 'prepended-pepper:' || s.password_hash END",
            ),
            ("is_active", "s.is_active"),
            ("force_password_change", "s.force_password_change"),
            ("failed_login_attempts", "s.failed_login_attempts"),
            ("locked_until", "s.locked_until"),
            ("created_at", "s.created_at"),
            ("last_login_at", "s.last_login_at"),
            ("totp_secret", "s.totp_secret"),
            ("mfa_enabled", "s.mfa_enabled"),
            ("backup_codes", "coalesce(s.backup_codes, '{}')"),
        ],
        filters: &[("s.email IS NOT NULL", NO_EMAIL)],
        dropped: &[
            ("github_id", "GitHub sign-in is not part of this receiver"),
            ("github_username", "GitHub sign-in is not part of this receiver"),
            ("avatar_url", "GitHub sign-in is not part of this receiver"),
        ],
        changes: &[(
            "s.password_hash IS NOT NULL",
            "the password hash is kept as is, tagged with the original's scheme; it is rehashed at the user's next sign-in",
        )],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "project_members",
        target: "project_members",
        columns: &[
            ("project_id", "s.project_id"),
            ("user_id", "s.user_id"),
            ("role", "s.role"),
            ("created_at", "s.created_at"),
        ],
        filters: &[("s.user_id IN (SELECT u.id FROM users u WHERE u.email IS NOT NULL)", MEMBER_WITHOUT_EMAIL)],
        dropped: &[
            ("invited_at", "invitation history lives in the audit log"),
            ("accepted_at", "invitation history lives in the audit log"),
            ("invited_by", "invitation history lives in the audit log"),
        ],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "pending_invitations",
        target: "pending_invitations",
        columns: &[
            ("id", "s.id"),
            ("email", "s.email"),
            ("project_id", "s.project_id"),
            ("role", "CASE s.role WHEN 'member' THEN 'operator' ELSE s.role END"),
            ("created_at", "s.created_at"),
        ],
        filters: &[(
            "s.role IN ('member', 'admin', 'operator', 'viewer')",
            "an invitation to a role other than admin, operator or viewer cannot be redeemed here",
        )],
        dropped: &[],
        changes: &[(
            "s.role = 'member'",
            "the legacy role 'member' becomes 'operator', as the original does when redeeming",
        )],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "pending_ownership_transfers",
        target: "ownership_transfers",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("from_user_id", "s.from_user_id"),
            ("to_user_id", "s.to_user_id"),
            ("created_at", "s.created_at"),
        ],
        filters: &[
            ("s.from_user_id IN (SELECT u.id FROM users u WHERE u.email IS NOT NULL)", MEMBER_WITHOUT_EMAIL),
            ("s.to_user_id IN (SELECT u.id FROM users u WHERE u.email IS NOT NULL)", MEMBER_WITHOUT_EMAIL),
        ],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "api_keys",
        target: "api_keys",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("name", "s.name"),
            ("key_hash", "s.key_hash"),
            ("key_prefix", "s.key_prefix"),
            ("scopes", "s.scopes"),
            ("created_at", "s.created_at"),
            ("last_used_at", "s.last_used_at"),
            ("revoked_at", "s.revoked_at"),
            ("deprecated_at", "s.deprecated_at"),
            ("expires_at", "s.expires_at"),
            ("rotated_from_id", "s.rotated_from_id"),
            ("allowed_ips", "s.allowed_ips"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "policies",
        target: "policies",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("name", "s.name"),
            ("description", "s.description"),
            ("match_expression", "s.match_expression"),
            ("action", "s.action"),
            ("action_config", "s.action_config"),
            ("applies_to", "s.applies_to"),
            ("enabled", "s.enabled"),
            ("priority", "s.priority"),
            ("shadow", "s.shadow"),
            ("match_count", "s.match_count"),
            ("last_matched_at", "s.last_matched_at"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "policy_versions",
        target: "policy_versions",
        columns: &[
            ("id", "s.id"),
            ("policy_id", "s.policy_id"),
            ("project_id", "s.project_id"),
            ("version", "s.version"),
            ("name", "s.name"),
            ("description", "s.description"),
            ("match_expression", "s.match_expression"),
            ("action", "s.action"),
            ("action_config", "s.action_config"),
            ("applies_to", "s.applies_to"),
            ("enabled", "s.enabled"),
            ("priority", "s.priority"),
            ("change_type", "s.change_type"),
            ("changed_at", "s.changed_at"),
        ],
        filters: &[(
            "s.change_type IN ('create', 'update')",
            "a 'delete' version belongs to a deleted policy; the audit log keeps the deletion",
        )],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: Some("id"),
    },
    Table {
        source: "policy_matches",
        target: "policy_matches",
        columns: &[
            ("id", "s.id"),
            ("policy_id", "s.policy_id"),
            ("project_id", "s.project_id"),
            ("trace_id", "s.trace_id"),
            ("span_id", "s.span_id"),
            ("action", "s.action"),
            ("action_outcome", "coalesce(s.action_outcome, 'recorded')"),
            ("matched_at", "s.matched_at"),
            ("metadata", "s.metadata"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[("s.action_outcome IS NULL", "a missing outcome is recorded as 'recorded'")],
        quiet_triggers: &["webhook_on_alert_match"],
        serial: Some("id"),
    },
    Table {
        source: "budgets",
        target: "budgets",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("name", "s.name"),
            ("description", "s.description"),
            ("scope", "s.scope"),
            ("scope_value", "s.scope_value"),
            ("max_spend_usd", "s.max_spend_usd"),
            ("spent_usd", "s.spent_usd"),
            ("soft_limit_ratio", "s.soft_limit_ratio"),
            (
                "max_repeated_calls",
                "CASE WHEN s.max_spend_usd IS NULL THEN s.max_repeated_calls END",
            ),
            ("loop_window_seconds", "s.loop_window_seconds"),
            ("budget_duration", "s.budget_duration"),
            // The original's cost windows are fixed: reset_at advanced by
            // whole durations, which is our `fixed`.
            ("window_type", "'fixed'"),
            ("budget_reset_at", "s.budget_reset_at"),
            ("last_evaluated_at", "s.last_evaluated_at"),
            ("is_active", "s.is_active"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
        ],
        filters: &[(
            "s.max_spend_usd IS NOT NULL OR s.max_repeated_calls IS NOT NULL",
            "a budget with neither a spend nor a call limit never halts anything",
        )],
        dropped: &[
            ("parent_budget_id", "unused by the original (never read)"),
            ("expires_at", "unused by the original (never read)"),
        ],
        changes: &[(
            "s.max_spend_usd IS NOT NULL AND s.max_repeated_calls IS NOT NULL",
            "a budget with both limits keeps its spend limit; recreate the call limit as a second budget",
        )],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "halt_state",
        target: "halts",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("scope", "CASE WHEN s.agent_id = '*' THEN 'project' ELSE 'agent' END"),
            ("scope_value", "NULLIF(s.agent_id, '*')"),
            ("state", "s.state"),
            ("reason", "s.reason"),
            (
                "actor",
                "CASE WHEN s.actor IN ('user', 'budget_monitor', 'system') THEN s.actor ELSE 'system' END",
            ),
            ("budget_id", "s.budget_id"),
            (
                "metadata",
                "CASE WHEN s.actor IN ('user', 'budget_monitor', 'system') THEN coalesce(s.metadata, '{}') \
                 ELSE coalesce(s.metadata, '{}') || jsonb_build_object('original_actor', s.actor) END",
            ),
            ("set_at", "s.set_at"),
            ("cleared_at", "s.cleared_at"),
        ],
        filters: &[
            (
                "s.agent_id IS NOT NULL AND s.agent_id <> ''",
                "a halt scoped to a trace or a budget without an agent: SDKs only ever obeyed project and agent halts",
            ),
            (
                "s.state IN ('paused', 'halted')",
                "a 'resumed' or 'cleared' record: the original clears a halt by setting cleared_at on it",
            ),
        ],
        dropped: &[
            ("trace_id", "our halts are scoped to a project or an agent"),
            ("cleared_by_user_id", "the audit log records who cleared a halt"),
        ],
        changes: &[
            (
                "s.agent_id = '*'",
                "the original's project halt (agent '*') becomes scope 'project'",
            ),
            (
                "s.actor NOT IN ('user', 'budget_monitor', 'system')",
                "actor becomes 'system'; metadata.original_actor keeps the original's",
            ),
        ],
        quiet_triggers: &["webhook_on_halt_created"],
        serial: Some("id"),
    },
    Table {
        source: "approvals",
        target: "approvals",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("policy_id", "s.policy_id"),
            ("trace_id", "s.trace_id"),
            ("span_id", "s.span_id"),
            ("span_name", "s.span_name"),
            ("agent_name", "s.agent_name"),
            ("tool_name", "s.tool_name"),
            ("tool_args", "s.tool_args"),
            ("policy_name", "s.policy_name"),
            ("status", "s.status"),
            ("requested_at", "s.requested_at"),
            ("resolved_at", "s.resolved_at"),
            ("resolved_by", "s.resolved_by"),
            ("timeout_seconds", "s.timeout_seconds"),
            ("expires_at", "s.expires_at"),
            ("approvers_required", "s.approvers_required"),
            ("current_approvals", "s.current_approvals"),
            ("approval_decisions", "s.approval_decisions::jsonb"),
        ],
        filters: &[],
        dropped: &[(
            "version",
            "the original's optimistic-lock counter; this receiver locks the row instead",
        )],
        changes: &[],
        quiet_triggers: &["webhook_on_approval_request"],
        serial: None,
    },
    Table {
        source: "notification_channels",
        target: "notification_channels",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("channel_type", "s.channel_type"),
            ("name", "s.name"),
            ("config", "s.config"),
            ("events", "s.events"),
            ("enabled", "s.enabled"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    // The original keeps each repository's webhook secret in plain text,
    // which our `sealed::open` reads as it is; the receiver seals it at the
    // first webhook that verifies with it (the copy decodes no row).
    Table {
        source: "github_integrations",
        target: "github_integrations",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("repo_full_name", "s.repo_full_name"),
            ("installation_id", "s.installation_id"),
            ("webhook_secret_sealed", "s.webhook_secret"),
            (
                "created_by_user_id",
                "(SELECT u.id FROM users u WHERE u.id = s.created_by_user_id AND u.email IS NOT NULL)",
            ),
            ("created_at", "s.created_at"),
            ("last_event_at", "s.last_event_at"),
        ],
        filters: &[(
            "s.webhook_secret NOT LIKE 'enc:%'",
            "a webhook secret beginning with 'enc:' would read as a sealed one here: register the repository again",
        )],
        dropped: &[],
        changes: &[(
            "s.created_by_user_id IN (SELECT u.id FROM users u WHERE u.email IS NULL)",
            "registered by a user without an email, who does not carry: the registrant is left empty",
        )],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "git_commits",
        target: "git_commits",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            (
                "integration_id",
                "(SELECT g.id FROM github_integrations g WHERE g.id = s.integration_id AND g.webhook_secret NOT LIKE 'enc:%')",
            ),
            ("commit_sha", "s.commit_sha"),
            ("repo_full_name", "s.repo_full_name"),
            ("commit_message", "s.commit_message"),
            ("author_name", "s.author_name"),
            ("author_email", "s.author_email"),
            ("committed_at", "s.committed_at"),
            ("branch", "s.branch"),
            ("pr_number", "s.pr_number"),
            ("fetched_at", "s.fetched_at"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    Table {
        source: "model_price_overrides",
        target: "model_price_overrides",
        columns: &[
            ("id", "s.id"),
            ("project_id", "s.project_id"),
            ("model_name", "s.model_name"),
            ("input_cost_per_token", "s.input_cost_per_token"),
            ("output_cost_per_token", "s.output_cost_per_token"),
            ("created_at", "s.created_at"),
            ("updated_at", "s.updated_at"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    // Audit rows carry verbatim: every hashed field, prev_hash, row_hash and
    // hmac_key_id, so each row's HMAC and each link still verify.
    Table {
        source: "audit.events",
        target: "audit.events",
        columns: &[
            ("id", "s.id"),
            ("sequence_no", "s.sequence_no"),
            ("occurred_at", "s.occurred_at"),
            ("ingested_at", "s.ingested_at"),
            ("project_id", "s.project_id"),
            ("actor_type", "s.actor_type"),
            ("actor_id", "s.actor_id"),
            ("actor_display", "s.actor_display"),
            ("on_behalf_of", "s.on_behalf_of"),
            ("action", "s.action"),
            ("action_category", "s.action_category"),
            ("outcome", "s.outcome"),
            ("reason", "s.reason"),
            ("resource_type", "s.resource_type"),
            ("resource_id", "s.resource_id"),
            ("resource_parent", "s.resource_parent"),
            ("cascade_root_id", "s.cascade_root_id"),
            ("request_id", "s.request_id"),
            // The hash covers the address as Python prints it: host(), not
            // inet's text (which appends /32).
            ("source_ip", "host(s.source_ip)"),
            ("user_agent", "s.user_agent"),
            ("api_key_id", "s.api_key_id"),
            ("auth_method", "s.auth_method"),
            ("before_state", "s.before_state"),
            ("after_state", "s.after_state"),
            ("diff", "s.diff"),
            ("pii_classes", "s.pii_classes"),
            ("schema_version", "s.schema_version"),
            ("prev_hash", "s.prev_hash"),
            ("row_hash", "s.row_hash"),
            ("hmac_key_id", "s.hmac_key_id"),
        ],
        filters: &[],
        dropped: &[],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
    // The original seals "events since the last anchor"; ours records the
    // first sequence an anchor covers, which is the first event after the
    // previous anchor's last.
    Table {
        source: "audit.anchors",
        target: "audit.anchors",
        columns: &[
            ("anchor_at", "s.anchor_at"),
            ("last_sequence", "s.last_sequence"),
            ("last_row_hash", "s.last_row_hash"),
            ("merkle_root", "s.merkle_root"),
            ("event_count", "s.event_count"),
            (
                "first_sequence",
                "coalesce((SELECT min(e.sequence_no) FROM audit.events e \
                 WHERE e.sequence_no <= s.last_sequence AND e.sequence_no > coalesce((SELECT max(p.last_sequence) \
                 FROM audit.anchors p WHERE p.anchor_at < s.anchor_at), 0)), s.last_sequence)",
            ),
        ],
        filters: &[],
        dropped: &[
            ("signature", "always NULL in the original"),
            ("signing_key_id", "always NULL in the original"),
        ],
        changes: &[],
        quiet_triggers: &[],
        serial: None,
    },
];

/// Trace data, copied in resumable chunks after the control plane: traces
/// first (spans reference them), then spans.
pub static TRACES: Table = Table {
    source: "traces",
    target: "traces",
    columns: &[
        ("project_id", "s.project_id"),
        ("id", "s.id"),
        ("start_time_unix_nano", "s.start_time_unix_nano"),
        ("end_time_unix_nano", "s.end_time_unix_nano"),
        ("agent_name", "s.agent_name"),
        ("workflow_name", "s.workflow_name"),
        ("total_cost_usd", "s.total_cost_usd"),
        ("total_input_tokens", "coalesce(s.total_input_tokens, 0)"),
        ("total_output_tokens", "coalesce(s.total_output_tokens, 0)"),
        ("span_count", "coalesce(s.span_count, 0)"),
        ("intervention_state", "coalesce(s.intervention_state, 'running')"),
        ("created_at", "s.created_at"),
        ("git_commit_sha", "s.git_commit_sha"),
    ],
    filters: &[],
    dropped: &[
        ("root_span_id", "never maintained by the original's ingest"),
        ("conversation_id", "kept on every span, where the API reads it"),
        ("halt_reason", "halts carry their own reason"),
        ("metadata", "never written by the original's ingest"),
    ],
    changes: &[],
    quiet_triggers: &[],
    serial: None,
};

pub static SPANS: Table = Table {
    source: "spans",
    target: "spans",
    columns: &[
        ("project_id", "s.project_id"),
        ("start_time_unix_nano", "s.start_time_unix_nano"),
        ("trace_id", "s.trace_id"),
        ("span_id", "s.span_id"),
        ("parent_span_id", "s.parent_span_id"),
        ("name", "s.name"),
        ("kind", "s.kind"),
        ("end_time_unix_nano", "s.end_time_unix_nano"),
        ("status_code", "s.status_code"),
        ("status_message", "s.status_message"),
        ("operation_name", "s.operation_name"),
        ("provider_name", "s.provider_name"),
        ("request_model", "s.request_model"),
        ("response_model", "s.response_model"),
        ("agent_name", "s.agent_name"),
        ("agent_id", "s.agent_id"),
        ("tool_name", "s.tool_name"),
        ("workflow_name", "s.workflow_name"),
        ("conversation_id", "s.conversation_id"),
        ("input_tokens", "s.input_tokens"),
        ("output_tokens", "s.output_tokens"),
        ("cost_usd", "s.cost_usd"),
        ("intervention_state", "s.intervention_state"),
        ("attributes", "s.attributes"),
    ],
    filters: &[],
    dropped: &[
        ("reasoning_tokens", "never written by the original's ingest"),
        ("cache_read_tokens", "never written by the original's ingest"),
        ("cache_creation_tokens", "never written by the original's ingest"),
        ("agent_depth", "never written by the original's ingest"),
        ("spawn_parent_agent_id", "never written by the original's ingest"),
        ("spawn_reason", "never written by the original's ingest"),
        ("cost_cumulative_usd", "never written by the original's ingest"),
        ("tokens_subtree_input", "never written by the original's ingest"),
        ("tokens_subtree_output", "never written by the original's ingest"),
        ("cost_subtree_usd", "never written by the original's ingest"),
        ("halt_reason", "never written by the original's ingest"),
    ],
    changes: &[],
    quiet_triggers: &[],
    serial: None,
};

/// Tables of the original that do not carry.
pub static LEFT_BEHIND: &[Left] = &[
    Left {
        source: "sessions",
        reason: "every user signs in again: a session lasts a day at most, and the original's \
                 five-minute MFA challenges are stored as ordinary sessions that would carry as full ones",
    },
    Left {
        source: "password_reset_tokens",
        reason: "one-hour tokens; a user who needs one asks again",
    },
    Left {
        source: "webhook_signing_keys",
        reason: "the original keeps only a hash of each signing secret, and signing needs the secret: \
                 create new signing keys and give receivers the new secret",
    },
    Left {
        source: "webhook_deliveries",
        reason: "delivery history of the original, which never sent them (no worker runs); \
                 copying pending rows would send months-old alerts",
    },
    Left {
        source: "intervention_log",
        reason: "never written by the original",
    },
    Left {
        source: "span_events",
        reason: "never written by the original's ingest",
    },
    Left {
        source: "span_links",
        reason: "never written by the original's ingest",
    },
    Left {
        source: "audit.streams",
        reason: "stored but never delivered by the original: carried, they would start sending the audit log to \
                 endpoints that never received from it, signed by keys they do not know (signing keys do not carry); \
                 create each stream again once its endpoint is ready",
    },
];

/// Every table of the original at revision 032 (internals §1), to prove the
/// mapping forgets none.
pub const ORIGINAL_TABLES: [&str; 31] = [
    "organizations",
    "projects",
    "users",
    "project_members",
    "sessions",
    "password_reset_tokens",
    "pending_invitations",
    "pending_ownership_transfers",
    "api_keys",
    "project_settings",
    "policies",
    "policy_matches",
    "policy_versions",
    "budgets",
    "halt_state",
    "intervention_log",
    "model_price_overrides",
    "approvals",
    "notification_channels",
    "webhook_signing_keys",
    "webhook_deliveries",
    "github_integrations",
    "git_commits",
    "traces",
    "spans",
    "span_events",
    "span_links",
    "audit.events",
    "audit.anchors",
    "audit.streams",
    "alembic_version",
];

/// One target column: its name and the type our catalog gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetColumn {
    pub name: String,
    pub ty: String,
}

impl Table {
    /// The SQL condition a source row must meet to carry.
    pub fn carried_filter(&self) -> String {
        if self.filters.is_empty() {
            "true".into()
        } else {
            self.filters
                .iter()
                .map(|(c, _)| format!("coalesce(({c}), false)"))
                .collect::<Vec<_>>()
                .join(" AND ")
        }
    }

    /// The source SELECT producing target rows, each expression cast to its
    /// target type; `range` restricts `start_time_unix_nano` to `[lo, hi)`.
    pub fn select(&self, types: &[TargetColumn], range: Option<(i64, i64)>) -> String {
        let exprs: Vec<String> = self
            .columns
            .iter()
            .map(|(col, expr)| format!("CAST(({expr}) AS {}) AS {col}", type_of(types, col)))
            .collect();
        format!(
            "SELECT {} FROM {} AS s WHERE {}{}",
            exprs.join(", "),
            self.source,
            self.carried_filter(),
            range_clause("s.", range)
        )
    }

    /// Spans count into the receiver's hourly rollups (the overview,
    /// agents, costs and topology read those), so adopted history shows.
    pub fn rolls_up(&self) -> bool {
        self.target == "spans"
    }

    pub fn target_columns(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// `(rows, checksum)` of the rows that carry, as they will look in the
    /// target. The checksum is a sum of per-row hashes: independent of
    /// order, so both sides compute it in one pass without sorting.
    pub fn source_checksum(&self, types: &[TargetColumn], range: Option<(i64, i64)>) -> String {
        let inner = self.select(types, range);
        format!("SELECT count(*), {} FROM ({inner}) AS t", CHECKSUM)
    }

    pub fn target_checksum(&self, range: Option<(i64, i64)>) -> String {
        format!(
            "SELECT count(*), {} FROM (SELECT {} FROM {} AS s WHERE true{}) AS t",
            CHECKSUM,
            self.target_columns(),
            self.target,
            range_clause("s.", range)
        )
    }

    /// One pass over the source counting all rows, the rows that carry, rows
    /// left out (per filter), rows changed (per change) and values in
    /// dropped columns.
    pub fn census(&self) -> String {
        let mut parts = vec![
            "count(*)".to_owned(),
            format!("count(*) FILTER (WHERE {})", self.carried_filter()),
        ];
        for (cond, _) in self.filters {
            parts.push(format!("count(*) FILTER (WHERE NOT coalesce(({cond}), false))"));
        }
        for (cond, _) in self.changes {
            parts.push(format!(
                "count(*) FILTER (WHERE coalesce(({cond}), false) AND {})",
                self.carried_filter()
            ));
        }
        for (col, _) in self.dropped {
            parts.push(format!("count(s.{col})"));
        }
        format!("SELECT {} FROM {} AS s", parts.join(", "), self.source)
    }
}

const CHECKSUM: &str = "coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint), 0)::text";

fn range_clause(alias: &str, range: Option<(i64, i64)>) -> String {
    match range {
        Some((lo, hi)) => format!(" AND {alias}start_time_unix_nano >= {lo} AND {alias}start_time_unix_nano < {hi}"),
        None => String::new(),
    }
}

fn type_of<'a>(types: &'a [TargetColumn], col: &str) -> &'a str {
    types
        .iter()
        .find(|t| t.name == col)
        .map(|t| t.ty.as_str())
        // A column the mapping names but our schema lacks is caught by
        // `missing_columns` before any SQL runs; `text` only keeps this total.
        .unwrap_or("text")
}

/// Mapped columns the target does not have (a mapping out of step with
/// our migrations).
pub fn missing_columns(table: &Table, types: &[TargetColumn]) -> Vec<&'static str> {
    table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !types.iter().any(|t| t.name == *c))
        .collect()
}

/// Every table the adopt reads, in the order it writes them.
pub fn all_tables() -> impl Iterator<Item = &'static Table> {
    CONTROL_PLANE.iter().chain([&TRACES, &SPANS])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(table: &Table) -> Vec<TargetColumn> {
        table
            .columns
            .iter()
            .map(|(c, _)| TargetColumn {
                name: (*c).to_owned(),
                ty: "text".into(),
            })
            .collect()
    }

    #[test]
    fn every_original_table_is_carried_or_explained() {
        for name in ORIGINAL_TABLES {
            let carried = all_tables().any(|t| t.source == name);
            let left = LEFT_BEHIND.iter().any(|l| l.source == name);
            assert!(
                carried ^ left || name == "alembic_version",
                "{name}: carried={carried}, left={left}"
            );
        }
        for t in all_tables() {
            assert!(
                ORIGINAL_TABLES.contains(&t.source),
                "{} is not an original table",
                t.source
            );
        }
    }

    #[test]
    fn target_columns_are_listed_once() {
        for t in all_tables() {
            let mut names: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{} maps a column twice", t.target);
        }
    }

    #[test]
    fn the_legacy_tag_in_the_users_mapping_is_the_one_verify_reads() {
        let users = CONTROL_PLANE.iter().find(|t| t.target == "users").unwrap();
        let (_, expr) = users.columns.iter().find(|(c, _)| *c == "password_hash").unwrap();
        assert!(expr.contains(&format!("'{LEGACY_PASSWORD_TAG}'")));
    }

    #[test]
    fn selects_cast_to_target_types_and_honour_filters_and_ranges() {
        let halts = CONTROL_PLANE.iter().find(|t| t.target == "halts").unwrap();
        let mut cols = types(halts);
        cols[0].ty = "bigint".into();
        let sql = halts.select(&cols, None);
        assert!(sql.starts_with("SELECT CAST((s.id) AS bigint) AS id, "), "{sql}");
        assert!(sql.contains("FROM halt_state AS s WHERE coalesce((s.agent_id IS NOT NULL"));
        assert!(sql.contains(") AND coalesce((s.state IN ('paused', 'halted')), false)"));
        let spans = SPANS.select(&types(&SPANS), Some((10, 20)));
        assert!(
            spans.ends_with("WHERE true AND s.start_time_unix_nano >= 10 AND s.start_time_unix_nano < 20"),
            "{spans}"
        );
        assert!(SPANS
            .target_checksum(Some((1, 2)))
            .contains("FROM spans AS s WHERE true AND s.start_time_unix_nano >= 1"));
    }

    #[test]
    fn the_census_counts_each_filter_change_and_dropped_column() {
        let budgets = CONTROL_PLANE.iter().find(|t| t.target == "budgets").unwrap();
        let sql = budgets.census();
        assert_eq!(sql.matches("count(").count(), 2 + 1 + 1 + 2, "{sql}");
        assert!(sql.contains("count(s.parent_budget_id)"));
    }

    #[test]
    fn missing_target_columns_are_reported() {
        let mut cols = types(&TRACES);
        cols.retain(|c| c.name != "span_count");
        assert_eq!(missing_columns(&TRACES, &cols), ["span_count"]);
    }
}
