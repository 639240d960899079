//! Response shapes more than one resource returns: one place, so a span
//! reads the same in search, trace detail and simulate. Each is a type
//! that both renders the object and, through `ToSchema`, documents it in
//! the OpenAPI document: the schema is generated from what is serialized.

pub mod tree;

use bigdecimal::{BigDecimal, ToPrimitive as _};
use serde::Serialize;
use serde_json::{json, Value};
use strathon_schema::approvals::Approval;
use strathon_schema::audit::Event;
use strathon_schema::budgets::Budget;
use strathon_schema::halts::Halt;
use strathon_schema::policies::Policy;
use strathon_schema::spans::Span;
use strathon_schema::traces::Trace;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{self, decimal as dec};

fn value(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("a view serializes")
}

/// Token counts of a span (the original's nested shape; the counts it
/// never filled stay null).
#[derive(Serialize, ToSchema)]
pub struct SpanTokens {
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
}

/// Cost of a span in USD, as a decimal string.
#[derive(Serialize, ToSchema)]
pub struct SpanCost {
    pub cost_usd: Option<String>,
    pub cost_cumulative_usd: Option<String>,
    pub cost_subtree_usd: Option<String>,
}

/// A stored span (attributes as stored, redactions included).
#[derive(Serialize, ToSchema)]
#[schema(as = Span)]
pub struct SpanView {
    /// 32 hex characters.
    pub trace_id: String,
    /// 16 hex characters.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub project_id: Uuid,
    pub name: String,
    pub kind: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub start_time_unix_nano: i64,
    pub end_time_unix_nano: Option<i64>,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub operation_name: Option<String>,
    pub provider_name: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub workflow_name: Option<String>,
    pub conversation_id: Option<String>,
    pub tokens: SpanTokens,
    pub cost: SpanCost,
    /// The same as `cost.cost_usd`; the CLI reads it here.
    pub cost_usd: Option<String>,
    pub agent_depth: Option<i64>,
    pub spawn_parent_agent_id: Option<String>,
    pub spawn_reason: Option<String>,
    /// `blocked`, `steered`, `throttled`, `approval_pending`… when the firewall acted.
    pub intervention_state: Option<String>,
    pub halt_reason: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
}

/// The span read model shared by search, detail, trace detail and simulate.
pub fn span(s: &Span) -> Value {
    let cost = s.cost_usd.as_ref().map(|c| c.normalized().to_plain_string());
    value(SpanView {
        trace_id: hex::encode(&s.trace_id),
        span_id: hex::encode(&s.span_id),
        parent_span_id: s.parent_span_id.as_ref().map(hex::encode),
        project_id: s.project_id,
        name: s.name.clone(),
        kind: s.kind.clone(),
        start_time: params::iso(s.start_time_unix_nano),
        end_time: s.end_time_unix_nano.map(params::iso),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        status_code: s.status_code.clone(),
        status_message: s.status_message.clone(),
        operation_name: s.operation_name.clone(),
        provider_name: s.provider_name.clone(),
        request_model: s.request_model.clone(),
        response_model: s.response_model.clone(),
        agent_name: s.agent_name.clone(),
        agent_id: s.agent_id.clone(),
        tool_name: s.tool_name.clone(),
        workflow_name: s.workflow_name.clone(),
        conversation_id: s.conversation_id.clone(),
        tokens: SpanTokens {
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            reasoning_tokens: None,
            cache_read_tokens: None,
            cache_creation_tokens: None,
        },
        cost: SpanCost {
            cost_usd: cost.clone(),
            cost_cumulative_usd: None,
            cost_subtree_usd: None,
        },
        cost_usd: cost,
        agent_depth: None,
        spawn_parent_agent_id: None,
        spawn_reason: None,
        intervention_state: s.intervention_state.clone(),
        halt_reason: None,
        attributes: s.attributes.clone(),
    })
}

/// A policy. The SDK evaluates enabled, non-shadow policies by priority.
#[derive(Serialize, ToSchema)]
#[schema(as = Policy)]
pub struct PolicyView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// CEL over `name`, `attrs` and `now`.
    pub match_expression: String,
    /// `allow`, `block`, `steer`, `throttle`, `require_approval`, `alert` or `log`.
    pub action: String,
    #[schema(value_type = Object)]
    pub action_config: Value,
    pub applies_to: Vec<String>,
    pub enabled: bool,
    pub priority: i32,
    pub match_count: i64,
    pub last_matched_at: Option<String>,
    pub shadow: bool,
    pub created_at: String,
    pub updated_at: String,
}

pub fn policy(p: &Policy) -> Value {
    value(PolicyView {
        id: p.id,
        project_id: p.project_id,
        name: p.name.clone(),
        description: p.description.clone(),
        match_expression: p.match_expression.clone(),
        action: p.action.clone(),
        action_config: p.action_config.clone(),
        applies_to: p.applies_to.clone(),
        enabled: p.enabled,
        priority: p.priority,
        match_count: p.match_count,
        last_matched_at: p.last_matched_at.as_ref().map(params::utc_z),
        shadow: p.shadow,
        created_at: params::utc_z(&p.created_at),
        updated_at: params::utc_z(&p.updated_at),
    })
}

/// A request for a person to approve a tool call.
#[derive(Serialize, ToSchema)]
#[schema(as = Approval)]
pub struct ApprovalView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub policy_id: Uuid,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub span_name: Option<String>,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    /// The tool's arguments as the SDK sent them (JSON text, redacted).
    pub tool_args: Option<String>,
    pub policy_name: Option<String>,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    pub requested_at: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub timeout_seconds: i32,
    pub expires_at: String,
    pub approvers_required: i32,
    pub current_approvals: i32,
    #[schema(value_type = Vec<Object>)]
    pub approval_decisions: Value,
}

pub fn approval(a: &Approval) -> Value {
    value(ApprovalView {
        id: a.id,
        project_id: a.project_id,
        policy_id: a.policy_id,
        trace_id: a.trace_id.as_ref().map(hex::encode),
        span_id: a.span_id.as_ref().map(hex::encode),
        span_name: a.span_name.clone(),
        agent_name: a.agent_name.clone(),
        tool_name: a.tool_name.clone(),
        tool_args: a.tool_args.clone(),
        policy_name: a.policy_name.clone(),
        status: a.status.clone(),
        requested_at: params::utc_offset(&a.requested_at),
        resolved_at: a.resolved_at.as_ref().map(params::utc_offset),
        resolved_by: a.resolved_by.clone(),
        timeout_seconds: a.timeout_seconds,
        expires_at: params::utc_offset(&a.expires_at),
        approvers_required: a.approvers_required,
        current_approvals: a.current_approvals,
        approval_decisions: a.approval_decisions.clone(),
    })
}

/// Who did it.
#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    /// `user`, `api_key`, `system`…
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub display: Option<String>,
    pub on_behalf_of: Option<String>,
}

/// What it was done to.
#[derive(Serialize, ToSchema)]
pub struct AuditResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub parent: Option<String>,
}

/// One audit event, chained by HMAC to the one before it.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventView {
    pub id: Uuid,
    pub sequence_no: i64,
    pub occurred_at: String,
    pub ingested_at: String,
    pub project_id: Uuid,
    pub actor: AuditActor,
    pub action: String,
    pub action_category: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub resource: AuditResource,
    pub cascade_root_id: Option<Uuid>,
    pub request_id: Uuid,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub api_key_id: Option<String>,
    pub auth_method: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before_state: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after_state: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub diff: Option<Value>,
    pub pii_classes: Vec<String>,
    pub schema_version: i16,
    pub prev_hash: String,
    pub row_hash: String,
    pub hmac_key_id: i16,
    /// The CLI's columns: the same values under its names.
    pub created_at: String,
    pub category: String,
    pub actor_ip: Option<String>,
    pub actor_key_prefix: Option<String>,
    pub resource_type: String,
}

pub fn audit_event(e: &Event) -> Value {
    value(AuditEventView {
        id: e.id,
        sequence_no: e.sequence_no,
        occurred_at: params::utc_z(&e.occurred_at),
        ingested_at: params::utc_z(&e.ingested_at),
        project_id: e.project_id,
        actor: AuditActor {
            kind: e.actor_type.clone(),
            id: e.actor_id.clone(),
            display: e.actor_display.clone(),
            on_behalf_of: e.on_behalf_of.clone(),
        },
        action: e.action.clone(),
        action_category: e.action_category.clone(),
        outcome: e.outcome.clone(),
        reason: e.reason.clone(),
        resource: AuditResource {
            kind: e.resource_type.clone(),
            id: e.resource_id.clone(),
            parent: e.resource_parent.clone(),
        },
        cascade_root_id: e.cascade_root_id,
        request_id: e.request_id,
        source_ip: e.source_ip.clone(),
        user_agent: e.user_agent.clone(),
        api_key_id: e.api_key_id.clone(),
        auth_method: e.auth_method.clone(),
        before_state: e.before_state.clone(),
        after_state: e.after_state.clone(),
        diff: e.diff.clone(),
        pii_classes: e.pii_classes.clone(),
        schema_version: e.schema_version,
        prev_hash: hex::encode(&e.prev_hash),
        row_hash: hex::encode(&e.row_hash),
        hmac_key_id: e.hmac_key_id,
        created_at: params::utc_z(&e.occurred_at),
        category: e.action_category.clone(),
        actor_ip: e.source_ip.clone(),
        actor_key_prefix: e.actor_display.clone(),
        resource_type: e.resource_type.clone(),
    })
}

/// A cost or loop budget, with the CLI's names beside the original ones.
#[derive(Serialize, ToSchema)]
#[schema(as = Budget)]
pub struct BudgetView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `project` or `agent`.
    pub scope: String,
    pub scope_value: Option<String>,
    /// Decimal string.
    pub max_spend_usd: Option<String>,
    pub spent_usd: String,
    pub soft_limit_ratio: Option<String>,
    pub max_repeated_calls: Option<i32>,
    pub loop_window_seconds: Option<String>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<String>,
    pub last_evaluated_at: Option<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// `cost` or `iteration`.
    pub budget_type: String,
    pub limit_usd: Option<f64>,
    pub limit_count: Option<i32>,
    pub current_spend: Option<f64>,
    pub current_count: i32,
    pub window_type: String,
    /// Whether the budget monitor has an active halt for it.
    pub auto_halted: bool,
}

/// A budget; `auto_halted` says whether its monitor has an active halt.
pub fn budget(b: &Budget, auto_halted: bool) -> Value {
    let is_cost = b.max_spend_usd.is_some();
    value(BudgetView {
        id: b.id,
        project_id: b.project_id,
        name: b.name.clone(),
        description: b.description.clone(),
        scope: b.scope.clone(),
        scope_value: b.scope_value.clone(),
        max_spend_usd: b.max_spend_usd.as_ref().map(dec),
        spent_usd: dec(&b.spent_usd),
        soft_limit_ratio: b.soft_limit_ratio.as_ref().map(dec),
        max_repeated_calls: b.max_repeated_calls,
        loop_window_seconds: b.loop_window_seconds.as_ref().map(dec),
        budget_duration: b.budget_duration.clone(),
        budget_reset_at: b.budget_reset_at.as_ref().map(params::utc_offset),
        last_evaluated_at: b.last_evaluated_at.as_ref().map(params::utc_offset),
        is_active: b.is_active,
        created_at: params::utc_offset(&b.created_at),
        updated_at: params::utc_offset(&b.updated_at),
        budget_type: if is_cost { "cost" } else { "iteration" }.into(),
        limit_usd: b.max_spend_usd.as_ref().and_then(BigDecimal::to_f64),
        limit_count: b.max_repeated_calls,
        current_spend: b.spent_usd.to_f64(),
        current_count: b.current_count,
        window_type: b.window_type.clone(),
        auto_halted,
    })
}

/// A halt: agents in its scope stop at their next tool call.
#[derive(Serialize, ToSchema)]
#[schema(as = Halt)]
pub struct HaltView {
    pub id: i64,
    pub project_id: Uuid,
    /// `agent` or `project`.
    pub scope: String,
    pub scope_value: Option<String>,
    /// The same as `scope_value`; the CLI reads it here.
    pub agent_name: Option<String>,
    /// `halted` or `paused`.
    pub state: String,
    pub reason: String,
    /// `user`, `api_key` or `budget_monitor`.
    pub actor: String,
    pub budget_id: Option<Uuid>,
    /// Who issued it: an email, a key name.
    #[schema(value_type = Option<String>)]
    pub issued_by: Option<Value>,
    pub set_at: String,
    /// The same as `set_at`; the CLI reads it here.
    pub created_at: String,
    pub cleared_at: Option<String>,
}

/// The halt object, with the CLI's names (`agent_name`, `created_at`) beside
/// the original ones.
pub fn halt(h: &Halt) -> Value {
    value(HaltView {
        id: h.id,
        project_id: h.project_id,
        scope: h.scope.clone(),
        scope_value: h.scope_value.clone(),
        agent_name: h.scope_value.clone(),
        state: h.state.clone(),
        reason: h.reason.clone(),
        actor: h.actor.clone(),
        budget_id: h.budget_id,
        issued_by: h.metadata.get("issued_by").cloned(),
        set_at: params::utc_offset(&h.set_at),
        created_at: params::utc_offset(&h.set_at),
        cleared_at: h.cleared_at.as_ref().map(params::utc_offset),
    })
}

/// A trace: one agent run, summed over its spans.
#[derive(Serialize, ToSchema)]
#[schema(as = Trace)]
pub struct TraceView {
    pub trace_id: String,
    pub project_id: Uuid,
    pub start_time_unix_nano: i64,
    pub end_time_unix_nano: Option<i64>,
    pub agent_name: Option<String>,
    pub workflow_name: Option<String>,
    pub span_count: i32,
    /// Decimal string.
    pub total_cost_usd: Option<String>,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub intervention_state: String,
    pub git_commit_sha: Option<String>,
}

pub fn trace(t: &Trace) -> Value {
    value(TraceView {
        trace_id: hex::encode(&t.id),
        project_id: t.project_id,
        start_time_unix_nano: t.start_time_unix_nano,
        end_time_unix_nano: t.end_time_unix_nano,
        agent_name: t.agent_name.clone(),
        workflow_name: t.workflow_name.clone(),
        span_count: t.span_count,
        total_cost_usd: t.total_cost_usd.as_ref().map(dec),
        total_input_tokens: t.total_input_tokens,
        total_output_tokens: t.total_output_tokens,
        intervention_state: t.intervention_state.clone(),
        git_commit_sha: t.git_commit_sha.clone(),
    })
}

/// A commit a GitHub webhook reported, with how many traces ran it.
pub fn git_commit(c: &strathon_schema::integrations::Commit) -> Value {
    value(GitCommitView {
        id: c.id,
        commit_sha: c.commit_sha.clone(),
        repo_full_name: c.repo_full_name.clone(),
        commit_message: c.commit_message.clone(),
        author_name: c.author_name.clone(),
        author_email: c.author_email.clone(),
        committed_at: c.committed_at.as_ref().map(params::utc_offset),
        branch: c.branch.clone(),
        pr_number: c.pr_number,
        url: c.url.clone(),
        fetched_at: params::utc_offset(&c.fetched_at),
        trace_count: c.trace_count,
    })
}

/// A user as the account endpoints show them.
pub fn user_json(u: &strathon_schema::users::User) -> Value {
    value(UserView::of(u))
}

/// Active budgets as the SDK's sync response carries them (informational).
pub fn budget_sync(active: &[Budget]) -> Vec<Value> {
    active
        .iter()
        .map(|b| {
            json!({
                "id": b.id, "name": b.name, "scope": b.scope, "scope_value": b.scope_value,
                "max_spend_usd": b.max_spend_usd.as_ref().map(dec), "spent_usd": dec(&b.spent_usd),
                "max_repeated_calls": b.max_repeated_calls, "budget_duration": b.budget_duration,
                "budget_reset_at": b.budget_reset_at.as_ref().map(params::utc_offset),
            })
        })
        .collect()
}

/// A commit a GitHub webhook reported (push or pull request), with how many
/// of the project's traces ran it.
#[derive(Serialize, ToSchema)]
#[schema(as = GitCommit)]
pub struct GitCommitView {
    pub id: Uuid,
    /// Lower-case hex, as GitHub reported it.
    pub commit_sha: String,
    /// `owner/repository`.
    pub repo_full_name: String,
    pub commit_message: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub committed_at: Option<String>,
    pub branch: Option<String>,
    pub pr_number: Option<i32>,
    pub url: Option<String>,
    /// When the webhook reported it.
    pub fetched_at: String,
    /// Traces of the project whose agent ran this commit.
    pub trace_count: i64,
}

/// A dashboard user: what the account endpoints return about them.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    pub id: Uuid,
    /// Lower-cased.
    pub email: String,
    pub display_name: Option<String>,
}

impl UserView {
    pub fn of(u: &strathon_schema::users::User) -> UserView {
        UserView {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
        }
    }
}
