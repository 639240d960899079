//! `/v1/auth/mfa`: enrolling an authenticator, finishing a login with a
//! code, and turning the second factor off.
//!
//! A login for an enrolled user yields only an `mfa_challenge` token,
//! good for five minutes and for nothing but `POST /v1/auth/mfa/verify`
//! (the original's challenge token was a full session).

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::Value;
use strathon_schema::{sealed, users};

use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{AccountMessage, SessionAnswer};
use super::params::object;
use super::views::UserView;
use crate::accounts::password::{self, Verified};
use crate::accounts::{mfa, password::token_hash};
use crate::audit::{self, Event};
use crate::auth::RequestMeta;
use crate::error::ApiError;
use crate::login::{new_session, second_factor, session_token, session_user};
use crate::rate_limit::Decision;
use crate::state::AppState;

const API_KEY: &str = "This endpoint requires session auth, not an API key";

fn code_field(body: &serde_json::Map<String, Value>) -> String {
    body.get("code").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A new authenticator secret, not yet in force.
#[derive(Serialize, ToSchema)]
pub struct MfaSecret {
    /// Base32, for typing into an authenticator.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: String,
    pub message: String,
}

/// Start MFA enrolment
///
/// A new secret to scan; MFA turns on only once a code from it is confirmed
/// with `POST /v1/auth/mfa/verify-setup`. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "setup_mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to scan.", body = MfaSecret),
        (status = 400, description = "The credential is an API key; MFA belongs to users."),
    ),
)]
#[post("/v1/auth/mfa/setup")]
pub async fn setup(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    new_secret(req, state).await
}

/// Start MFA enrolment (alias)
///
/// The original's other name for `POST /v1/auth/mfa/setup`.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "enable_mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to scan.", body = MfaSecret),
        (status = 400, description = "The credential is an API key; MFA belongs to users."),
    ),
)]
#[post("/v1/auth/mfa/enable")]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    new_secret(req, state).await
}

/// `POST /v1/auth/mfa/setup` (and `/enable`): a new secret to scan; MFA
/// turns on only once a code from it is confirmed.
/// A new, unconfirmed TOTP secret for the signed-in user.
async fn new_secret(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (_, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let secret = mfa::new_secret();
    let mut conn = state.pool.get().await?;
    users::set_totp_secret(
        &mut conn,
        user.id,
        &sealed::seal(&secret, state.config.encryption_key()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(MfaSecret {
        otpauth_uri: mfa::otpauth_uri(&user.email, &secret),
        secret,
        message: "Scan the QR code with your authenticator app, then verify".into(),
    }))
}

/// A code from the authenticator.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct MfaCode {
    /// The current six-digit code.
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodes {
    /// Single-use recovery codes, shown once.
    pub backup_codes: Vec<String>,
    pub message: String,
}

/// Confirm MFA enrolment
///
/// A code from the new secret turns MFA on and hands out the recovery codes,
/// once. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "verify_mfa_setup",
    security(("bearer" = [])),
    request_body = MfaCode,
    responses(
        (status = 200, description = "MFA is on; the recovery codes.", body = BackupCodes),
        (status = 400, description = "The code is wrong or no enrolment is pending, or the credential is an API key."),
    ),
)]
#[post("/v1/auth/mfa/verify-setup")]
pub async fn verify_setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (session, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let code = code_field(&object(body)?);
    let mut conn = state.pool.get().await?;
    if !second_factor(&state, &mut conn, user.id, &code, false).await? {
        return Err(ApiError::BadRequest("Invalid TOTP code or no pending MFA setup".into()));
    }
    let (codes, hashes) = mfa::recovery_codes();
    let meta = RequestMeta::of(&req);
    conn.transaction(async |conn| {
        users::enable_mfa(conn, user.id, &hashes).await?;
        let event = Event::new("auth.mfa_enable", "user", user.id);
        audit::record_for_account(conn, user.id, Some(session.id), &meta, event).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(BackupCodes {
        backup_codes: codes,
        message: "MFA enabled. Store these backup codes safely.".into(),
    }))
}

/// `POST /v1/auth/mfa/disable`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct DisableMfa {
    password: String,
    /// A current authenticator code (a recovery code is not enough).
    code: String,
}

/// Turn MFA off
///
/// Needs both the password and a live authenticator code. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "disable_mfa",
    security(("bearer" = [])),
    request_body = DisableMfa,
    responses(
        (status = 200, description = "`MFA disabled`.", body = AccountMessage),
        (status = 400, description = "`Invalid TOTP code`, or the credential is an API key."),
        (status = 401, description = "`Invalid password`, or no valid session."),
    ),
)]
#[post("/v1/auth/mfa/disable")]
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (session, user) = session_user(&state, session_token(&req, API_KEY)?).await?;
    let body = object(body)?;
    let pw = body.get("password").and_then(Value::as_str).unwrap_or_default();
    let pepper = state.config.pepper_bytes();
    let pw_ok = user
        .password_hash
        .as_deref()
        .is_some_and(|h| !matches!(password::verify(pw, h, pepper), Verified::No));
    if !pw_ok {
        return Err(ApiError::Unauthorized("Invalid password".into()));
    }
    let mut conn = state.pool.get().await?;
    if !second_factor(&state, &mut conn, user.id, &code_field(&body), false).await? {
        return Err(ApiError::BadRequest("Invalid TOTP code".into()));
    }
    let meta = RequestMeta::of(&req);
    conn.transaction(async |conn| {
        users::disable_mfa(conn, user.id).await?;
        let event = Event::new("auth.mfa_disable", "user", user.id);
        audit::record_for_account(conn, user.id, Some(session.id), &meta, event).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(AccountMessage {
        message: "MFA disabled".into(),
    }))
}

/// `POST /v1/auth/mfa/verify`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct MfaVerify {
    /// The challenge token `POST /v1/auth/login` returned.
    mfa_token: String,
    /// A current authenticator code or an unused recovery code.
    code: String,
}

/// Finish signing in with MFA
///
/// Trades a login's challenge token and a code for a session. Five wrong
/// codes end the challenge. The challenge token in the body is the
/// credential.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "verify_mfa",
    security(()),
    request_body = MfaVerify,
    responses(
        (status = 200, description = "Signed in.", body = SessionAnswer),
        (status = 401, description = "The challenge token is unknown or expired, or the code is wrong."),
    ),
)]
#[post("/v1/auth/mfa/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object(body)?;
    let token = body.get("mfa_token").and_then(Value::as_str).unwrap_or_default();
    let hash = token_hash(token);
    let mut conn = state.pool.get().await?;
    let (challenge, user) = users::find_session(&mut conn, &hash)
        .await?
        .filter(|(s, _)| s.kind == "mfa_challenge")
        .ok_or_else(|| ApiError::Unauthorized("Invalid or expired MFA token".into()))?;
    if !second_factor(&state, &mut conn, user.id, &code_field(&body), true).await? {
        let key = format!("mfa:{}", challenge.id);
        if let Decision::Limited { .. } = state.mfa_limiter.check(&key, std::time::Instant::now()) {
            users::delete_session(&mut conn, &hash).await?;
            return Err(ApiError::Unauthorized(
                "Too many incorrect MFA codes. Log in again.".into(),
            ));
        }
        return Err(ApiError::Unauthorized("Invalid MFA code".into()));
    }
    let client = RequestMeta::of(&req);
    let session = conn
        .transaction(async |conn| {
            users::delete_session(conn, &hash).await?;
            new_session(&state, conn, &client, &user).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(SessionAnswer {
        token: session,
        user: UserView::of(&user),
        message: "MFA verified, logged in".into(),
    }))
}
