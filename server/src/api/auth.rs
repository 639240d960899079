//! `/v1/auth`: dashboard accounts: register, login, logout, profile,
//! password change, an owner's reset of someone else's password, and what
//! the login page may offer.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Map, Value};
use strathon_schema::{projects, users};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{object, utc_offset};
use super::views::{user_json, UserView};
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

/// `POST /v1/auth/register`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct RegisterBody {
    /// Trimmed and lower-cased, then it must look like `name@host.tld`
    /// (400 `Invalid email format`).
    #[schema(
        min_length = 3,
        max_length = 255,
        pattern = r"^\s*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\s*$"
    )]
    email: String,
    /// At least 8 characters with a letter, a digit and another character
    /// (400 otherwise).
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(max_length = 200)]
    display_name: Option<String>,
}

/// A new session: the token to send as `Authorization: Bearer <token>`.
#[derive(Serialize, ToSchema)]
pub struct SessionAnswer {
    /// The session token (86 characters); give it with `X-Project-Id`.
    pub token: String,
    pub user: UserView,
    pub message: String,
}

/// Create an account
///
/// Open to anyone while the instance has no user (the first becomes the
/// default project's owner), afterwards only when registration is enabled.
/// Pending invitations for the email become memberships. Signs the new user
/// in. Limited to a few attempts a minute per client.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "register",
    security(()),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered and signed in; `message` says whether this first user became the owner.", body = SessionAnswer),
        (status = 400, description = "`Invalid email format`, or the password is too weak."),
        (status = 403, description = "Registration is disabled (ask an admin for an invitation)."),
        (status = 409, description = "`Email already registered`."),
    ),
)]
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
    Ok(HttpResponse::Created().json(SessionAnswer {
        token,
        user: UserView::of(&user),
        message: message.into(),
    }))
}

/// `POST /v1/auth/login`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct LoginBody {
    /// Trimmed and lower-cased.
    #[schema(min_length = 3, max_length = 255)]
    email: String,
    #[schema(min_length = 1, max_length = 128)]
    password: String,
}

/// Signed in.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the `login` answer
pub struct LoggedIn {
    token: String,
    user: UserView,
    /// `logged in`.
    message: String,
    /// The password was reset by an admin: change it now.
    force_password_change: bool,
}

/// The account has a second factor: finish with `POST /v1/auth/mfa/verify`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the `login` answer
pub struct MfaChallenge {
    /// Always true.
    mfa_required: bool,
    /// Good for five minutes and only for `POST /v1/auth/mfa/verify`.
    mfa_token: String,
    message: String,
}

/// A session, or a second-factor challenge.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the `login` answer
#[serde(untagged)]
pub enum LoginAnswer {
    LoggedIn(LoggedIn),
    MfaChallenge(MfaChallenge),
}

/// Sign in
///
/// Email and password for a session token, or, when the account has a
/// second factor, a challenge token for `POST /v1/auth/mfa/verify`. Five
/// wrong passwords lock the account for a while (423). Limited to a few
/// attempts a minute per client.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "login",
    security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "A session, or an MFA challenge.", body = LoginAnswer),
        (status = 401, description = "`Invalid email or password`."),
        (status = 403, description = "`Account is deactivated`."),
        (status = 423, description = "Too many failed attempts: the account is locked for some minutes."),
    ),
)]
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

/// Sign out
///
/// Ends the calling session (session token only; an unknown or expired
/// token is fine too).
#[utoipa::path(
    tag = "Accounts",
    operation_id = "logout",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out."),
        (status = 400, description = "The credential is an API key, which has no session to end."),
    ),
)]
#[post("/v1/auth/logout")]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = session_token(&req, "Cannot logout an API key. Use session tokens for dashboard auth.")?;
    let mut conn = state.pool.get().await?;
    users::delete_session(&mut conn, &password::token_hash(token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, with their role in their first project.
#[derive(Serialize, ToSchema)]
pub struct MeUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub mfa_enabled: bool,
    pub force_password_change: bool,
    /// The role in the first project (by name), null without one.
    pub role: Option<String>,
    pub project_id: Option<Uuid>,
    pub project_name: Option<String>,
}

/// A project the user belongs to.
#[derive(Serialize, ToSchema)]
pub struct MeProject {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// `owner`, `admin`, `operator` or `viewer`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeAnswer {
    pub user: MeUser,
    /// Live projects, by name.
    pub projects: Vec<MeProject>,
}

/// Read the signed-in user
///
/// The session token's user and the projects they belong to (session token
/// only; no `X-Project-Id` needed).
#[utoipa::path(
    tag = "Accounts",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user and their projects.", body = MeAnswer),
        (status = 400, description = "The credential is an API key, which has no user profile."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(MeAnswer {
        user: MeUser {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            created_at: utc_offset(&user.created_at),
            last_login_at: user.last_login_at.as_ref().map(utc_offset),
            mfa_enabled: user.mfa_enabled,
            force_password_change: user.force_password_change,
            role: first.map(|m| m.3.clone()),
            project_id: first.map(|m| m.0),
            project_name: first.map(|m| m.1.clone()),
        },
        projects: memberships
            .into_iter()
            .map(|(id, name, slug, role)| MeProject { id, name, slug, role })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ExportUser {
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub mfa_enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ExportMembership {
    /// The project's name.
    pub project: String,
    pub slug: String,
    pub role: String,
    pub joined_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExportSession {
    pub created_at: String,
    pub expires_at: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Everything held about one user.
#[derive(Serialize, ToSchema)]
pub struct MyDataExport {
    pub exported_at: String,
    pub user: ExportUser,
    pub memberships: Vec<ExportMembership>,
    /// Live sessions, newest first.
    pub sessions: Vec<ExportSession>,
}

/// Export my data
///
/// What Strathon holds about the signed-in user (profile, memberships, live
/// sessions), as one downloadable JSON document. Needs a session: an API key
/// has no user (400).
#[utoipa::path(
    tag = "Accounts",
    operation_id = "export_my_data",
    security(("bearer" = ["audit:read"])),
    responses(
        (status = 200, description = "The document, as an attachment.", body = MyDataExport,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"strathon-my-data-<UTC stamp>.json\"`"))),
        (status = 400, description = "The caller is an API key, which has no user."),
    ),
)]
#[get("/v1/auth/me/export")]
pub async fn export_me(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let user_id = auth.user_id().ok_or_else(|| {
        ApiError::BadRequest("/auth/me/export is a user's own data. API keys don't have user profiles.".into())
    })?;
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
        .json(MyDataExport {
            exported_at: utc_offset(&stamp),
            user: ExportUser {
                email: user.email,
                display_name: user.display_name,
                created_at: utc_offset(&user.created_at),
                last_login_at: user.last_login_at.as_ref().map(utc_offset),
                mfa_enabled: user.mfa_enabled,
            },
            memberships: memberships
                .into_iter()
                .map(|(project, slug, role, joined)| ExportMembership {
                    project,
                    slug,
                    role,
                    joined_at: utc_offset(&joined),
                })
                .collect(),
            sessions: sessions
                .into_iter()
                .map(|s| ExportSession {
                    created_at: utc_offset(&s.created_at),
                    expires_at: utc_offset(&s.expires_at),
                    ip_address: s.ip_address,
                    user_agent: s.user_agent,
                })
                .collect(),
        }))
}

/// `PATCH /v1/auth/me`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// Trimmed; must not be blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    display_name: String,
}

/// Rename the signed-in user
///
/// Changes the caller's display name, the only self-editable profile field
/// (session token only).
#[utoipa::path(
    tag = "Accounts",
    operation_id = "update_me",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses(
        (status = 200, description = "The user, renamed.", body = UserView),
        (status = 400, description = "The credential is an API key, which has no user profile."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(UserView::of(&updated)))
}

/// `POST /v1/auth/change-password`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ChangePassword {
    current_password: String,
    /// At least 8 characters with a letter, a digit and another character.
    new_password: String,
    /// A current authenticator or recovery code; required when the account
    /// has MFA.
    mfa_code: Option<String>,
}

/// A confirmation.
#[derive(Serialize, ToSchema)]
pub struct AccountMessage {
    pub message: String,
}

/// Change my password
///
/// Needs the current password (and a second-factor code when MFA is on);
/// signs out every other session of the user. Session token only.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "change_password",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 200, description = "`Password changed successfully.`", body = AccountMessage),
        (status = 400, description = "The current password or MFA code is wrong or missing, or the new password is too weak."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(AccountMessage {
        message: "Password changed successfully.".into(),
    }))
}

/// `POST /v1/auth/admin-reset-password`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct AdminResetPassword {
    /// The account's email (any case).
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct TemporaryPassword {
    /// A one-time password the user must change at next login.
    pub temporary_password: String,
    pub message: String,
}

/// Reset a user's password
///
/// An owner or admin (by session), or a key with `projects:manage`, sets
/// another user's password to a one-time value they must change at next
/// login, and signs them out everywhere.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "admin_reset_password",
    security(("bearer" = ["projects:manage"])),
    request_body = AdminResetPassword,
    responses(
        (status = 200, description = "The temporary password (shown once).", body = TemporaryPassword),
        (status = 404, description = "`User not found`."),
    ),
)]
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
    Ok(HttpResponse::Ok().json(TemporaryPassword {
        temporary_password: temporary,
        message: format!(
            "Password reset for {email}. All sessions invalidated. User must change password on next login."
        ),
    }))
}

/// What the sign-in page may offer.
#[derive(Serialize, ToSchema)]
pub struct Capabilities {
    /// No user exists yet: the first to register becomes the owner.
    pub setup_required: bool,
    pub registration_enabled: bool,
    /// Password reset by email is available.
    pub smtp_enabled: bool,
    pub mfa_available: bool,
    /// `self-hosted` or `cloud`.
    pub mode: String,
}

/// What sign-in offers
///
/// Whether anyone may register, whether setup is still open, and whether
/// password reset by email works. No credential needed.
#[utoipa::path(
    tag = "Accounts",
    operation_id = "get_auth_capabilities",
    security(()),
    responses((status = 200, description = "The capabilities.", body = Capabilities)),
)]
#[get("/v1/auth/capabilities")]
pub async fn capabilities(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The first user may always register (they become the owner), so the
    // sign-in page needs to know whether anyone has yet.
    let setup_required = users::count(&mut *state.pool.get().await?).await? == 0;
    Ok(HttpResponse::Ok().json(Capabilities {
        setup_required,
        registration_enabled: state.config.registration_enabled,
        smtp_enabled: state.mailer.is_some(),
        mfa_available: true,
        mode: match state.config.mode {
            Mode::SelfHosted => "self-hosted",
            Mode::Cloud => "cloud",
        }
        .into(),
    }))
}
