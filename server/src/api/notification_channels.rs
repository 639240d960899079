//! `/v1/notification-channels`: Slack, Discord, GitHub or generic webhook
//! destinations for a project's alerts, filtered by event type.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde::Serialize;
use serde_json::{json, Map, Value};
use strathon_schema::channels::{self, Channel, ChannelFields};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::object;
use super::params::utc_offset;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

const TYPES: [&str; 4] = ["slack", "discord", "github", "webhook"];
pub const EVENTS: [&str; 14] = [
    "approval_request",
    "approval_expired",
    "incident",
    "policy_blocked",
    "policy_steered",
    "policy_throttled",
    "policy_alert",
    "budget_alert",
    "budget_halt",
    "heartbeat_missed",
    "behavioral_drift",
    "sdk_integrity_violation",
    "halt_created",
    "halt_cleared",
];

/// Where a project's alerts go, and which of them.
#[derive(Serialize, ToSchema)]
#[schema(as = NotificationChannel)]
pub struct ChannelView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// `slack`, `discord`, `github` or `webhook`.
    pub channel_type: String,
    pub name: String,
    /// The destination: `url` (or `webhook_url`) and, for GitHub, `repo`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// The event types sent; empty means all of them.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn view(c: &Channel) -> ChannelView {
    ChannelView {
        id: c.id,
        project_id: c.project_id,
        channel_type: c.channel_type.clone(),
        name: c.name.clone(),
        config: c.config.clone(),
        events: c.events.clone(),
        enabled: c.enabled,
        created_at: utc_offset(&c.created_at),
        updated_at: utc_offset(&c.updated_at),
    }
}

fn render(c: &Channel) -> Value {
    serde_json::to_value(view(c)).expect("a channel serializes")
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub data: Vec<ChannelView>,
}

/// `POST /v1/notification-channels`; on `PATCH` every field is optional
/// and at least one must be given.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `fields` reads the body field by field
pub struct ChannelCreate {
    /// `slack`, `discord`, `github` or `webhook`.
    channel_type: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The destination, e.g. `{"url": "https://hooks.example.com/..."}`.
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// Event types to send (see `EVENTS`); omitted or empty means all.
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `fields` reads the body field by field
pub struct ChannelPatch {
    channel_type: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// Validates whichever fields are present; `create` demands type and name.
fn fields(body: &Map<String, Value>, creating: bool) -> Result<ChannelFields, ApiError> {
    let allowed = ["channel_type", "name", "config", "events", "enabled"];
    if let Some(extra) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let mut f = ChannelFields::default();
    match body.get("channel_type").and_then(Value::as_str) {
        Some(t) if TYPES.contains(&t) => f.channel_type = Some(t.to_owned()),
        Some(t) => {
            return Err(ApiError::BadRequest(
                format!("invalid channel_type '{t}'. Valid: {TYPES:?}").replace('"', "'"),
            ))
        }
        None if creating => return Err(ApiError::field("channel_type", "Field required")),
        None => {}
    }
    match body.get("name").and_then(Value::as_str).map(str::to_owned) {
        Some(n) if !n.is_empty() && n.chars().count() <= 200 => f.name = Some(n),
        Some(_) => return Err(ApiError::field("name", "name must be 1 to 200 characters")),
        None if creating => return Err(ApiError::field("name", "Field required")),
        None => {}
    }
    match body.get("config") {
        Some(Value::Object(c)) => f.config = Some(Value::Object(c.clone())),
        Some(Value::Null) | None => {}
        Some(_) => return Err(ApiError::field("config", "config must be an object")),
    }
    if let Some(events) = body.get("events").filter(|v| !v.is_null()) {
        let events: Vec<String> = events
            .as_array()
            .ok_or_else(|| ApiError::field("events", "events must be a list of strings"))?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let invalid: Vec<&String> = events.iter().filter(|e| !EVENTS.contains(&e.as_str())).collect();
        if !invalid.is_empty() {
            return Err(ApiError::BadRequest(
                format!("invalid events: {invalid:?}").replace('"', "'"),
            ));
        }
        f.events = Some(events);
    }
    f.enabled = body.get("enabled").and_then(Value::as_bool);
    Ok(f)
}

/// Create a notification channel
#[utoipa::path(
    tag = "Notification channels",
    operation_id = "create_notification_channel",
    security(("bearer" = ["project_settings:write"])),
    request_body = ChannelCreate,
    responses(
        (status = 201, description = "The channel.", body = ChannelView,
            links(("DeleteChannel" = (operation_id = "delete_notification_channel", parameters(("channel_id" = "$response.body#/id")))))),
        (status = 400, description = "An unknown channel type or event."),
    ),
)]
#[post("/v1/notification-channels")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let f = fields(&object(body)?, true)?;
    let mut conn = state.pool.get().await?;
    let created = conn
        .transaction(async |conn| {
            let c = channels::create(conn, auth.project_id, &f).await?;
            audit::record(
                conn,
                &auth,
                Event::new("notification_channel.create", "notification_channel", c.id).after(render(&c)),
            )
            .await?;
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok(HttpResponse::Created().json(render(&created)))
}

/// List notification channels
#[utoipa::path(
    tag = "Notification channels",
    operation_id = "list_notification_channels",
    security(("bearer" = ["project_settings:read"])),
    responses((status = 200, description = "The project's channels.", body = ChannelList)),
)]
#[get("/v1/notification-channels")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let all = channels::list(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(render).collect::<Vec<_>>() })))
}

/// Change a notification channel
#[utoipa::path(
    tag = "Notification channels",
    operation_id = "update_notification_channel",
    security(("bearer" = ["project_settings:write"])),
    params(("channel_id" = uuid::Uuid, Path, description = "The channel's id.")),
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "The channel, changed.", body = ChannelView),
        (status = 400, description = "Nothing to update, an unknown type or event, or `channel_id` is not a UUID."),
    ),
)]
#[patch("/v1/notification-channels/{channel_id}")]
pub async fn patch(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let id = super::params::path_uuid(&path, "channel_id")?;
    let f = fields(&object(body)?, false)?;
    if f.channel_type.is_none() && f.name.is_none() && f.config.is_none() && f.events.is_none() && f.enabled.is_none() {
        return Err(ApiError::BadRequest("nothing to update".into()));
    }
    let mut conn = state.pool.get().await?;
    let updated = conn
        .transaction(async |conn| {
            let c = channels::update(conn, auth.project_id, id, &f)
                .await?
                .ok_or_else(|| ApiError::NotFound("channel not found".into()))?;
            audit::record(
                conn,
                &auth,
                Event::new("notification_channel.update", "notification_channel", id).after(render(&c)),
            )
            .await?;
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok(HttpResponse::Ok().json(render(&updated)))
}

/// Delete a notification channel
#[utoipa::path(
    tag = "Notification channels",
    operation_id = "delete_notification_channel",
    security(("bearer" = ["project_settings:write"])),
    params(("channel_id" = uuid::Uuid, Path, description = "The channel's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`channel_id` is not a UUID."),
    ),
)]
#[delete("/v1/notification-channels/{channel_id}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let id = super::params::path_uuid(&path, "channel_id")?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        if channels::delete(conn, auth.project_id, id).await? == 0 {
            return Err(ApiError::NotFound("channel not found".into()));
        }
        audit::record(
            conn,
            &auth,
            Event::new("notification_channel.delete", "notification_channel", id),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
