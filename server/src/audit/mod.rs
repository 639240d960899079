//! The one door every audited mutation goes through. It runs inside the
//! mutation's transaction, so a failure to record rolls the change back.
//! Until the tamper-evident log lands, events go to the structured log.

pub mod chain;

use diesel_async::AsyncPgConnection;
use serde_json::Value;

use crate::auth::{Auth, Principal};
use crate::error::ApiError;

pub struct Event {
    /// `<category>.<verb>`, e.g. `policy.create`.
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Event {
    pub fn new(action: &'static str, resource_type: &'static str, resource_id: impl ToString) -> Self {
        Event {
            action,
            resource_type,
            resource_id: resource_id.to_string(),
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, state: Value) -> Self {
        self.before = Some(state);
        self
    }

    pub fn after(mut self, state: Value) -> Self {
        self.after = Some(state);
        self
    }
}

pub async fn record(_conn: &mut AsyncPgConnection, auth: &Auth, event: Event) -> Result<(), ApiError> {
    let Principal::ApiKey { id, prefix } = &auth.principal;
    tracing::info!(
        target: "strathon::audit",
        action = event.action,
        category = event.action.split('.').next().unwrap_or(""),
        resource_type = event.resource_type,
        resource_id = %event.resource_id,
        project_id = %auth.project_id,
        actor_type = "service_account",
        actor_id = %id,
        actor_display = %prefix,
        changed = event.before.is_some() || event.after.is_some(),
        "audit"
    );
    Ok(())
}
