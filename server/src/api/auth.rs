//! `/v1/auth`: dashboard accounts: register, login, logout, profile,
//! password change, an owner's reset of someone else's password, and what
//! the login page may offer.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Map, Value};
use strathon_schema::{projects, users};

use super::params::{object, utc_offset};
use super::views::user_json;
use crate::accounts::password::{self, Verified};
use crate::audit::{self, Event};
use crate::auth::{bearer_token, scope, Auth, RequestMeta};
use crate::config::Mode;
use crate::error::ApiError;
use crate::login::{force_reset, issue, new_session, session_token, session_user, throttle};
use crate::state::AppState;

fn string(body: &Map<String, Value>, key: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let v = body
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field(key, "Field required"))?;
    let n = v.chars().count();
    if n < min || n > max {
        return Err(ApiError::field(
            key,
            &format!("{key} must be {min} to {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[post("/v1/auth/register")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    throttle(
        &state,
        &req,
        "register",
        "Too many registration attempts. Try again later.",
    )?;
    let body = object(body)?;
    let email = string(&body, "email", 3, 255)?.trim().to_lowercase();
    let pw = string(&body, "password", 8, 128)?;
    let display_name = match body.get("display_name") {
        Some(Value::String(d)) if d.chars().count() <= 200 => Some(d.clone()),
        Some(Value::String(_)) => {
            return Err(ApiError::field(
                "display_name",
                "display_name must be at most 200 characters",
            ))
        }
        _ => None,
    };
    let hash = password::hash(&pw, state.config.pepper_bytes());
    let client = RequestMeta::of(&req);
    let mut conn = state.pool.get().await?;
    let (user, first, token) = conn
        .transaction(async |conn| {
            let first = users::count(conn).await? == 0;
            if !first && !state.config.registration_enabled {
                return Err(ApiError::Forbidden(
                    "Registration is disabled. Ask an admin to invite you.".into(),
                ));
            }
            if !password::valid_email(&email) {
                return Err(ApiError::BadRequest("Invalid email format".into()));
            }
            password::check_policy(&pw).map_err(|m| ApiError::BadRequest(m.into()))?;
            if users::find_by_email(conn, &email).await?.is_some() {
                return Err(ApiError::Conflict("Email already registered".into()));
            }
            let user = users::create(conn, &email, display_name.as_deref(), &hash).await?;
            if first
                && state.config.mode == Mode::SelfHosted
                && projects::find(conn, projects::DEFAULT_PROJECT_ID).await?.is_some()
            {
                users::add_member(conn, projects::DEFAULT_PROJECT_ID, user.id, "owner").await?;
            }
            users::accept_invitations(conn, user.id, &email).await?;
            let token = new_session(&state, conn, &client, &user).await?;
            Ok((user, first, token))
        })
        .await?;
    let message = if first {
        "first user — auto-assigned as project owner"
    } else {
        "registered"
    };
    Ok(HttpResponse::Created().json(json!({ "token": token, "user": user_json(&user), "message": message })))
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[post("/v1/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    throttle(&state, &req, "login", "Too many login attempts. Try again later.")?;
    let body = object(body)?;
    let email = string(&body, "email", 3, 255)?.trim().to_lowercase();
    let pw = string(&body, "password", 1, 128)?;
    let pepper = state.config.pepper_bytes();
    let invalid = || ApiError::Unauthorized("Invalid email or password".into());
    let mut conn = state.pool.get().await?;
    let Some(user) = users::find_by_email(&mut conn, &email).await? else {
        password::burn(pepper);
        return Err(invalid());
    };
    let now = chrono::Utc::now();
    if let Some(until) = user.locked_until.filter(|u| *u > now) {
        let minutes = (until - now).num_minutes() + 1;
        return Err(ApiError::Locked(format!(
            "Account temporarily locked. Try again in {minutes} minutes."
        )));
    }
    if !user.is_active {
        return Err(ApiError::Forbidden("Account is deactivated".into()));
    }
    let verdict = user
        .password_hash
        .as_deref()
        .map(|h| password::verify(&pw, h, pepper))
        .unwrap_or(Verified::No);
    let rehash = match verdict {
        Verified::No => {
            let until = now + chrono::Duration::minutes(state.config.lockout_minutes);
            users::record_failure(&mut conn, user.id, state.config.lockout_attempts, until).await?;
            return Err(invalid());
        }
        Verified::Yes => None,
        Verified::YesRehash(h) => Some(h),
    };
    let client = RequestMeta::of(&req);
    let token = conn
        .transaction(async |conn| {
            users::record_login(conn, user.id, rehash.as_deref()).await?;
            if user.mfa_enabled {
                issue(
                    &state,
                    conn,
                    &client,
                    &user,
                    "mfa_challenge",
                    chrono::Duration::minutes(5),
                )
                .await
                .map(|(token, _)| token)
            } else {
                new_session(&state, conn, &client, &user).await
            }
        })
        .await?;
    if user.mfa_enabled {
        return Ok(HttpResponse::Ok().json(json!({
            "mfa_required": true, "mfa_token": token, "message": "MFA verification required",
        })));
    }
    Ok(HttpResponse::Ok().json(json!({
        "token": token, "user": user_json(&user), "message": "logged in",
        "force_password_change": user.force_password_change,
    })))
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[post("/v1/auth/logout")]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = session_token(&req, "Cannot logout an API key. Use session tokens for dashboard auth.")?;
    let mut conn = state.pool.get().await?;
    users::delete_session(&mut conn, &password::token_hash(token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[get("/v1/auth/me")]
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = session_token(
        &req,
        "/auth/me is for session-based auth. API keys don't have user profiles.",
    )?;
    let (_, user) = session_user(&state, token).await?;
    let mut conn = state.pool.get().await?;
    let memberships = users::memberships(&mut conn, user.id).await?;
    let first = memberships.first();
    Ok(HttpResponse::Ok().json(json!({
        "user": {
            "id": user.id, "email": user.email, "display_name": user.display_name,
            "created_at": utc_offset(&user.created_at), "last_login_at": user.last_login_at.as_ref().map(utc_offset),
            "mfa_enabled": user.mfa_enabled, "force_password_change": user.force_password_change,
            "role": first.map(|m| &m.3), "project_id": first.map(|m| m.0), "project_name": first.map(|m| &m.1),
        },
        "projects": memberships.iter().map(|(id, name, slug, role)| json!({"id": id, "name": name, "slug": slug, "role": role})).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/auth/me/export`: what Strathon holds about the signed-in user
/// (profile, memberships, live sessions), as one downloadable document.
#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[get("/v1/auth/me/export")]
pub async fn export_me(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let user_id = auth
        .user_id()
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    let mut conn = state.pool.get().await?;
    let user = users::find(&mut conn, user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    let memberships = users::membership_history(&mut conn, user_id).await?;
    let sessions = users::list_sessions(&mut conn, user_id).await?;
    let stamp = chrono::Utc::now();
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"strathon-my-data-{}.json\"",
                stamp.format("%Y%m%dT%H%M%SZ")
            ),
        ))
        .json(json!({
            "exported_at": utc_offset(&stamp),
            "user": {
                "email": user.email, "display_name": user.display_name,
                "created_at": utc_offset(&user.created_at),
                "last_login_at": user.last_login_at.as_ref().map(utc_offset),
                "mfa_enabled": user.mfa_enabled,
            },
            "memberships": memberships.iter().map(|(project, slug, role, joined)| json!({
                "project": project, "slug": slug, "role": role, "joined_at": utc_offset(joined),
            })).collect::<Vec<_>>(),
            "sessions": sessions.iter().map(|s| json!({
                "created_at": utc_offset(&s.created_at), "expires_at": utc_offset(&s.expires_at),
                "ip_address": s.ip_address, "user_agent": s.user_agent,
            })).collect::<Vec<_>>(),
        })))
}

/// Changes the caller's display name, the only self-editable profile field.
#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[patch("/v1/auth/me")]
pub async fn update_me(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let token = session_token(
        &req,
        "/auth/me is for session-based auth. API keys don't have user profiles.",
    )?;
    let (_, user) = session_user(&state, token).await?;
    let body = object(body)?;
    if let Some(extra) = body.keys().find(|k| k.as_str() != "display_name") {
        return Err(ApiError::field(extra, "Extra inputs are not permitted"));
    }
    let name = string(&body, "display_name", 1, 200)?.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::field(
            "display_name",
            "display_name must be 1 to 200 characters",
        ));
    }
    let mut conn = state.pool.get().await?;
    let updated = users::set_display_name(&mut conn, user.id, &name).await?;
    Ok(HttpResponse::Ok().json(user_json(&updated)))
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[post("/v1/auth/change-password")]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let token = header
        .filter(|t| !t.starts_with("stra_"))
        .ok_or_else(|| ApiError::Unauthorized("Session authentication required".into()))?;
    let (session, user) = session_user(&state, token).await?;
    let body = object(body)?;
    let current = body.get("current_password").and_then(Value::as_str).unwrap_or_default();
    let new = body.get("new_password").and_then(Value::as_str).unwrap_or_default();
    let pepper = state.config.pepper_bytes();
    let ok = user
        .password_hash
        .as_deref()
        .map(|h| !matches!(password::verify(current, h, pepper), Verified::No))
        .unwrap_or(false);
    if !ok {
        return Err(ApiError::BadRequest("Current password is incorrect".into()));
    }
    let mut conn = state.pool.get().await?;
    if user.mfa_enabled {
        let code = body.get("mfa_code").and_then(Value::as_str).unwrap_or_default();
        if code.is_empty() {
            return Err(ApiError::BadRequest(
                "An MFA code is required to change the password.".into(),
            ));
        }
        if !crate::login::second_factor(&state, &mut conn, user.id, code, true).await? {
            return Err(ApiError::BadRequest("Invalid MFA code.".into()));
        }
    }
    password::check_policy(new).map_err(|m| ApiError::BadRequest(m.into()))?;
    let hash = password::hash(new, pepper);
    let meta = RequestMeta::of(&req);
    conn.transaction(async |conn| {
        users::set_password(conn, user.id, &hash, false).await?;
        users::delete_sessions(conn, user.id, Some(session.id)).await?;
        let event = Event::new("auth.password_change", "user", user.id);
        audit::record_for_account(conn, user.id, Some(session.id), &meta, event).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Password changed successfully." })))
}

/// An owner or admin (or a key with `projects:manage`) resets another
/// user's password to a one-time value the user must change at next login.
#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[post("/v1/auth/admin-reset-password")]
pub async fn admin_reset_password(
    auth: Auth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let allowed = match auth.role.as_deref() {
        Some(role) => matches!(role, "owner" | "admin"),
        None => auth.has(scope::PROJECTS_MANAGE),
    };
    if !allowed {
        return Err(ApiError::Forbidden(match auth.role {
            Some(_) => "Only owners and admins can reset other users' passwords".into(),
            None => "API key must have the projects:manage scope to reset passwords".into(),
        }));
    }
    let body = object(body)?;
    let email = body
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let mut conn = state.pool.get().await?;
    let user = users::find_by_email(&mut conn, &email)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    let temporary = force_reset(&state, &mut conn, &auth, user.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "temporary_password": temporary,
        "message": format!("Password reset for {email}. All sessions invalidated. User must change password on next login."),
    })))
}

#[utoipa::path(tag = "Accounts", responses((status = 200, description = "OK")))]
#[get("/v1/auth/capabilities")]
pub async fn capabilities(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The first user may always register (they become the owner), so the
    // sign-in page needs to know whether anyone has yet.
    let setup_required = users::count(&mut *state.pool.get().await?).await? == 0;
    Ok(HttpResponse::Ok().json(json!({
        "setup_required": setup_required,
        "registration_enabled": state.config.registration_enabled,
        "smtp_enabled": state.mailer.is_some(),
        "mfa_available": true,
        "mode": match state.config.mode { Mode::SelfHosted => "self-hosted", Mode::Cloud => "cloud" },
    })))
}
