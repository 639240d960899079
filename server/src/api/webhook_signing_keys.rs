//! `/v1/webhook_signing_keys`: the secrets outbound webhooks are signed
//! with. The `whsec_…` secret is shown once at creation; the receiver keeps
//! it sealed (Fernet, `STRATHON_ENCRYPTION_KEY`) because it must keep
//! signing after a restart. Every live key signs every delivery, so a key is
//! rotated by creating the new one, updating receivers, then revoking the old.

use actix_web::{delete, get, post};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use diesel_async::AsyncConnection as _;
use serde::Serialize;
use serde_json::Value;
use strathon_actors::webhooks::signature::SECRET_PREFIX;
use strathon_schema::sealed;
use strathon_schema::webhooks::{self, SigningKey};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{self, utc_offset, Params};
use crate::accounts::password::random;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// A key outbound webhooks are signed with; its secret is never shown again.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookSigningKey)]
pub struct SigningKeyView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Four hex digits that tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The `whsec_…` secret: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn view(k: &SigningKey) -> SigningKeyView {
    SigningKeyView {
        id: k.id,
        project_id: k.project_id,
        prefix: k.prefix.clone(),
        created_at: utc_offset(&k.created_at),
        revoked_at: k.revoked_at.as_ref().map(utc_offset),
        secret: None,
    }
}

fn render(k: &SigningKey) -> Value {
    serde_json::to_value(view(k)).expect("a key serializes")
}

#[derive(Serialize, ToSchema)]
pub struct SigningKeyList {
    pub webhook_signing_keys: Vec<SigningKeyView>,
}

/// List webhook signing keys
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "list_webhook_signing_keys",
    security(("bearer" = ["webhook_signing_keys:read"])),
    params(("include_revoked" = Option<bool>, Query, description = "Revoked keys too.")),
    responses((status = 200, description = "The keys.", body = SigningKeyList)),
)]
#[get("/v1/webhook_signing_keys")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_SIGNING_KEYS_READ)?;
    let mut conn = state.pool.get().await?;
    let found = webhooks::list_keys(&mut conn, auth.project_id, params::flag(&query, "include_revoked")).await?;
    Ok(HttpResponse::Ok().json(SigningKeyList {
        webhook_signing_keys: found.iter().map(view).collect(),
    }))
}

/// Create a webhook signing key
///
/// The secret is in this answer only.
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "create_webhook_signing_key",
    security(("bearer" = ["webhook_signing_keys:write"])),
    responses(
        (status = 201, description = "The key and its secret.", body = SigningKeyView,
            links(("RevokeSigningKey" = (operation_id = "revoke_webhook_signing_key", parameters(("key_id" = "$response.body#/id")))))),
    ),
)]
#[post("/v1/webhook_signing_keys")]
pub async fn create(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_SIGNING_KEYS_WRITE)?;
    let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode(random::<24>()));
    let prefix = hex::encode(random::<2>());
    let hash = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let stored = sealed::seal(&secret, state.config.encryption_key());
    let mut conn = state.pool.get().await?;
    let key = conn
        .transaction(async |conn| {
            let key = webhooks::create_key(conn, auth.project_id, &prefix, hash.as_ref(), &stored).await?;
            audit::record(
                conn,
                &auth,
                Event::new("webhook_signing_key.create", "webhook_signing_key", key.id).after(render(&key)),
            )
            .await?;
            Ok::<_, ApiError>(key)
        })
        .await?;
    // Any body is ignored: a key has nothing to configure.
    let mut body = view(&key);
    body.secret = Some(secret);
    Ok(HttpResponse::Created().json(body))
}

/// Revoke a webhook signing key
#[utoipa::path(
    tag = "Webhooks",
    operation_id = "revoke_webhook_signing_key",
    security(("bearer" = ["webhook_signing_keys:write"])),
    params(("key_id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key, revoked.", body = SigningKeyView),
        (status = 400, description = "`key_id` is not a UUID."),
    ),
)]
#[delete("/v1/webhook_signing_keys/{key_id}")]
pub async fn revoke(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_SIGNING_KEYS_WRITE)?;
    let id = params::path_uuid(&path, "key_id")?;
    let mut conn = state.pool.get().await?;
    let key = conn
        .transaction(async |conn| {
            let key = webhooks::revoke_key(conn, auth.project_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("signing key not found or not owned by this project".into()))?;
            audit::record(
                conn,
                &auth,
                Event::new("webhook_signing_key.revoke", "webhook_signing_key", key.id).after(render(&key)),
            )
            .await?;
            Ok::<_, ApiError>(key)
        })
        .await?;
    Ok(HttpResponse::Ok().json(render(&key)))
}
