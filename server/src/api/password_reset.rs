//! `/v1/auth/reset-password/*`: a forgotten password reset through a token
//! sent by email. Without SMTP configured it answers 400 and points to the
//! admin reset and the offline CLI.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use diesel_async::AsyncConnection as _;
use serde_json::Value;
use strathon_schema::{password_resets, users};

use super::auth::AccountMessage;
use super::params::email_field;
use super::params::object;
use crate::accounts::password::{self, random, token_hash};
use crate::audit::{self, Event};
use crate::auth::RequestMeta;
use crate::error::ApiError;
use crate::login::throttle;
use crate::state::AppState;

const SENT: &str = "If an account with that email exists, a reset link has been sent.";
const TOKEN_TTL: chrono::Duration = chrono::Duration::hours(1);

/// `POST /v1/auth/reset-password/request`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ResetRequest {
    /// Trimmed and lower-cased, then it must look like `name@host.tld`
    /// (400 `Invalid email format`).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\s*$"
    )]
    email: String,
}

/// Ask for a password reset email
///
/// Mails a one-hour reset token when the address has an active account; the
/// answer is the same either way. Needs SMTP (`STRATHON_SMTP_HOST`), else
/// 400. Limited to a few requests a minute per client. No credential needed.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "request_password_reset",
    security(()),
    request_body = ResetRequest,
    responses(
        (status = 200, description = "`If an account with that email exists, a reset link has been sent.`", body = AccountMessage),
        (status = 400, description = "`Invalid email format`; or email is not configured: use the admin reset or `strathon admin reset-password`."),
    ),
)]
#[post("/v1/auth/reset-password/request")]
pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    send_reset_token(req, state, body).await
}

/// Ask for a password reset email (alias)
///
/// The original's other name for `POST /v1/auth/reset-password/request`.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "request_password_reset_legacy",
    security(()),
    request_body = ResetRequest,
    responses(
        (status = 200, description = "`If an account with that email exists, a reset link has been sent.`", body = AccountMessage),
        (status = 400, description = "`Invalid email format`; or email is not configured: use the admin reset or `strathon admin reset-password`."),
    ),
)]
#[post("/v1/auth/password-reset-request")]
pub async fn request_legacy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    send_reset_token(req, state, body).await
}

/// Mails a one-hour reset token when the address has an account; the
/// answer is the same either way.
async fn send_reset_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    throttle(
        &state,
        &req,
        "reset",
        "Too many password reset requests. Try again later.",
    )?;
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::BadRequest(
            "Password reset by email is not configured (STRATHON_SMTP_HOST is unset). Ask an owner or admin to use \
             POST /v1/auth/admin-reset-password, or run `strathon admin reset-password` on the host."
                .into(),
        ));
    };
    let body = object(body)?;
    let email = email_field(&body)?;
    let mut conn = state.pool.get().await?;
    if let Some(user) = users::find_by_email(&mut conn, &email).await?.filter(|u| u.is_active) {
        let token = URL_SAFE_NO_PAD.encode(random::<32>());
        password_resets::create(&mut conn, user.id, &token_hash(&token), chrono::Utc::now() + TOKEN_TTL).await?;
        // Sent in the background: the answer takes as long whether or not
        // the account exists, so it reveals nothing.
        actix_rt::spawn(async move {
            match mailer.send_reset(&user.email, &token).await {
                Ok(()) => tracing::info!(user_id = %user.id, "password reset email sent"),
                Err(e) => tracing::warn!(user_id = %user.id, error = %e, "password reset email could not be sent"),
            }
        });
    }
    Ok(HttpResponse::Ok().json(AccountMessage { message: SENT.into() }))
}

/// `POST /v1/auth/reset-password/confirm`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ResetConfirm {
    /// The token from the email.
    token: String,
    /// At least 8 characters with a letter, a digit and another character.
    new_password: String,
}

/// Reset a password with an emailed token
///
/// Sets the new password when the token is valid, unused and unexpired,
/// lifts a lockout and signs the user out everywhere. The token is the
/// credential.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "confirm_password_reset",
    security(()),
    request_body = ResetConfirm,
    responses(
        (status = 200, description = "`Password reset successfully. All sessions invalidated.`", body = AccountMessage),
        (status = 400, description = "`Invalid or expired reset token`, or the new password is too weak."),
    ),
)]
#[post("/v1/auth/reset-password/confirm")]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    reset_with_token(req, state, body).await
}

/// Reset a password with an emailed token (alias)
///
/// The original's other name for `POST /v1/auth/reset-password/confirm`.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "confirm_password_reset_legacy",
    security(()),
    request_body = ResetConfirm,
    responses(
        (status = 200, description = "`Password reset successfully. All sessions invalidated.`", body = AccountMessage),
        (status = 400, description = "`Invalid or expired reset token`, or the new password is too weak."),
    ),
)]
#[post("/v1/auth/password-reset")]
pub async fn confirm_legacy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    reset_with_token(req, state, body).await
}

/// Sets the new password when the token is valid, unused and unexpired.
async fn reset_with_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object(body)?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let new = body.get("new_password").and_then(Value::as_str).unwrap_or_default();
    password::check_policy(new).map_err(|m| ApiError::BadRequest(m.into()))?;
    let hash = password::hash(new, state.config.pepper_bytes());
    let mut conn = state.pool.get().await?;
    let meta = RequestMeta::of(&req);
    conn.transaction(async |conn| {
        let user_id = password_resets::redeem(conn, &token_hash(&token))
            .await?
            .ok_or_else(|| ApiError::BadRequest("Invalid or expired reset token".into()))?;
        // Proving the mailbox also lifts a lockout.
        users::set_password(conn, user_id, &hash, false).await?;
        users::delete_sessions(conn, user_id, None).await?;
        let event = Event::new("auth.password_reset", "user", user_id);
        audit::record_for_account(conn, user_id, None, &meta, event).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(AccountMessage {
        message: "Password reset successfully. All sessions invalidated.".into(),
    }))
}
