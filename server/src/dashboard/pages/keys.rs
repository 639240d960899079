//! API keys: create with scopes and an expiry (the secret is shown once,
//! with a copy button), rotate with a grace period, and revoke. Creating
//! and rotating ask for the user's password or a code again, as the API
//! requires of sessions.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::client::Failure;
use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{done_notice, Errors, Secret};

/// Scopes a key can hold, with what they allow, as offered in the form.
const SCOPES: [(&str, &str); 23] = [
    ("traces:write", "send spans (the SDK)"),
    ("policies:read", "fetch policies (the SDK)"),
    ("halts:read", "obey halts (the SDK's sync)"),
    ("traces:read", "read traces and spans"),
    ("policies:write", "change policies, decide approvals"),
    ("halts:write", "issue and clear halts"),
    ("budgets:read", "read budgets"),
    ("budgets:write", "change budgets"),
    ("api_keys:read", "list keys"),
    ("api_keys:write", "create, rotate and revoke keys"),
    ("model_prices:read", "read model prices"),
    ("model_prices:write", "change model prices"),
    ("webhook_signing_keys:read", "list webhook signing keys"),
    ("webhook_signing_keys:write", "create and revoke signing keys"),
    ("webhook_deliveries:read", "read webhook deliveries"),
    ("webhook_deliveries:write", "replay deliveries"),
    ("project_settings:read", "read settings, members, channels"),
    ("project_settings:write", "change settings, members, channels"),
    ("audit:read", "read the audit log"),
    ("audit:write", "manage audit streams"),
    ("audit:admin", "audit administration"),
    ("data:export", "export data and compliance reports"),
    ("projects:manage", "manage projects"),
];
pub struct Row {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub state: &'static str,
    pub state_class: &'static str,
}

pub struct ScopeBox {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    frame: Frame,
    rows: Vec<Row>,
    can_write: bool,
    scopes: Vec<ScopeBox>,
    name: String,
    expires_days: String,
    errors: Errors,
    secret: Option<Secret>,
    mfa: bool,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn row(k: &Value) -> Row {
    let at = |key: &str| k[key].as_str().and_then(format::parse_time);
    let now = Utc::now();
    let (state, state_class) = if k["revoked_at"].is_string() {
        ("revoked", "st-blocked")
    } else if at("expires_at").is_some_and(|t| t <= now) {
        ("expired", "st-other")
    } else if k["deprecated_at"].is_string() {
        ("rotated, in grace period", "st-steered")
    } else {
        ("active", "st-ok")
    };
    Row {
        id: k["id"].as_str().unwrap_or_default().to_owned(),
        name: k["name"].as_str().unwrap_or_default().to_owned(),
        prefix: format!("{}…", k["key_prefix"].as_str().unwrap_or_default()),
        scopes: k["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        created: at("created_at").map(format::timestamp).unwrap_or_default(),
        last_used: at("last_used_at")
            .map(|t| format::ago(t, now))
            .unwrap_or_else(|| "never".into()),
        expires: at("expires_at")
            .map(format::timestamp)
            .unwrap_or_else(|| "never".into()),
        state,
        state_class,
    }
}

struct Draft {
    name: String,
    scopes: Vec<String>,
    expires_days: String,
}

async fn page(
    ctx: &Ctx,
    st: &DashState,
    draft: Draft,
    errors: Errors,
    secret: Option<Secret>,
) -> Result<String, askama::Error> {
    let keys = ctx.get(st, "/v1/api_keys").await;
    KeysPage {
        frame: ctx.frame("API keys", "/keys"),
        rows: keys
            .as_ref()
            .and_then(|k| k["api_keys"].as_array())
            .into_iter()
            .flatten()
            .map(row)
            .collect(),
        can_write: ctx.can("api_keys:write"),
        scopes: SCOPES
            .iter()
            .map(|(value, label)| ScopeBox {
                value,
                label,
                checked: draft.scopes.iter().any(|s| s == value),
            })
            .collect(),
        name: draft.name,
        expires_days: draft.expires_days,
        errors,
        secret,
        mfa: ctx.me.mfa_enabled,
    }
    .render()
}

fn fresh() -> Draft {
    Draft {
        name: String::new(),
        scopes: crate::auth::scope::KEY_DEFAULTS.iter().map(|s| s.to_string()).collect(),
        expires_days: "90".into(),
    }
}

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, fresh(), Errors::default(), None).await;
    ctx.respond(body)
}

/// The step-up headers the API asks sessions for, from the form.
fn confirmation(posted: &Posted) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(code) = posted.get("confirm_code") {
        headers.push(("x-confirm-mfa", code.to_owned()));
    }
    if !posted.raw("confirm_password").is_empty() {
        headers.push(("x-confirm-password", posted.raw("confirm_password").to_owned()));
    }
    headers
}

/// Step-up refusals belong beside the confirmation fields.
fn key_errors(f: &Failure) -> Errors {
    match f {
        Failure::Forbidden(m) if m.contains("re-authentication") || m.contains("MFA") || m.contains("password") => {
            Errors {
                general: None,
                fields: vec![("confirm_password".into(), m.clone())],
            }
        }
        Failure::Rejected {
            detail: Value::String(m),
            ..
        } => Errors {
            general: None,
            fields: vec![(if m.contains("scope") { "scopes" } else { "name" }.into(), m.clone())],
        },
        other => Errors::from_failure(other),
    }
}

pub async fn create(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let draft = Draft {
        name: posted.get("name").unwrap_or_default().to_owned(),
        scopes: posted.all("scopes").iter().map(|s| s.to_string()).collect(),
        expires_days: posted.get("expires_days").unwrap_or("0").to_owned(),
    };
    let mut body = json!({"name": draft.name, "scopes": draft.scopes});
    if let Ok(days) = draft.expires_days.parse::<i64>() {
        if days > 0 {
            body["expires_at"] = json!((Utc::now() + chrono::Duration::days(days)).to_rfc3339());
        }
    }
    let headers = confirmation(&posted);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match st
        .api
        .send(&ctx.caller, Method::POST, "/v1/api_keys", Some(&body), &headers)
        .await
    {
        Ok(k) => {
            let secret = Secret {
                heading: format!("Key “{}” created", draft.name),
                value: k["key"].as_str().unwrap_or_default().to_owned(),
                note: "Copy it now: it is shown only this once. Strathon keeps only its hash.".into(),
            };
            let body = page(&ctx, &st, fresh(), Errors::default(), Some(secret)).await;
            ctx.respond(body)
        }
        Err(f) => {
            let errors = key_errors(&f);
            ctx.refused(&f, page(&ctx, &st, draft, errors, None).await)
        }
    }
}

pub async fn rotate(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id: String = path
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    let hours = posted.get("grace_hours").unwrap_or("24");
    let body = json!({"grace_period_hours": hours.parse::<i64>().map(Value::from).unwrap_or(Value::from(hours))});
    let headers = confirmation(&posted);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match st
        .api
        .send(
            &ctx.caller,
            Method::POST,
            &format!("/v1/api_keys/{id}/rotate"),
            Some(&body),
            &headers,
        )
        .await
    {
        Ok(k) => {
            let until = (Utc::now() + chrono::Duration::hours(hours.parse().unwrap_or(24))).to_rfc3339();
            let secret = Secret {
                heading: format!("Key “{}” rotated", k["name"].as_str().unwrap_or_default()),
                value: k["key"].as_str().unwrap_or_default().to_owned(),
                note: format!(
                    "Copy it now: it is shown only this once. The old key keeps working until about {} (the grace period), then stops.",
                    format::timestamp_str(&until)
                ),
            };
            let body = page(&ctx, &st, fresh(), Errors::default(), Some(secret)).await;
            ctx.respond(body)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, fresh(), Errors::default(), None).await)
        }
    }
}

pub async fn revoke(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id: String = path
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    match st
        .api
        .send(&ctx.caller, Method::DELETE, &format!("/v1/api_keys/{id}"), None, &[])
        .await
    {
        Ok(_) => see_other("/keys?done=key-revoked"),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, fresh(), Errors::default(), None).await)
        }
    }
}
