//! Authentication as an extractor: a handler that takes [`Auth`] cannot run
//! without valid credentials, and checks its scope with [`Auth::require`].

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The scope strings keys and roles carry (`*` grants all of them).
pub mod scope {
    pub const ALL: &str = "*";
    /// What a new API key holds when its creator names no scopes: enough
    /// for an SDK (send traces, read policies and halts), nothing more.
    pub const KEY_DEFAULTS: [&str; 3] = [TRACES_WRITE, POLICIES_READ, HALTS_READ];
    pub const TRACES_WRITE: &str = "traces:write";
    pub const TRACES_READ: &str = "traces:read";
    pub const POLICIES_READ: &str = "policies:read";
    pub const POLICIES_WRITE: &str = "policies:write";
    pub const HALTS_READ: &str = "halts:read";
    pub const HALTS_WRITE: &str = "halts:write";
    pub const API_KEYS_READ: &str = "api_keys:read";
    pub const API_KEYS_WRITE: &str = "api_keys:write";
    pub const BUDGETS_READ: &str = "budgets:read";
    pub const BUDGETS_WRITE: &str = "budgets:write";
    pub const MODEL_PRICES_READ: &str = "model_prices:read";
    pub const MODEL_PRICES_WRITE: &str = "model_prices:write";
    pub const DATA_EXPORT: &str = "data:export";
    pub const PROJECTS_MANAGE: &str = "projects:manage";
    pub const AUDIT_READ: &str = "audit:read";
    pub const AUDIT_WRITE: &str = "audit:write";

    /// Every scope a key may be created with.
    pub const KNOWN: [&str; 24] = [
        "*",
        "traces:write",
        "traces:read",
        "policies:read",
        "policies:write",
        "api_keys:read",
        "api_keys:write",
        "webhook_signing_keys:read",
        "webhook_signing_keys:write",
        "webhook_deliveries:read",
        "webhook_deliveries:write",
        "halts:read",
        "halts:write",
        "budgets:read",
        "budgets:write",
        "model_prices:read",
        "model_prices:write",
        "project_settings:read",
        "project_settings:write",
        "audit:read",
        "audit:write",
        "audit:admin",
        "data:export",
        "projects:manage",
    ];
    pub const PROJECT_SETTINGS_READ: &str = "project_settings:read";
    pub const PROJECT_SETTINGS_WRITE: &str = "project_settings:write";
    pub const WEBHOOK_SIGNING_KEYS_READ: &str = "webhook_signing_keys:read";
    pub const WEBHOOK_SIGNING_KEYS_WRITE: &str = "webhook_signing_keys:write";
    pub const WEBHOOK_DELIVERIES_READ: &str = "webhook_deliveries:read";
    pub const WEBHOOK_DELIVERIES_WRITE: &str = "webhook_deliveries:write";
}

/// Who is calling, for audit events.
#[derive(Debug, Clone)]
pub enum Principal {
    ApiKey {
        id: Uuid,
        prefix: String,
    },
    /// A dashboard user acting in a project through a session.
    Session {
        user_id: Uuid,
        session_id: Uuid,
    },
    /// A person in a Slack workspace, pressing a button the receiver sent
    /// (the request verified by Slack's signature).
    Slack {
        team_id: String,
        user_id: String,
        user_name: String,
    },
}

impl Principal {
    /// (actor type, actor id, display, api key id, auth method) for audit events.
    pub fn actor(&self) -> (&'static str, String, String, Option<String>, &'static str) {
        match self {
            Principal::ApiKey { id, prefix } => (
                "service_account",
                id.to_string(),
                prefix.clone(),
                Some(id.to_string()),
                "apikey",
            ),
            Principal::Session { user_id, .. } => ("human", user_id.to_string(), "session".into(), None, "session"),
            Principal::Slack {
                team_id,
                user_id,
                user_name,
            } => (
                "human",
                format!("slack:{team_id}:{user_id}"),
                user_name.clone(),
                None,
                "slack",
            ),
        }
    }

    /// The identity a vote or decision is recorded under: the person, not
    /// their session, so signing in twice does not give two votes.
    pub fn voter(&self) -> String {
        match self {
            Principal::ApiKey { id, .. } => id.to_string(),
            Principal::Session { user_id, .. } => user_id.to_string(),
            Principal::Slack { team_id, user_id, .. } => format!("slack:{team_id}:{user_id}"),
        }
    }
}

/// Where a request came from, for audit events.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The caller's `X-Request-ID` when it is a UUID, else a fresh one.
    pub request_id: Uuid,
}

/// The caller's address: the leftmost `X-Forwarded-For` entry when the
/// operator trusts that header (a proxy or the dashboard sets it), else the
/// socket peer.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match forwarded {
        Some(ip) => Some(ip.to_owned()),
        None => req.peer_addr().map(|a| a.ip().to_string()),
    }
}

impl RequestMeta {
    pub fn of(req: &HttpRequest) -> RequestMeta {
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.config.rate_limit_trust_forwarded_for);
        RequestMeta {
            source_ip: client_ip(req, trust),
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Uuid::parse_str(v.trim()).ok())
                .unwrap_or_else(Uuid::new_v4),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Auth {
    pub project_id: Uuid,
    pub principal: Principal,
    pub meta: RequestMeta,
    /// The session user's role in the project (None for API keys).
    pub role: Option<String>,
    scopes: Vec<String>,
}

impl Auth {
    /// The logged-in user behind a session; None for API keys (and people
    /// acting through an integration, who have no account here).
    pub fn user_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::Session { user_id, .. } => Some(user_id),
            Principal::ApiKey { .. } | Principal::Slack { .. } => None,
        }
    }

    /// A user acting on their own account, as seen from one of their
    /// projects: for audit events of account changes, never for access.
    pub fn account_holder(project_id: Uuid, user_id: Uuid, session_id: Uuid, meta: RequestMeta) -> Auth {
        Auth {
            project_id,
            principal: Principal::Session { user_id, session_id },
            meta,
            role: None,
            scopes: Vec::new(),
        }
    }

    /// Someone acting through an integration (a Slack button), whose request
    /// the integration's own signature proved; it carries no scopes.
    pub fn integration(project_id: Uuid, principal: Principal, meta: RequestMeta) -> Auth {
        Auth {
            project_id,
            principal,
            meta,
            role: None,
            scopes: Vec::new(),
        }
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope::ALL || s == scope)
    }

    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("missing required scope: {scope}")))
        }
    }
}

const MALFORMED: &str = "Missing or malformed Authorization header. Expected: Bearer <token>";

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    // Split once on whitespace; the scheme must be bearer in any case.
    let (scheme, rest) = header.trim().split_once(char::is_whitespace)?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A project-scoped URL (`/v1/projects/{slug}/members…`) gives a
        // session its project when no header does.
        let project_slug = req
            .match_pattern()
            .filter(|pattern| pattern.starts_with("/v1/projects/{slug}/members"))
            .and_then(|_| req.match_info().get("slug"))
            .map(str::to_owned);
        let project_header = req
            .headers()
            .get("x-project-id")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let peer_ip = req.peer_addr().map(|a| a.ip().to_string());
        let meta = RequestMeta::of(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let result = authenticate(
                &state,
                header.as_deref(),
                project_header.as_deref(),
                project_slug.as_deref(),
                peer_ip.as_deref(),
                meta,
            )
            .await;
            match &result {
                Ok(_) => state.metrics.auth_successes.inc(),
                Err(ApiError::Unauthorized(_) | ApiError::Forbidden(_)) => state.metrics.auth_failures.inc(),
                Err(_) => {}
            }
            result
        })
    }
}

async fn authenticate(
    state: &AppState,
    header: Option<&str>,
    project_header: Option<&str>,
    project_slug: Option<&str>,
    peer_ip: Option<&str>,
    meta: RequestMeta,
) -> Result<Auth, ApiError> {
    let token = header
        .and_then(bearer_token)
        .ok_or_else(|| ApiError::Unauthorized(MALFORMED.into()))?;
    if let Some(value) = project_header {
        // Parsed for every caller so a typo is reported, though an API key's
        // own project always wins.
        Uuid::parse_str(value.trim())
            .map_err(|_| ApiError::BadRequest(format!("Invalid X-Project-Id header: {value}")))?;
    }
    let mut conn = state.pool.get().await?;
    if !token.starts_with("stra_") {
        return session(&mut conn, token, project_header, project_slug, meta).await;
    }
    let key = strathon_schema::api_keys::find_usable(&mut conn, token)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Invalid API key".into()))?;
    if let Some(allowed) = key.allowed_ips.as_ref().filter(|ips| !ips.is_empty()) {
        if !peer_ip.is_some_and(|ip| allowed.iter().any(|a| a == ip)) {
            return Err(ApiError::Forbidden("request IP not in key's allowed_ips".into()));
        }
    }
    // `touch` only records use to the minute; skipping the round trip when
    // the key was seen within it keeps hot keys (every SDK poll and export)
    // off the pool.
    let fresh = key
        .last_used_at
        .is_some_and(|at| chrono::Utc::now() - at < chrono::Duration::minutes(1));
    if !fresh {
        strathon_schema::api_keys::touch(&mut conn, key.id).await?;
    }
    Ok(Auth {
        project_id: key.project_id,
        principal: Principal::ApiKey {
            id: key.id,
            prefix: key.key_prefix,
        },
        meta,
        role: None,
        scopes: key.scopes,
    })
}

/// A dashboard session: the user, a project named by `X-Project-Id`, and
/// the scopes of the user's role there.
async fn session(
    conn: &mut strathon_schema::AsyncPgConnection,
    token: &str,
    project_header: Option<&str>,
    project_slug: Option<&str>,
    meta: RequestMeta,
) -> Result<Auth, ApiError> {
    let hash = crate::accounts::password::token_hash(token);
    let (session, user) = strathon_schema::users::find_session(conn, &hash)
        .await?
        .filter(|(s, _)| s.kind == "session")
        .ok_or_else(|| ApiError::Unauthorized("Invalid or expired session token".into()))?;
    let by_slug = match (project_header, project_slug) {
        (None, Some(slug)) => Some(
            strathon_schema::users::memberships(conn, user.id)
                .await?
                .into_iter()
                .find(|(_, _, s, _)| s == slug)
                .map(|(id, ..)| id)
                .ok_or_else(|| ApiError::NotFound(format!("Project not found: {slug}")))?,
        ),
        _ => None,
    };
    let project_id = project_header
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .or(by_slug)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Session auth requires a project context. Provide X-Project-Id header or use a project-scoped URL."
                    .into(),
            )
        })?;
    let role = strathon_schema::users::role(conn, project_id, user.id)
        .await?
        .ok_or_else(|| ApiError::Forbidden("You are not a member of this project".into()))?;
    Ok(Auth {
        project_id,
        principal: Principal::Session {
            user_id: user.id,
            session_id: session.id,
        },
        meta,
        scopes: crate::accounts::roles::scopes(&role),
        role: Some(role),
    })
}

/// An [`Auth`] that, for a session, has just proved its user again with
/// `X-Confirm-Password` or `X-Confirm-MFA`: what sensitive operations
/// (minting an API key, deleting a project) ask for, so a stolen session
/// token alone cannot do them. API keys pass as they are.
pub struct Confirmed(pub Auth);

const STEP_UP_MISSING: &str =
    "Sensitive operation requires re-authentication. Provide X-Confirm-Password or X-Confirm-MFA header.";

impl FromRequest for Confirmed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let (password, code) = (header("x-confirm-password"), header("x-confirm-mfa"));
        let auth = Auth::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let auth = auth.await?;
            let Some(user_id) = auth.user_id() else {
                return Ok(Confirmed(auth));
            };
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let mut conn = state.pool.get().await?;
            let user = strathon_schema::users::find(&mut conn, user_id)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("Invalid or expired session token".into()))?;
            let confirmed = match (password, code) {
                (Some(password), _) => {
                    let hash = user.password_hash.as_deref().unwrap_or_default();
                    if matches!(
                        crate::accounts::password::verify(&password, hash, state.config.pepper_bytes()),
                        crate::accounts::password::Verified::No
                    ) {
                        return Err(ApiError::Forbidden("Invalid password for re-authentication".into()));
                    }
                    true
                }
                (None, Some(code)) => {
                    if !user.mfa_enabled {
                        return Err(ApiError::Forbidden(
                            "MFA not enabled; use X-Confirm-Password instead".into(),
                        ));
                    }
                    if !crate::login::second_factor(&state, &mut conn, user_id, &code, false).await? {
                        return Err(ApiError::Forbidden("Invalid MFA code for re-authentication".into()));
                    }
                    true
                }
                (None, None) => false,
            };
            if !confirmed {
                return Err(ApiError::Forbidden(STEP_UP_MISSING.into()));
            }
            Ok(Confirmed(auth))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_follows_the_wire_contract() {
        assert_eq!(bearer_token("Bearer stra_abc"), Some("stra_abc"));
        assert_eq!(bearer_token("bearer   stra_abc  "), Some("stra_abc"));
        assert_eq!(bearer_token("Basic dXNlcg=="), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer    "), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn wildcard_grants_every_scope() {
        let auth = Auth {
            project_id: Uuid::nil(),
            principal: Principal::ApiKey {
                id: Uuid::nil(),
                prefix: String::new(),
            },
            meta: RequestMeta {
                source_ip: None,
                user_agent: None,
                request_id: Uuid::nil(),
            },
            scopes: vec!["*".into()],
            role: None,
        };
        assert!(auth.require(scope::PROJECT_SETTINGS_WRITE).is_ok());
        let narrow = Auth {
            scopes: vec![scope::PROJECT_SETTINGS_WRITE.into()],
            ..auth
        };
        assert!(narrow.require(scope::PROJECT_SETTINGS_WRITE).is_ok());
        let denied = narrow.require(scope::PROJECT_SETTINGS_READ).unwrap_err();
        assert_eq!(denied.to_string(), "missing required scope: project_settings:read");
    }
}
