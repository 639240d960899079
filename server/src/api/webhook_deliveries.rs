//! `/v1/webhook_deliveries`: what was sent where, how it went, and a way to
//! send a dead-lettered or abandoned delivery again.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strathon_schema::webhooks::{self, Delivery, REPLAYABLE, STATUSES};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{self, utc_offset, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// One outbound webhook message and how sending it went.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub event: String,
    pub policy_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub webhook_id: String,
    pub url: String,
    /// `standard`, or `slack` / `discord` for chat channels.
    pub format: String,
    /// `pending`, `succeeded`, `failed_retrying`, `dlq` or `abandoned`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_response_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    /// The body sent; only on `GET /v1/webhook_deliveries/{delivery_id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

fn view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        project_id: d.project_id,
        event: d.event.clone(),
        policy_id: d.policy_id,
        channel_id: d.channel_id,
        webhook_id: d.webhook_id.clone(),
        url: d.url.clone(),
        format: d.format.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        max_attempts: d.max_attempts,
        last_response_status: d.last_response_status,
        last_error: d.last_error.clone(),
        next_attempt_at: utc_offset(&d.next_attempt_at),
        last_attempt_at: d.last_attempt_at.as_ref().map(utc_offset),
        created_at: utc_offset(&d.created_at),
        payload: None,
    }
}

fn summary(d: &Delivery) -> Value {
    serde_json::to_value(view(d)).expect("a delivery serializes")
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub webhook_deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

fn quoted(items: &[&str]) -> String {
    format!("{items:?}").replace('"', "'")
}

/// List webhook deliveries
///
/// Newest first, a page at a time.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "list_webhook_deliveries",
    security(("bearer" = ["webhook_deliveries:read"])),
    params(
        ("status_filter" = Option<String>, Query, description = "`pending`, `succeeded`, `failed_retrying`, `dlq` or `abandoned`."),
        ("policy_id" = Option<uuid::Uuid>, Query, description = "Only deliveries caused by this policy."),
        ("limit" = Option<i64>, Query, description = "Page size, clamped to 1..500 (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of deliveries.", body = DeliveryList),
        (status = 400, description = "An unknown status, or a bad `policy_id` or cursor."),
    ),
)]
#[get("/v1/webhook_deliveries")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_DELIVERIES_READ)?;
    let status = query.get("status_filter").map(|s| s.trim()).filter(|s| !s.is_empty());
    if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(ApiError::BadRequest(format!(
            "unknown status: '{s}'. Valid: {}",
            quoted(&STATUSES)
        )));
    }
    let policy_id = match query.get("policy_id").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        Some(p) => Some(Uuid::parse_str(p).map_err(|_| ApiError::BadRequest("invalid policy_id".into()))?),
        None => None,
    };
    // Out-of-range limits are clamped rather than refused, as the original did.
    let limit = query
        .get("limit")
        .and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or(50)
        .clamp(1, 500);
    let after = params::decode_cursor::<Cursor>(&query)?.map(|c| (c.created_at, c.id));
    let mut conn = state.pool.get().await?;
    let mut found = webhooks::list(&mut conn, auth.project_id, status, policy_id, after, limit + 1).await?;
    let next = (found.len() as i64 > limit).then(|| {
        found.truncate(limit as usize);
        let last = found.last().expect("a full page has a last row");
        params::encode_cursor(&Cursor {
            created_at: last.created_at,
            id: last.id,
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "webhook_deliveries": found.iter().map(summary).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// Get a webhook delivery, with its payload
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "get_webhook_delivery",
    security(("bearer" = ["webhook_deliveries:read"])),
    params(("delivery_id" = uuid::Uuid, Path, description = "The delivery's id.")),
    responses(
        (status = 200, description = "The delivery and the payload sent.", body = DeliveryView),
        (status = 400, description = "`delivery_id` is not a UUID."),
    ),
)]
#[get("/v1/webhook_deliveries/{delivery_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_DELIVERIES_READ)?;
    let id = params::path_uuid(&path, "delivery_id")?;
    let mut conn = state.pool.get().await?;
    let d = webhooks::get(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("delivery not found".into()))?;
    let mut body = view(&d);
    body.payload = Some(d.payload);
    Ok(HttpResponse::Ok().json(body))
}

/// Send a failed delivery again
///
/// Only a dead-lettered (`dlq`) or `abandoned` delivery can be replayed; it
/// goes back to `pending` with its attempts reset.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "replay_webhook_delivery",
    security(("bearer" = ["webhook_deliveries:write"])),
    params(("delivery_id" = uuid::Uuid, Path, description = "The delivery's id.")),
    responses(
        (status = 202, description = "Queued again.", body = DeliveryView),
        (status = 400, description = "`delivery_id` is not a UUID."),
        (status = 409, description = "The delivery is not dead-lettered or abandoned."),
    ),
)]
#[post("/v1/webhook_deliveries/{delivery_id}/replay")]
pub async fn replay(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_DELIVERIES_WRITE)?;
    let id = params::path_uuid(&path, "delivery_id")?;
    let mut conn = state.pool.get().await?;
    let replayed = conn
        .transaction(async |conn| {
            let before = webhooks::get(conn, auth.project_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("delivery not found".into()))?;
            let after = webhooks::replay(conn, auth.project_id, id).await?.ok_or_else(|| {
                ApiError::Conflict(format!(
                    "delivery {id} is in status '{}'; replay is only allowed for {}",
                    before.status,
                    quoted(&REPLAYABLE)
                ))
            })?;
            audit::record(
                conn,
                &auth,
                Event::new("webhook_delivery.replay", "webhook_delivery", id)
                    .before(summary(&before))
                    .after(summary(&after)),
            )
            .await?;
            Ok::<_, ApiError>(after)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(summary(&replayed)))
}
