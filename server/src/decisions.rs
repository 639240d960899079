//! Deciding an approval: one person's vote (N-of-M approvals; the first
//! deny vetoes), audited in the same transaction. Shared by the REST
//! endpoints and the Slack buttons, so a decision means the same wherever
//! it is made.

use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::approvals::{self, Approval};
use strathon_schema::AsyncPgConnection;
use uuid::Uuid;

use crate::api::views;
use crate::audit::{self, Event};
use crate::auth::Auth;
use crate::error::ApiError;

/// `decision` is `approved` or `denied`; the approval must be pending in
/// the caller's project, and each person votes once.
pub async fn decide(
    conn: &mut AsyncPgConnection,
    auth: &Auth,
    id: Uuid,
    decision: &'static str,
) -> Result<Approval, ApiError> {
    let actor = auth.principal.voter();
    conn.transaction(async |conn| {
        let gone = || ApiError::NotFound("approval not found or already resolved".into());
        let a = approvals::pending_for_update(conn, auth.project_id, id)
            .await?
            .ok_or_else(gone)?;
        let mut decisions = a.approval_decisions.as_array().cloned().unwrap_or_default();
        if decisions.iter().any(|d| d["actor"] == actor.as_str()) {
            return Err(gone());
        }
        decisions.push(json!({"actor": actor, "decision": decision, "timestamp": chrono::Utc::now().to_rfc3339()}));
        let approvals_now = a.current_approvals + i32::from(decision == "approved");
        let status = match decision {
            "denied" => "denied",
            _ if approvals_now >= a.approvers_required => "approved",
            _ => "pending",
        };
        let resolved_by = (status != "pending").then_some(actor.as_str());
        let saved =
            approvals::save_decision(conn, id, status, approvals_now, &Value::Array(decisions), resolved_by).await?;
        let action = if decision == "approved" {
            "approval.approve"
        } else {
            "approval.deny"
        };
        audit::record(
            conn,
            auth,
            Event::new(action, "approval", id)
                .before(views::approval(&a))
                .after(views::approval(&saved)),
        )
        .await?;
        Ok(saved)
    })
    .await
}
