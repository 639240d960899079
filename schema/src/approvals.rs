//! Human approvals: created by SDKs and by ingest, decided by people.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::approvals;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = approvals)]
pub struct Approval {
    pub id: Uuid,
    pub project_id: Uuid,
    pub policy_id: Uuid,
    pub trace_id: Option<Vec<u8>>,
    pub span_id: Option<Vec<u8>>,
    pub span_name: Option<String>,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub tool_args: Option<String>,
    pub policy_name: Option<String>,
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub timeout_seconds: i32,
    pub expires_at: DateTime<Utc>,
    pub approvers_required: i32,
    pub current_approvals: i32,
    pub approval_decisions: serde_json::Value,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = approvals)]
pub struct NewApproval {
    pub project_id: Uuid,
    pub policy_id: Uuid,
    pub span_name: Option<String>,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub tool_args: Option<String>,
    pub policy_name: Option<String>,
    pub timeout_seconds: i32,
    pub expires_at: DateTime<Utc>,
    pub approvers_required: i32,
}

pub async fn insert(conn: &mut AsyncPgConnection, a: &NewApproval) -> QueryResult<Approval> {
    diesel::insert_into(approvals::table)
        .values(a)
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Approval>> {
    let mut q = approvals::table
        .filter(approvals::project_id.eq(project_id))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(approvals::status.eq(s.to_owned()));
    }
    q.order((approvals::requested_at.desc(), approvals::id.desc()))
        .limit(limit)
        .select(Approval::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Approval>> {
    approvals::table
        .filter(approvals::project_id.eq(project_id))
        .find(id)
        .select(Approval::as_select())
        .first(conn)
        .await
        .optional()
}

/// Locks a pending approval for a decision.
pub async fn pending_for_update(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Approval>> {
    approvals::table
        .filter(approvals::project_id.eq(project_id))
        .filter(approvals::status.eq("pending"))
        .find(id)
        .for_update()
        .select(Approval::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn save_decision(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: &str,
    current_approvals: i32,
    decisions: &serde_json::Value,
    resolved_by: Option<&str>,
) -> QueryResult<Approval> {
    let resolved = status != "pending";
    diesel::update(approvals::table.find(id))
        .set((
            approvals::status.eq(status),
            approvals::current_approvals.eq(current_approvals),
            approvals::approval_decisions.eq(decisions),
            approvals::resolved_by.eq(resolved_by),
            approvals::resolved_at.eq(resolved.then(Utc::now)),
        ))
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
}

/// Expires pending approvals past their deadline; returns them.
pub async fn expire_due(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Approval>> {
    diesel::update(
        approvals::table
            .filter(approvals::status.eq("pending"))
            .filter(approvals::expires_at.le(diesel::dsl::now)),
    )
    .set((
        approvals::status.eq("expired"),
        approvals::resolved_at.eq(diesel::dsl::now),
        approvals::resolved_by.eq("timeout"),
    ))
    .returning(Approval::as_returning())
    .get_results(conn)
    .await
}

/// An approval the MCP gateway asks for on behalf of a tool call it holds;
/// tied to the span that records the call.
pub async fn insert_for_span(
    conn: &mut AsyncPgConnection,
    a: &NewApproval,
    trace_id: &[u8],
    span_id: &[u8],
) -> QueryResult<Approval> {
    diesel::insert_into(approvals::table)
        .values((a, approvals::trace_id.eq(trace_id), approvals::span_id.eq(span_id)))
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
}

/// The newest approval for exactly this call (policy, tool and arguments)
/// that is still pending, or approved, unused and within its validity (as
/// long again as its timeout after the decision).
pub async fn for_call(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    policy_id: Uuid,
    tool_name: &str,
    tool_args: &str,
) -> QueryResult<Option<Approval>> {
    approvals::table
        .filter(approvals::project_id.eq(project_id))
        .filter(approvals::policy_id.eq(policy_id))
        .filter(approvals::tool_name.eq(tool_name))
        .filter(approvals::tool_args.eq(tool_args))
        .filter(approvals::consumed_at.is_null())
        .filter(
            approvals::status
                .eq("pending")
                .and(approvals::expires_at.gt(diesel::dsl::now))
                .or(approvals::status
                    .eq("approved")
                    .and(diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "resolved_at + make_interval(secs => timeout_seconds) > now()",
                    ))),
        )
        .order(approvals::requested_at.desc())
        .select(Approval::as_select())
        .first(conn)
        .await
        .optional()
}

/// Uses an approved approval up: true when this call took it.
pub async fn consume(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::update(
        approvals::table
            .find(id)
            .filter(approvals::status.eq("approved"))
            .filter(approvals::consumed_at.is_null()),
    )
    .set(approvals::consumed_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// An approval by id alone, for callers that learn the project from it (a
/// Slack button press names only the approval).
pub async fn find_any(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Approval>> {
    approvals::table
        .find(id)
        .select(Approval::as_select())
        .first(conn)
        .await
        .optional()
}
