//! The one door every audited mutation goes through. It runs inside the
//! mutation's transaction and appends to the project's HMAC chain there,
//! so an audit failure rolls the mutation back and no change goes
//! unrecorded.

pub mod chain;
pub mod filter;
pub mod state;

use std::sync::OnceLock;

use chrono::{DurationRound as _, TimeDelta};
use diesel_async::AsyncPgConnection;
use serde_json::{json, Map, Value};
use strathon_schema::audit as rows;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::ApiError;

/// The chain key, set once at startup from the configuration (kept here so
/// that every handler can record without threading it through).
static KEY: OnceLock<Vec<u8>> = OnceLock::new();

pub fn install_key(key: &str) {
    let _ = KEY.set(key.as_bytes().to_vec());
}

pub fn key() -> &'static [u8] {
    KEY.get()
        .map(Vec::as_slice)
        .unwrap_or(crate::config::DEV_AUDIT_HMAC_KEY.as_bytes())
}

/// Every action category the receiver records (the part of an action
/// before the dot), for filters that name categories up front.
pub const CATEGORIES: [&str; 19] = [
    "api_key",
    "approval",
    "audit",
    "audit_stream",
    "auth",
    "budget",
    "circuit_breaker",
    "github_integration",
    "halt",
    "member",
    "model_price",
    "notification_channel",
    "ownership",
    "policy",
    "project",
    "project_settings",
    "user",
    "webhook_delivery",
    "webhook_signing_key",
];

#[derive(Clone)]
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

/// The 26 hashed fields of a row, as the chain hashes them.
pub fn payload(e: &rows::Event) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("id", json!(e.id));
    put("sequence_no", json!(e.sequence_no));
    put("occurred_at", json!(chain::timestamp(&e.occurred_at)));
    put("project_id", json!(e.project_id));
    put("actor_type", json!(e.actor_type));
    put("actor_id", json!(e.actor_id));
    put("actor_display", json!(e.actor_display));
    put("on_behalf_of", json!(e.on_behalf_of));
    put("action", json!(e.action));
    put("action_category", json!(e.action_category));
    put("outcome", json!(e.outcome));
    put("reason", json!(e.reason));
    put("resource_type", json!(e.resource_type));
    put("resource_id", json!(e.resource_id));
    put("resource_parent", json!(e.resource_parent));
    put("cascade_root_id", json!(e.cascade_root_id));
    put("request_id", json!(e.request_id));
    put("source_ip", json!(e.source_ip));
    put("user_agent", json!(e.user_agent));
    put("api_key_id", json!(e.api_key_id));
    put("auth_method", json!(e.auth_method));
    put("before_state", e.before_state.clone().unwrap_or(Value::Null));
    put("after_state", e.after_state.clone().unwrap_or(Value::Null));
    put("diff", e.diff.clone().unwrap_or(Value::Null));
    put("pii_classes", json!(e.pii_classes));
    put("schema_version", json!(e.schema_version));
    m
}

/// The first event of a project's chain (in append order) whose link to its
/// predecessor or whose own hash is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub event_id: Uuid,
    pub sequence_no: i64,
    pub problem: &'static str,
}

pub fn first_break(key: &[u8], events: &[rows::Event]) -> Option<Broken> {
    let mut expected_prev = chain::GENESIS.to_vec();
    for e in events {
        let problem = if e.prev_hash != expected_prev {
            Some("prev_hash does not match the previous event's row_hash")
        } else if !chain::verify(key, &payload(e), &e.prev_hash, &e.row_hash) {
            Some("row_hash does not match the event's contents")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Some(Broken {
                event_id: e.id,
                sequence_no: e.sequence_no,
                problem,
            });
        }
        expected_prev = e.row_hash.clone();
    }
    None
}

/// Whether an anchor's count, Merkle root and last hash match the row
/// hashes of the sequence range it covers.
pub fn anchor_holds(anchor: &rows::Anchor, leaves: &[Vec<u8>]) -> bool {
    leaves.len() == anchor.event_count as usize
        && chain::merkle_root(leaves).as_slice() == anchor.merkle_root.as_slice()
        && leaves.last() == Some(&anchor.last_row_hash)
}

/// Records a change to a user's own account (password, second factor,
/// sessions) in the chain of every project they belong to: each project's
/// operators see what happened to the accounts that can act in it.
pub async fn record_for_account(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    session_id: Option<Uuid>,
    meta: &crate::auth::RequestMeta,
    event: Event,
) -> Result<(), ApiError> {
    for (project_id, ..) in strathon_schema::users::memberships(conn, user_id).await? {
        let actor = Auth::account_holder(project_id, user_id, session_id.unwrap_or_default(), meta.clone());
        record(conn, &actor, event.clone()).await?;
    }
    Ok(())
}

pub async fn record(conn: &mut AsyncPgConnection, auth: &Auth, event: Event) -> Result<(), ApiError> {
    append(
        conn,
        auth,
        event.action,
        event.resource_type,
        event.resource_id,
        event.before,
        event.after,
    )
    .await
}

/// Appends one event to the caller's project chain.
pub async fn append(
    conn: &mut AsyncPgConnection,
    auth: &Auth,
    action: &str,
    resource_type: &str,
    resource_id: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), ApiError> {
    let key = key();
    let before = before.map(|s| state::redact(s, key));
    let after = after.map(|s| state::redact(s, key));
    let diff = state::diff(before.as_ref(), after.as_ref());
    let (actor_type, actor_id, display, api_key_id, auth_method) = auth.principal.actor();
    let (prev, sequence_no) = rows::begin_append(conn, auth.project_id).await?;
    let prev_hash = prev.unwrap_or_else(|| chain::GENESIS.to_vec());
    // Postgres keeps microseconds; hash exactly what will be read back.
    let occurred_at = chrono::Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or_else(|_| chrono::Utc::now());
    let mut row = rows::Event {
        id: Uuid::new_v4(),
        sequence_no,
        occurred_at,
        ingested_at: occurred_at,
        project_id: auth.project_id,
        actor_type: actor_type.into(),
        actor_id,
        actor_display: Some(display),
        on_behalf_of: None,
        action: action.to_owned(),
        action_category: action.split('.').next().unwrap_or(action).to_owned(),
        outcome: "allow".into(),
        reason: None,
        resource_type: resource_type.to_owned(),
        resource_id,
        resource_parent: None,
        cascade_root_id: None,
        request_id: auth.meta.request_id,
        source_ip: auth.meta.source_ip.clone(),
        user_agent: auth.meta.user_agent.clone(),
        api_key_id,
        auth_method: Some(auth_method.into()),
        before_state: before,
        after_state: after,
        diff,
        pii_classes: vec![],
        schema_version: 1,
        prev_hash,
        row_hash: vec![],
        hmac_key_id: chain::KEY_ID,
    };
    row.row_hash = chain::row_hash(key, &payload(&row), &row.prev_hash).to_vec();
    rows::append(conn, &row).await?;
    Ok(())
}
