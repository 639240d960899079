//! The signed-in user's account: display name, password (its own page),
//! two-step sign-in (enrolment with a QR code, recovery codes shown once,
//! and turning it off), their sessions, and a download of their data.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::client::Failure;
use super::super::format;
use super::super::frame::{self, Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{done_notice, download, Errors, Secret};

pub struct SessionRow {
    pub id: String,
    pub started: String,
    pub expires: String,
    pub from: String,
    pub agent: String,
    pub current: bool,
}

/// An enrolment in progress: the QR code and the secret to type instead.
pub struct Enrolment {
    pub qr: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "dashboard/account.html")]
struct AccountPage {
    frame: Frame,
    email: String,
    display_name: String,
    mfa: bool,
    enrolment: Option<Enrolment>,
    recovery: Option<Secret>,
    sessions: Vec<SessionRow>,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

struct Extra {
    enrolment: Option<Enrolment>,
    recovery: Option<Secret>,
    errors: Errors,
}

fn nothing() -> Extra {
    Extra {
        enrolment: None,
        recovery: None,
        errors: Errors::default(),
    }
}

async fn page(ctx: &Ctx, st: &DashState, extra: Extra) -> Result<String, askama::Error> {
    let sessions = ctx.get(st, "/v1/auth/sessions").await;
    let now = Utc::now();
    AccountPage {
        frame: ctx.frame("Your account", ""),
        email: ctx.me.email.clone(),
        display_name: ctx.me.display_name.clone(),
        mfa: ctx.me.mfa_enabled,
        enrolment: extra.enrolment,
        recovery: extra.recovery,
        errors: extra.errors,
        sessions: sessions
            .as_ref()
            .and_then(|s| s["sessions"].as_array())
            .into_iter()
            .flatten()
            .map(|s: &Value| SessionRow {
                id: s["id"].as_str().unwrap_or_default().to_owned(),
                started: s["created_at"]
                    .as_str()
                    .and_then(format::parse_time)
                    .map(|t| format::ago(t, now))
                    .unwrap_or_default(),
                expires: s["expires_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                from: s["ip_address"].as_str().unwrap_or("unknown").to_owned(),
                agent: super::super::chart::truncate(s["user_agent"].as_str().unwrap_or("unknown"), 60),
                current: s["current"].as_bool().unwrap_or(false),
            })
            .collect(),
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, nothing()).await;
    ctx.respond(body)
}

pub async fn profile(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = json!({"display_name": posted.get("display_name").unwrap_or_default()});
    match st
        .api
        .send(&ctx.caller, Method::PATCH, "/v1/auth/me", Some(&body), &[])
        .await
    {
        Ok(_) => see_other("/account?done=profile-saved"),
        Err(f) => {
            let errors = Errors::from_failure(&f);
            ctx.refused(&f, page(&ctx, &st, Extra { errors, ..nothing() }).await)
        }
    }
}

/// The otpauth URI as a QR code image (SVG in a data URI: the page's
/// policy allows images from data URIs, and no script is involved).
pub fn qr_image(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)))
}

pub async fn mfa_setup(req: HttpRequest, st: web::Data<DashState>, _posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    match st.api.post(&ctx.caller, "/v1/auth/mfa/setup", &json!({})).await {
        Ok(s) => {
            let enrolment = Enrolment {
                qr: qr_image(s["otpauth_uri"].as_str().unwrap_or_default()).unwrap_or_default(),
                secret: s["secret"].as_str().unwrap_or_default().to_owned(),
            };
            let body = page(
                &ctx,
                &st,
                Extra {
                    enrolment: Some(enrolment),
                    ..nothing()
                },
            )
            .await;
            ctx.respond(body)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, nothing()).await)
        }
    }
}

pub async fn mfa_confirm(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let code: String = posted
        .get("code")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match st
        .api
        .post(&ctx.caller, "/v1/auth/mfa/verify-setup", &json!({"code": code}))
        .await
    {
        Ok(r) => {
            let codes: Vec<&str> = r["backup_codes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let recovery = Secret {
                heading: "Two-step sign-in is on. Your recovery codes".into(),
                value: codes.join("  "),
                note: "Each works once if you lose your authenticator. Store them somewhere safe now: they are shown only this once.".into(),
            };
            // The page must show MFA as on at once, so read the profile again.
            let ctx = match Ctx::load(&req, &st).await {
                Ok(c) => c,
                Err(answer) => return answer,
            };
            let body = page(
                &ctx,
                &st,
                Extra {
                    recovery: Some(recovery),
                    ..nothing()
                },
            )
            .await;
            ctx.respond(body)
        }
        Err(f) => {
            let errors = Errors {
                general: None,
                fields: vec![("code".into(), f.message())],
            };
            ctx.refused(&f, page(&ctx, &st, Extra { errors, ..nothing() }).await)
        }
    }
}

pub async fn mfa_disable(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = json!({"password": posted.raw("password"), "code": posted.get("code").unwrap_or_default()});
    match st.api.post(&ctx.caller, "/v1/auth/mfa/disable", &body).await {
        Ok(_) => see_other("/account?done=mfa-disabled"),
        // This endpoint answers a wrong password with 401; the session is fine.
        Err(Failure::SignedOut(m)) if m == "Invalid password" => {
            let errors = Errors {
                general: None,
                fields: vec![("disable_password".into(), m)],
            };
            frame::html(
                actix_web::http::StatusCode::UNAUTHORIZED,
                page(&ctx, &st, Extra { errors, ..nothing() }).await,
            )
        }
        Err(f) => {
            let errors = Errors {
                general: None,
                fields: vec![("disable_code".into(), f.message())],
            };
            ctx.refused(&f, page(&ctx, &st, Extra { errors, ..nothing() }).await)
        }
    }
}

pub async fn end_session(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (path, done) = match posted.get("session") {
        Some("others") => ("/v1/auth/sessions".to_owned(), "sessions-revoked"),
        Some(id) => (
            format!(
                "/v1/auth/sessions/{}",
                id.chars()
                    .filter(|c| c.is_ascii_hexdigit() || *c == '-')
                    .take(36)
                    .collect::<String>()
            ),
            "session-revoked",
        ),
        None => return see_other("/account"),
    };
    match st.api.send(&ctx.caller, Method::DELETE, &path, None, &[]).await {
        Ok(_) => see_other(&format!("/account?done={done}")),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, nothing()).await)
        }
    }
}

pub async fn export(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    match st
        .api
        .raw(&ctx.caller, Method::GET, "/v1/auth/me/export", None, &[])
        .await
    {
        Ok(raw) => download("strathon-my-data.json", "application/json", raw.body),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, nothing()).await)
        }
    }
}
