//! Signing in and out: login with its MFA step, registration, the reset
//! flow (offered only when the receiver can send email), password change
//! (forced after an offline reset) and switching project.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::super::client::{Caller, Failure};
use super::super::frame::{self, Ctx, Frame};
use super::super::session::{self, see_other, Posted};
use super::super::DashState;
use super::{status_of, Errors};

/// Session cookies outlive a browser restart; the receiver's session TTL
/// still decides, and an expired one just leads back here.
const SESSION_AGE: i64 = 30 * 24 * 3600;
/// The receiver's MFA challenge lives five minutes.
const MFA_AGE: i64 = 300;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
    done: Option<String>,
}

fn anonymous(req: &HttpRequest, st: &DashState) -> Caller {
    Caller {
        token: None,
        project: None,
        ..session::caller(req, st)
    }
}

/// What the sign-in pages may offer, from `/v1/auth/capabilities`.
struct Capabilities {
    register: bool,
    reset: bool,
    setup_required: bool,
}

async fn capabilities(st: &DashState, who: &Caller, frame: &mut Frame) -> Capabilities {
    match st.api.get(who, "/v1/auth/capabilities").await {
        Ok(v) => {
            let setup = v["setup_required"].as_bool().unwrap_or(false);
            Capabilities {
                register: setup || v["registration_enabled"].as_bool().unwrap_or(false),
                reset: v["smtp_enabled"].as_bool().unwrap_or(false),
                setup_required: setup,
            }
        }
        Err(f) => {
            if matches!(f, Failure::Unreachable { .. }) {
                frame.banner = Some(f.message());
            }
            Capabilities {
                register: false,
                reset: false,
                setup_required: false,
            }
        }
    }
}

/// A public page with a fresh CSRF seed cookie when the browser needs one.
fn public(req: &HttpRequest, st: &DashState, title: &str) -> (Frame, Option<actix_web::cookie::Cookie<'static>>) {
    let (csrf, seed) = session::csrf_for_page(req, st);
    (Frame::public(title, csrf, frame::here(req)), seed)
}

fn respond(
    status: StatusCode,
    page: Result<String, askama::Error>,
    seed: Option<actix_web::cookie::Cookie<'static>>,
) -> HttpResponse {
    frame::with_cookies(frame::html(status, page), seed)
}

fn next_of(raw: Option<&str>) -> String {
    session::local_path(raw).unwrap_or_else(|| "/".into())
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    frame: Frame,
    next: String,
    email: String,
    errors: Errors,
    can_register: bool,
    can_reset: bool,
    setup_required: bool,
}

pub async fn login_page(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Next>) -> HttpResponse {
    let (mut frame, seed) = public(&req, &st, "Sign in");
    let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
    frame.notices.extend(super::done_notice(q.done.as_deref()));
    let page = LoginPage {
        frame,
        next: next_of(q.next.as_deref()),
        email: String::new(),
        errors: Errors::default(),
        can_register: caps.register,
        can_reset: caps.reset,
        setup_required: caps.setup_required,
    };
    respond(StatusCode::OK, page.render(), seed)
}

/// Where a fresh session goes: a forced password change first.
fn signed_in(req: &HttpRequest, st: &DashState, answer: &Value, next: &str) -> HttpResponse {
    let token = answer["token"].as_str().unwrap_or_default();
    let to = if answer["force_password_change"].as_bool().unwrap_or(false) {
        "/account/password".to_owned()
    } else {
        next.to_owned()
    };
    frame::with_cookies(
        see_other(&to),
        [
            session::cookie(req, st, session::SESSION, token, Some(SESSION_AGE)),
            session::cookie(req, st, session::MFA, "", None),
        ],
    )
}

pub async fn login(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let next = next_of(form.get("next"));
    let email = form.get("email").unwrap_or_default().to_owned();
    let body = json!({"email": email, "password": form.raw("password")});
    match st.api.post(&anonymous(&req, &st), "/v1/auth/login", &body).await {
        Ok(answer) if answer["mfa_required"].as_bool() == Some(true) => {
            let challenge = answer["mfa_token"].as_str().unwrap_or_default();
            frame::with_cookies(
                see_other(&format!("/login/mfa?{}", super::query(&[("next", &next)]))),
                [session::cookie(&req, &st, session::MFA, challenge, Some(MFA_AGE))],
            )
        }
        Ok(answer) => signed_in(&req, &st, &answer, &next),
        Err(f) => {
            let (mut frame, seed) = public(&req, &st, "Sign in");
            let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
            if let Failure::Unreachable { .. } = f {
                frame.banner = Some(f.message());
            }
            let page = LoginPage {
                frame,
                next,
                email,
                errors: Errors::from_failure(&f),
                can_register: caps.register,
                can_reset: caps.reset,
                setup_required: caps.setup_required,
            };
            respond(status_of(&f), page.render(), seed)
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/mfa.html")]
struct MfaPage {
    frame: Frame,
    next: String,
    errors: Errors,
}

fn mfa_challenge(req: &HttpRequest) -> Option<String> {
    req.cookie(session::MFA)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

pub async fn mfa_page(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Next>) -> HttpResponse {
    let next = next_of(q.next.as_deref());
    if mfa_challenge(&req).is_none() {
        return see_other("/login?done=mfa-expired");
    }
    let (frame, seed) = public(&req, &st, "Two-step sign-in");
    let page = MfaPage {
        frame,
        next,
        errors: Errors::default(),
    };
    respond(StatusCode::OK, page.render(), seed)
}

pub async fn mfa(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let next = next_of(form.get("next"));
    let Some(challenge) = mfa_challenge(&req) else {
        return see_other("/login?done=mfa-expired");
    };
    let code: String = form
        .get("code")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let body = json!({"mfa_token": challenge, "code": code});
    match st.api.post(&anonymous(&req, &st), "/v1/auth/mfa/verify", &body).await {
        Ok(answer) => signed_in(&req, &st, &answer, &next),
        Err(f) => {
            let (mut frame, seed) = public(&req, &st, "Two-step sign-in");
            if let Failure::Unreachable { .. } = f {
                frame.banner = Some(f.message());
            }
            // Bad codes are the code's fault; show them beside the field.
            let errors = Errors::beside(&f, |_| "code");
            let page = MfaPage { frame, next, errors };
            respond(status_of(&f), page.render(), seed)
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/register.html")]
struct RegisterPage {
    frame: Frame,
    email: String,
    display_name: String,
    errors: Errors,
    open: bool,
    setup_required: bool,
}

pub async fn register_page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let (mut frame, seed) = public(&req, &st, "Create an account");
    let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
    let page = RegisterPage {
        frame,
        email: String::new(),
        display_name: String::new(),
        errors: Errors::default(),
        open: caps.register,
        setup_required: caps.setup_required,
    };
    respond(StatusCode::OK, page.render(), seed)
}

pub async fn register(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let email = form.get("email").unwrap_or_default().to_owned();
    let display_name = form.get("display_name").unwrap_or_default().to_owned();
    let failure = if form.raw("password") != form.raw("confirm") {
        Failure::Rejected {
            status: 422,
            detail: json!([{"loc": ["body", "confirm"], "msg": "The two passwords differ."}]),
        }
    } else {
        let mut body = json!({"email": email, "password": form.raw("password")});
        if !display_name.is_empty() {
            body["display_name"] = json!(display_name);
        }
        match st.api.post(&anonymous(&req, &st), "/v1/auth/register", &body).await {
            Ok(answer) => return signed_in(&req, &st, &answer, "/"),
            Err(f) => f,
        }
    };
    let (mut frame, seed) = public(&req, &st, "Create an account");
    let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
    let page = RegisterPage {
        frame,
        email,
        display_name,
        errors: Errors::from_failure(&failure),
        open: caps.register,
        setup_required: caps.setup_required,
    };
    respond(status_of(&failure), page.render(), seed)
}

#[derive(Template)]
#[template(path = "dashboard/forgot.html")]
struct ForgotPage {
    frame: Frame,
    errors: Errors,
    available: bool,
}

pub async fn forgot_page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let (mut frame, seed) = public(&req, &st, "Forgot password");
    let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
    let page = ForgotPage {
        frame,
        errors: Errors::default(),
        available: caps.reset,
    };
    respond(StatusCode::OK, page.render(), seed)
}

pub async fn forgot(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let body = json!({"email": form.get("email").unwrap_or_default()});
    match st
        .api
        .post(&anonymous(&req, &st), "/v1/auth/reset-password/request", &body)
        .await
    {
        Ok(_) => see_other("/reset-password?done=reset-sent"),
        Err(f) => {
            let (mut frame, seed) = public(&req, &st, "Forgot password");
            let caps = capabilities(&st, &anonymous(&req, &st), &mut frame).await;
            let page = ForgotPage {
                frame,
                errors: Errors::from_failure(&f),
                available: caps.reset,
            };
            respond(status_of(&f), page.render(), seed)
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/reset.html")]
struct ResetPage {
    frame: Frame,
    errors: Errors,
}

pub async fn reset_page(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Next>) -> HttpResponse {
    let (mut frame, seed) = public(&req, &st, "Choose a new password");
    frame.notices.extend(super::done_notice(q.done.as_deref()));
    let page = ResetPage {
        frame,
        errors: Errors::default(),
    };
    respond(StatusCode::OK, page.render(), seed)
}

pub async fn reset(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let failure = if form.raw("new_password") != form.raw("confirm") {
        Failure::Rejected {
            status: 422,
            detail: json!([{"loc": ["body", "confirm"], "msg": "The two passwords differ."}]),
        }
    } else {
        let body = json!({"token": form.get("token").unwrap_or_default(), "new_password": form.raw("new_password")});
        match st
            .api
            .post(&anonymous(&req, &st), "/v1/auth/reset-password/confirm", &body)
            .await
        {
            Ok(_) => return see_other("/login?done=password-reset"),
            Err(f) => f,
        }
    };
    let (frame, seed) = public(&req, &st, "Choose a new password");
    let page = ResetPage {
        frame,
        errors: Errors::from_failure(&failure),
    };
    respond(status_of(&failure), page.render(), seed)
}

#[derive(Template)]
#[template(path = "dashboard/password.html")]
struct PasswordPage {
    frame: Frame,
    errors: Errors,
    forced: bool,
    mfa: bool,
}

pub async fn password_page(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let page = PasswordPage {
        frame: ctx.frame("Change password", ""),
        errors: Errors::default(),
        forced: ctx.me.force_password_change,
        mfa: ctx.me.mfa_enabled,
    };
    ctx.respond(page.render())
}

pub async fn change_password(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let failure = if form.raw("new_password") != form.raw("confirm") {
        Failure::Rejected {
            status: 422,
            detail: json!([{"loc": ["body", "confirm"], "msg": "The two passwords differ."}]),
        }
    } else {
        let mut body =
            json!({"current_password": form.raw("current_password"), "new_password": form.raw("new_password")});
        if let Some(code) = form.get("mfa_code") {
            body["mfa_code"] = json!(code);
        }
        match st.api.post(&ctx.caller, "/v1/auth/change-password", &body).await {
            Ok(_) => {
                ctx.notify(
                    "success",
                    "Your password was changed. Your other sessions were signed out.",
                );
                let page = PasswordPage {
                    frame: ctx.frame("Change password", ""),
                    errors: Errors::default(),
                    forced: false,
                    mfa: ctx.me.mfa_enabled,
                };
                return ctx.respond(page.render());
            }
            Err(f) => f,
        }
    };
    let page = PasswordPage {
        frame: ctx.frame("Change password", ""),
        errors: Errors::from_failure(&failure),
        forced: ctx.me.force_password_change,
        mfa: ctx.me.mfa_enabled,
    };
    frame::html(status_of(&failure), page.render())
}

pub async fn logout(req: HttpRequest, st: web::Data<DashState>, _form: Posted) -> HttpResponse {
    let who = session::caller(&req, &st);
    if who.token.is_some() {
        // Best effort: the cookie goes either way.
        let _ = st
            .api
            .send(&who, reqwest::Method::POST, "/v1/auth/logout", None, &[])
            .await;
    }
    frame::with_cookies(
        see_other("/login?done=signed-out"),
        [
            session::cookie(&req, &st, session::SESSION, "", None),
            session::cookie(&req, &st, session::PROJECT, "", None),
        ],
    )
}

pub async fn switch_project(req: HttpRequest, st: web::Data<DashState>, form: Posted) -> HttpResponse {
    let ctx = match Ctx::load(&req, &st).await {
        Ok(ctx) => ctx,
        Err(answer) => return answer,
    };
    let back = form.back("/");
    let wanted = form.get("project_id").and_then(|p| Uuid::parse_str(p).ok());
    match wanted.filter(|id| ctx.me.projects.iter().any(|p| p.id == *id)) {
        Some(id) => frame::with_cookies(
            see_other(&back),
            [session::cookie(
                &req,
                &st,
                session::PROJECT,
                &id.to_string(),
                Some(SESSION_AGE),
            )],
        ),
        None => see_other(&back),
    }
}
