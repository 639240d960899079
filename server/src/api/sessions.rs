//! `/v1/auth/sessions`: a user's own sign-ins, so a lost laptop or a shared
//! browser can be signed out from anywhere.

use actix_web::{delete, get};
use actix_web::{web, HttpRequest, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::json;
use strathon_schema::users;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{self, utc_offset};
use crate::audit::{self, Event};
use crate::auth::RequestMeta;
use crate::error::ApiError;
use crate::login::{session_token, session_user};
use crate::state::AppState;

const API_KEY: &str = "Sessions belong to dashboard users. API keys have none.";

/// One live sign-in of the user.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: String,
    pub expires_at: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// This is the session making the request.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// List my sessions
///
/// The signed-in user's live sessions, so a lost laptop or a shared browser
/// can be signed out from anywhere. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "list_sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions.", body = SessionList),
        (status = 400, description = "The credential is an API key, which has no sessions."),
    ),
)]
#[get("/v1/auth/sessions")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (current, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let mut conn = state.pool.get().await?;
    let live = users::list_sessions(&mut conn, user.id).await?;
    let sessions = live
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            created_at: utc_offset(&s.created_at),
            expires_at: utc_offset(&s.expires_at),
            ip_address: s.ip_address,
            user_agent: s.user_agent,
            current: s.id == current.id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions }))
}

/// End a session
///
/// Ends one of the user's sessions (the current one too: that is a logout).
/// Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "revoke_session",
    security(("bearer" = [])),
    params(("session_id" = Uuid, Path, description = "The session's id.")),
    responses(
        (status = 204, description = "Ended."),
        (status = 400, description = "`invalid session_id` (not a UUID), or the credential is an API key."),
    ),
)]
#[delete("/v1/auth/sessions/{session_id}")]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (current, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let id = params::path_uuid(&path, "session_id")?;
    let mut conn = state.pool.get().await?;
    let meta = RequestMeta::of(&req);
    conn.transaction(async |conn| {
        if !users::delete_session_by_id(conn, user.id, id).await? {
            return Err(ApiError::NotFound("session not found".into()));
        }
        let event = Event::new("auth.session_revoke", "session", id);
        audit::record_for_account(conn, user.id, Some(current.id), &meta, event).await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct RevokedSessions {
    /// How many sessions ended.
    pub revoked: u64,
}

/// End my other sessions
///
/// Ends every session of the user but the calling one. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "revoke_other_sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many ended.", body = RevokedSessions),
        (status = 400, description = "The credential is an API key, which has no sessions."),
    ),
)]
#[delete("/v1/auth/sessions")]
pub async fn revoke_others(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (current, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let meta = RequestMeta::of(&req);
    let mut conn = state.pool.get().await?;
    let revoked = conn
        .transaction(async |conn| {
            let revoked = users::delete_sessions(conn, user.id, Some(current.id)).await?;
            let event = Event::new("auth.session_revoke_others", "user", user.id).after(json!({ "revoked": revoked }));
            audit::record_for_account(conn, user.id, Some(current.id), &meta, event).await?;
            Ok::<_, ApiError>(revoked)
        })
        .await?;
    Ok(HttpResponse::Ok().json(RevokedSessions {
        revoked: revoked as u64,
    }))
}
