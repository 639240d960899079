//! Signing people in, shared by the account endpoints: sessions and their
//! tokens, the login throttle, second factors, and forced password resets.

use actix_web::http::header::AUTHORIZATION;
use actix_web::HttpRequest;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use strathon_schema::{sealed, users};
use uuid::Uuid;

use crate::accounts::{mfa, password};
use crate::audit::{self, Event};
use crate::auth::{bearer_token, Auth, RequestMeta};
use crate::error::ApiError;
use crate::rate_limit::Decision;
use crate::state::AppState;

/// One attempt from this client against the login throttle.
pub fn throttle(state: &AppState, req: &HttpRequest, bucket: &str, message: &str) -> Result<(), ApiError> {
    let ip =
        crate::auth::client_ip(req, state.config.rate_limit_trust_forwarded_for).unwrap_or_else(|| "unknown".into());
    match state
        .login_limiter
        .check(&format!("{bucket}:{ip}"), std::time::Instant::now())
    {
        Decision::Allowed { .. } => Ok(()),
        Decision::Limited { retry_after_secs } => Err(ApiError::TooManyRequests {
            detail: message.into(),
            retry_after_secs,
        }),
    }
}

/// Signs the user in: a session, audited as `auth.login` in each of
/// their projects (so an owner sees who entered and from where).
pub async fn new_session(
    state: &AppState,
    conn: &mut strathon_schema::AsyncPgConnection,
    client: &RequestMeta,
    user: &users::User,
) -> Result<String, ApiError> {
    let ttl = chrono::Duration::hours(state.config.session_ttl_hours);
    let (token, session) = issue(state, conn, client, user, "session", ttl).await?;
    let event = Event::new("auth.login", "session", session);
    audit::record_for_account(conn, user.id, Some(session), client, event).await?;
    Ok(token)
}

/// A token of the given kind and its session id; the user's oldest
/// sessions make room for it.
pub async fn issue(
    state: &AppState,
    conn: &mut strathon_schema::AsyncPgConnection,
    client: &RequestMeta,
    user: &users::User,
    kind: &str,
    ttl: chrono::Duration,
) -> Result<(String, Uuid), ApiError> {
    users::make_room(conn, user.id, state.config.max_sessions).await?;
    let (token, hash) = password::session_token();
    let expires = chrono::Utc::now() + ttl;
    let session = users::create_session(
        conn,
        user.id,
        kind,
        &hash,
        expires,
        client.source_ip.as_deref(),
        client.user_agent.as_deref(),
    )
    .await?;
    Ok((token, session.id))
}

/// The caller's session token, refusing API keys with `api_key_message`.
pub fn session_token<'a>(req: &'a HttpRequest, api_key_message: &str) -> Result<&'a str, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("Missing Authorization header".into()))?;
    let token = bearer_token(header).ok_or_else(|| ApiError::Unauthorized("Malformed Authorization header".into()))?;
    if token.starts_with("stra_") {
        return Err(ApiError::BadRequest(api_key_message.into()));
    }
    Ok(token)
}

pub async fn session_user(state: &AppState, token: &str) -> Result<(users::Session, users::User), ApiError> {
    let mut conn = state.pool.get().await?;
    users::find_session(&mut conn, &password::token_hash(token))
        .await?
        .filter(|(s, _)| s.kind == "session")
        .ok_or_else(|| ApiError::Unauthorized("Invalid or expired session token".into()))
}

/// Replaces the user's password with a one-time one they must change at
/// next login, signs them out everywhere, and returns it.
pub async fn force_reset(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    auth: &Auth,
    user_id: Uuid,
) -> Result<String, ApiError> {
    let temporary = password::temporary(16);
    let hash = password::hash(&temporary, state.config.pepper_bytes());
    conn.transaction(async |conn| {
        users::set_password(conn, user_id, &hash, true).await?;
        users::delete_sessions(conn, user_id, None).await?;
        crate::audit::record(
            conn,
            auth,
            crate::audit::Event::new("user.reset_password", "user", user_id),
        )
        .await
    })
    .await?;
    Ok(temporary)
}

/// Whether `code` is the user's current TOTP code, not used before, or,
/// when allowed, one of their unused recovery codes (which it uses up).
pub async fn second_factor(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    code: &str,
    allow_recovery: bool,
) -> Result<bool, ApiError> {
    let (stored, _) = users::mfa_state(conn, user_id).await?;
    let secret = stored.and_then(|s| sealed::open(&s, state.config.encryption_key()));
    if let Some(step) = secret.and_then(|s| mfa::code_step(&s, code, mfa::now())) {
        return Ok(users::claim_totp_step(conn, user_id, step as i64).await?);
    }
    Ok(allow_recovery && users::consume_recovery_code(conn, user_id, &mfa::recovery_hash(code)).await?)
}
