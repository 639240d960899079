//! Response shapes more than one resource returns: one place, so a span
//! reads the same in search, trace detail and simulate.

pub mod tree;

use bigdecimal::{BigDecimal, ToPrimitive as _};
use serde_json::{json, Value};
use strathon_schema::approvals::Approval;
use strathon_schema::audit::Event;
use strathon_schema::budgets::Budget;
use strathon_schema::halts::Halt;
use strathon_schema::policies::Policy;
use strathon_schema::spans::Span;
use strathon_schema::traces::Trace;

use super::params::{self, decimal as dec};

/// The span read model shared by search, detail, trace detail and simulate.
pub fn span(s: &Span) -> Value {
    let cost = s.cost_usd.as_ref().map(|c| c.normalized().to_plain_string());
    json!({
        "trace_id": hex::encode(&s.trace_id),
        "span_id": hex::encode(&s.span_id),
        "parent_span_id": s.parent_span_id.as_ref().map(hex::encode),
        "project_id": s.project_id,
        "name": s.name,
        "kind": s.kind,
        "start_time": params::iso(s.start_time_unix_nano),
        "end_time": s.end_time_unix_nano.map(params::iso),
        "start_time_unix_nano": s.start_time_unix_nano,
        "end_time_unix_nano": s.end_time_unix_nano,
        "status_code": s.status_code,
        "status_message": s.status_message,
        "operation_name": s.operation_name,
        "provider_name": s.provider_name,
        "request_model": s.request_model,
        "response_model": s.response_model,
        "agent_name": s.agent_name,
        "agent_id": s.agent_id,
        "tool_name": s.tool_name,
        "workflow_name": s.workflow_name,
        "conversation_id": s.conversation_id,
        "tokens": {
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "reasoning_tokens": null,
            "cache_read_tokens": null,
            "cache_creation_tokens": null,
        },
        "cost": { "cost_usd": cost, "cost_cumulative_usd": null, "cost_subtree_usd": null },
        // The CLI reads cost at the top level.
        "cost_usd": cost,
        "agent_depth": null,
        "spawn_parent_agent_id": null,
        "spawn_reason": null,
        "intervention_state": s.intervention_state,
        "halt_reason": null,
        "attributes": s.attributes,
    })
}

pub fn policy(p: &Policy) -> Value {
    json!({
        "id": p.id,
        "project_id": p.project_id,
        "name": p.name,
        "description": p.description,
        "match_expression": p.match_expression,
        "action": p.action,
        "action_config": p.action_config,
        "applies_to": p.applies_to,
        "enabled": p.enabled,
        "priority": p.priority,
        "match_count": p.match_count,
        "last_matched_at": p.last_matched_at.as_ref().map(params::utc_z),
        "shadow": p.shadow,
        "created_at": params::utc_z(&p.created_at),
        "updated_at": params::utc_z(&p.updated_at),
    })
}

pub fn approval(a: &Approval) -> Value {
    json!({
        "id": a.id, "project_id": a.project_id, "policy_id": a.policy_id,
        "trace_id": a.trace_id.as_ref().map(hex::encode), "span_id": a.span_id.as_ref().map(hex::encode),
        "span_name": a.span_name, "agent_name": a.agent_name, "tool_name": a.tool_name, "tool_args": a.tool_args,
        "policy_name": a.policy_name, "status": a.status, "requested_at": params::utc_offset(&a.requested_at),
        "resolved_at": a.resolved_at.as_ref().map(params::utc_offset), "resolved_by": a.resolved_by,
        "timeout_seconds": a.timeout_seconds, "expires_at": params::utc_offset(&a.expires_at),
        "approvers_required": a.approvers_required, "current_approvals": a.current_approvals,
        "approval_decisions": a.approval_decisions,
    })
}

pub fn audit_event(e: &Event) -> Value {
    json!({
        "id": e.id, "sequence_no": e.sequence_no, "occurred_at": params::utc_z(&e.occurred_at), "ingested_at": params::utc_z(&e.ingested_at),
        "project_id": e.project_id,
        "actor": {"type": e.actor_type, "id": e.actor_id, "display": e.actor_display, "on_behalf_of": e.on_behalf_of},
        "action": e.action, "action_category": e.action_category, "outcome": e.outcome, "reason": e.reason,
        "resource": {"type": e.resource_type, "id": e.resource_id, "parent": e.resource_parent},
        "cascade_root_id": e.cascade_root_id, "request_id": e.request_id, "source_ip": e.source_ip,
        "user_agent": e.user_agent, "api_key_id": e.api_key_id, "auth_method": e.auth_method,
        "before_state": e.before_state, "after_state": e.after_state, "diff": e.diff, "pii_classes": e.pii_classes,
        "schema_version": e.schema_version, "prev_hash": hex::encode(&e.prev_hash), "row_hash": hex::encode(&e.row_hash),
        "hmac_key_id": e.hmac_key_id,
        // The columns the published CLI prints.
        "created_at": params::utc_z(&e.occurred_at), "category": e.action_category, "actor_ip": e.source_ip,
        "actor_key_prefix": e.actor_display, "resource_type": e.resource_type,
    })
}

/// A budget; `auto_halted` says whether its monitor has an active halt.
pub fn budget(b: &Budget, auto_halted: bool) -> Value {
    let is_cost = b.max_spend_usd.is_some();
    json!({
        "id": b.id,
        "project_id": b.project_id,
        "name": b.name,
        "description": b.description,
        "scope": b.scope,
        "scope_value": b.scope_value,
        "max_spend_usd": b.max_spend_usd.as_ref().map(dec),
        "spent_usd": dec(&b.spent_usd),
        "soft_limit_ratio": b.soft_limit_ratio.as_ref().map(dec),
        "max_repeated_calls": b.max_repeated_calls,
        "loop_window_seconds": b.loop_window_seconds.as_ref().map(dec),
        "budget_duration": b.budget_duration,
        "budget_reset_at": b.budget_reset_at.as_ref().map(params::utc_offset),
        "last_evaluated_at": b.last_evaluated_at.as_ref().map(params::utc_offset),
        "is_active": b.is_active,
        "created_at": params::utc_offset(&b.created_at),
        "updated_at": params::utc_offset(&b.updated_at),
        "budget_type": if is_cost { "cost" } else { "iteration" },
        "limit_usd": b.max_spend_usd.as_ref().and_then(BigDecimal::to_f64),
        "limit_count": b.max_repeated_calls,
        "current_spend": b.spent_usd.to_f64(),
        "current_count": b.current_count,
        "window_type": b.window_type,
        "auto_halted": auto_halted,
    })
}

/// The halt object, with the CLI's names (`agent_name`, `created_at`) beside
/// the original ones.
pub fn halt(h: &Halt) -> Value {
    json!({
        "id": h.id,
        "project_id": h.project_id,
        "scope": h.scope,
        "scope_value": h.scope_value,
        "agent_name": h.scope_value,
        "state": h.state,
        "reason": h.reason,
        "actor": h.actor,
        "budget_id": h.budget_id,
        "issued_by": h.metadata.get("issued_by"),
        "set_at": params::utc_offset(&h.set_at),
        "created_at": params::utc_offset(&h.set_at),
        "cleared_at": h.cleared_at.as_ref().map(params::utc_offset),
    })
}

pub fn trace(t: &Trace) -> Value {
    json!({
        "trace_id": hex::encode(&t.id),
        "project_id": t.project_id,
        "start_time_unix_nano": t.start_time_unix_nano,
        "end_time_unix_nano": t.end_time_unix_nano,
        "agent_name": t.agent_name,
        "workflow_name": t.workflow_name,
        "span_count": t.span_count,
        "total_cost_usd": t.total_cost_usd.as_ref().map(dec),
        "total_input_tokens": t.total_input_tokens,
        "total_output_tokens": t.total_output_tokens,
        "intervention_state": t.intervention_state,
        "git_commit_sha": t.git_commit_sha,
    })
}

/// A commit a GitHub webhook reported, with how many traces ran it.
pub fn git_commit(c: &strathon_schema::integrations::Commit) -> Value {
    json!({
        "id": c.id, "commit_sha": c.commit_sha, "repo_full_name": c.repo_full_name,
        "commit_message": c.commit_message, "author_name": c.author_name, "author_email": c.author_email,
        "committed_at": c.committed_at.as_ref().map(params::utc_offset), "branch": c.branch,
        "pr_number": c.pr_number, "url": c.url, "fetched_at": params::utc_offset(&c.fetched_at),
        "trace_count": c.trace_count,
    })
}

/// A user as the account endpoints show them.
pub fn user_json(u: &strathon_schema::users::User) -> Value {
    json!({"id": u.id, "email": u.email, "display_name": u.display_name})
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
