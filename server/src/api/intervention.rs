//! `POST /v1/intervention/sync`: what the SDK polls every second: the live
//! halts (project and agent scope) and, for information, active budgets.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strathon_schema::halts;

use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// The SDK reads at most this many halts.
const MAX_HALTS: i64 = 500;

/// Any JSON body (the SDK sends `{}`) or none at all is accepted.
pub async fn sync(auth: Auth, state: web::Data<AppState>, _body: web::Bytes) -> Result<HttpResponse, ApiError> {
    auth.require(scope::HALTS_READ)?;
    let mut conn = state.pool.get().await?;
    let live = halts::list(&mut conn, auth.project_id, false, MAX_HALTS).await?;
    let halts: Vec<Value> = live
        .iter()
        .map(|h| json!({ "id": h.id, "scope": h.scope, "scope_value": h.scope_value, "state": h.state, "reason": h.reason }))
        .collect();
    let budgets = super::budgets::sync_view(&mut conn, auth.project_id).await?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({ "halts": halts, "budgets": budgets, "synced_at_unix_nano": now })))
}
