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
use serde_json::{json, Value};
use strathon_actors::webhooks::signature::SECRET_PREFIX;
use strathon_schema::sealed;
use strathon_schema::webhooks::{self, SigningKey};

use super::params::{self, utc_offset, Params};
use crate::accounts::password::random;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

fn render(k: &SigningKey) -> Value {
    json!({
        "id": k.id, "project_id": k.project_id, "prefix": k.prefix,
        "created_at": utc_offset(&k.created_at), "revoked_at": k.revoked_at.as_ref().map(utc_offset),
    })
}

#[utoipa::path(tag = "Webhooks", responses((status = 200, description = "OK")))]
#[get("/v1/webhook_signing_keys")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::WEBHOOK_SIGNING_KEYS_READ)?;
    let mut conn = state.pool.get().await?;
    let found = webhooks::list_keys(&mut conn, auth.project_id, params::flag(&query, "include_revoked")).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhook_signing_keys": found.iter().map(render).collect::<Vec<_>>() })))
}

/// Any body is ignored: a key has nothing to configure.
#[utoipa::path(tag = "Webhooks", responses((status = 200, description = "OK")))]
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
    let mut body = render(&key);
    body["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(body))
}

#[utoipa::path(tag = "Webhooks", responses((status = 200, description = "OK")))]
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
