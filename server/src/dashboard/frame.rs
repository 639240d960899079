//! What every signed-in page shares: who is signed in and in which project,
//! the navigation, the CSRF token, and how failures from the API show up in
//! the page the user is on (a banner when the receiver is unreachable, a
//! note when a section needs a higher role, back to sign-in on a 401).

use std::cell::{Cell, RefCell};

use actix_web::cookie::Cookie;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;
use uuid::Uuid;

use super::client::{Caller, Failure};
use super::{assets, session, DashState};

/// One project the user belongs to.
#[derive(Debug, Clone)]
pub struct Membership {
    pub id: Uuid,
    pub name: String,
    pub role: String,
}

/// The signed-in user, from `GET /v1/auth/me`.
#[derive(Debug, Clone)]
pub struct Me {
    pub email: String,
    pub display_name: String,
    pub mfa_enabled: bool,
    pub force_password_change: bool,
    pub projects: Vec<Membership>,
}

impl Me {
    fn from_json(v: &Value) -> Me {
        let user = &v["user"];
        let text = |k: &str| user[k].as_str().unwrap_or_default().to_owned();
        Me {
            email: text("email"),
            display_name: text("display_name"),
            mfa_enabled: user["mfa_enabled"].as_bool().unwrap_or(false),
            force_password_change: user["force_password_change"].as_bool().unwrap_or(false),
            projects: v["projects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some(Membership {
                        id: Uuid::parse_str(p["id"].as_str()?).ok()?,
                        name: p["name"].as_str().unwrap_or_default().to_owned(),
                        role: p["role"].as_str().unwrap_or("viewer").to_owned(),
                    })
                })
                .collect(),
        }
    }
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct ProjectChoice {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

pub struct Notice {
    /// `error`, `warning` or `success`: a class and a word for screen readers.
    pub kind: &'static str,
    pub text: String,
}

/// The page frame the base template draws.
pub struct Frame {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
    pub signed_in: bool,
    pub user: String,
    pub role: String,
    pub projects: Vec<ProjectChoice>,
    pub multi_project: bool,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// The receiver could not be reached: shown as a banner with the URL tried.
    pub banner: Option<String>,
    pub notices: Vec<Notice>,
    /// The main region reloads itself every few seconds (see dashboard.js).
    pub live: bool,
    /// This page's own path and query, for forms that come back here.
    pub here: String,
}

impl Frame {
    /// A frame for pages outside a sign-in (login, register, errors).
    pub fn public(title: &str, csrf: String, here: String) -> Frame {
        Frame {
            title: title.to_owned(),
            css: &assets::CSS.url,
            js: &assets::JS.url,
            icon: &assets::ICON.url,
            signed_in: false,
            user: String::new(),
            role: String::new(),
            projects: Vec::new(),
            multi_project: false,
            csrf,
            nav: Vec::new(),
            banner: None,
            notices: Vec::new(),
            live: false,
            here,
        }
    }
}

/// The sections of the dashboard, in menu order.
pub const SECTIONS: [(&str, &str); 14] = [
    ("/", "Overview"),
    ("/agents", "Agents"),
    ("/traces", "Traces"),
    ("/spans", "Spans"),
    ("/policies", "Policies"),
    ("/approvals", "Approvals"),
    ("/halts", "Halts"),
    ("/budgets", "Budgets"),
    ("/keys", "API keys"),
    ("/webhooks", "Webhooks"),
    ("/audit", "Audit"),
    ("/members", "Members"),
    ("/settings", "Settings"),
    ("/compliance", "Compliance"),
];

/// A signed-in request: the caller for API calls, the user and project,
/// and what went wrong with the API while building the page.
pub struct Ctx {
    pub caller: Caller,
    pub me: Me,
    pub project: Option<Membership>,
    pub csrf: String,
    pub here: String,
    banner: RefCell<Option<String>>,
    notices: RefCell<Vec<Notice>>,
    signed_out: Cell<bool>,
}

impl Ctx {
    /// Loads the signed-in user, or answers for the page: to sign-in when
    /// there is no valid session, a banner page when the receiver is down.
    pub async fn load(req: &HttpRequest, st: &DashState) -> Result<Ctx, HttpResponse> {
        let here = if req.method() == actix_web::http::Method::GET {
            here(req)
        } else {
            // A form's page, not the form's target (which only takes POST).
            referer_path(req).unwrap_or_else(|| "/".into())
        };
        let mut caller = session::caller(req, st);
        if caller.token.is_none() {
            return Err(to_login(&here));
        }
        let me = match st
            .api
            .get(
                &Caller {
                    project: None,
                    ..caller.clone()
                },
                "/v1/auth/me",
            )
            .await
        {
            Ok(v) => Me::from_json(&v),
            Err(Failure::SignedOut(_)) => return Err(to_login(&here)),
            Err(f) => return Err(unavailable(req, st, &f)),
        };
        let chosen = caller.project;
        let project = me
            .projects
            .iter()
            .find(|p| Some(p.id) == chosen)
            .or(me.projects.first())
            .cloned();
        caller.project = project.as_ref().map(|p| p.id);
        let (csrf, _) = session::csrf_for_page(req, st);
        let ctx = Ctx {
            caller,
            me,
            project,
            csrf,
            here,
            banner: RefCell::new(None),
            notices: RefCell::new(Vec::new()),
            signed_out: Cell::new(false),
        };
        if ctx.me.force_password_change && req.path() != "/account/password" {
            return Err(session::see_other("/account/password"));
        }
        Ok(ctx)
    }

    /// Whether the user's role in this project grants `scope` (for showing
    /// controls; the API decides what is allowed).
    pub fn can(&self, scope: &str) -> bool {
        self.project.as_ref().is_some_and(|p| {
            crate::accounts::roles::scopes(&p.role)
                .iter()
                .any(|s| s == "*" || s == scope)
        })
    }

    /// Keeps a result's value, or records what went wrong for the page.
    pub fn settle<T>(&self, result: Result<T, Failure>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(f) => {
                self.note(&f);
                None
            }
        }
    }

    /// Records a failure: a banner, a return to sign-in, or a notice.
    pub fn note(&self, failure: &Failure) {
        match failure {
            Failure::Unreachable { .. } => {
                self.banner.replace(Some(failure.message()));
            }
            Failure::SignedOut(_) => self.signed_out.set(true),
            other => {
                let text = other.message();
                let mut notices = self.notices.borrow_mut();
                if !notices.iter().any(|n| n.text == text) {
                    notices.push(Notice { kind: "error", text });
                }
            }
        }
    }

    /// GET a path of the API, recording any failure.
    pub async fn get(&self, st: &DashState, path: impl AsRef<str>) -> Option<Value> {
        self.settle(st.api.get(&self.caller, path.as_ref()).await)
    }

    pub fn extend_notices(&self, more: impl IntoIterator<Item = Notice>) {
        self.notices.borrow_mut().extend(more);
    }

    /// The answer when the session ran out during a form: sign in again,
    /// then back to the page the form was on.
    pub fn signed_out(&self, f: &Failure) -> Option<HttpResponse> {
        matches!(f, Failure::SignedOut(_)).then(|| to_login(&self.here))
    }

    /// The page again after the API refused a form, with the refusal's status.
    pub fn refused(&self, f: &Failure, page: Result<String, askama::Error>) -> HttpResponse {
        self.signed_out(f).unwrap_or_else(|| html(f.status(), page))
    }

    pub fn notify(&self, kind: &'static str, text: impl Into<String>) {
        self.notices.borrow_mut().push(Notice {
            kind,
            text: text.into(),
        });
    }

    pub fn frame(&self, title: &str, section: &str) -> Frame {
        Frame {
            title: title.to_owned(),
            css: &assets::CSS.url,
            js: &assets::JS.url,
            icon: &assets::ICON.url,
            signed_in: true,
            user: if self.me.display_name.is_empty() {
                self.me.email.clone()
            } else {
                format!("{} ({})", self.me.display_name, self.me.email)
            },
            role: self.project.as_ref().map(|p| p.role.clone()).unwrap_or_default(),
            projects: self
                .me
                .projects
                .iter()
                .map(|p| ProjectChoice {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    selected: self.project.as_ref().is_some_and(|c| c.id == p.id),
                })
                .collect(),
            multi_project: self.me.projects.len() > 1,
            csrf: self.csrf.clone(),
            nav: SECTIONS
                .iter()
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    current: *href == section,
                })
                .collect(),
            banner: self.banner.borrow().clone(),
            notices: self.notices.take(),
            live: false,
            here: self.here.clone(),
        }
    }

    /// The response for a rendered page, unless the session ran out meanwhile.
    pub fn respond(&self, page: Result<String, askama::Error>) -> HttpResponse {
        if self.signed_out.get() {
            return to_login(&self.here);
        }
        html(StatusCode::OK, page)
    }
}

/// The path and query of a same-origin `Referer`.
fn referer_path(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get(actix_web::http::header::REFERER)?.to_str().ok()?;
    let host = req.headers().get(actix_web::http::header::HOST)?.to_str().ok()?;
    let rest = referer.split_once("://")?.1.strip_prefix(host)?;
    super::session::local_path(Some(rest))
}

/// This request's path and query (for "come back here").
pub fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    }
}

pub fn html(status: StatusCode, page: Result<String, askama::Error>) -> HttpResponse {
    match page {
        Ok(body) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            HttpResponse::InternalServerError()
                .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("The page could not be rendered.")
        }
    }
}

/// To sign-in, then back to `here`.
pub fn to_login(here: &str) -> HttpResponse {
    let next: String = form_urlencoded(here);
    session::see_other(&format!("/login?next={next}"))
}

fn form_urlencoded(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A page with one message, for errors outside any page's own content.
#[derive(Template)]
#[template(path = "dashboard/message.html")]
pub struct MessagePage {
    pub frame: Frame,
    pub heading: String,
    pub message: String,
}

/// The page shown when the receiver cannot be reached (or fails) before we
/// even know who the user is.
pub fn unavailable(req: &HttpRequest, st: &DashState, failure: &Failure) -> HttpResponse {
    let mut frame = Frame::public("Receiver unavailable", String::new(), here(req));
    frame.banner = Some(failure.message());
    frame.live = true;
    let page = MessagePage {
        frame,
        heading: "The dashboard cannot reach the receiver".into(),
        message: format!(
            "Strathon's dashboard shows what the receiver at {} knows. Once it answers again, this page reloads by itself.",
            st.api.base()
        ),
    };
    html(StatusCode::SERVICE_UNAVAILABLE, page.render())
}

/// A 403 page for refused writes (cross-site or a stale form).
pub fn refusal(req: &HttpRequest, message: &str) -> HttpResponse {
    let page = MessagePage {
        frame: Frame::public("Request refused", String::new(), here(req)),
        heading: "Request refused".into(),
        message: message.into(),
    };
    html(StatusCode::FORBIDDEN, page.render())
}

/// Sets cookies on a response.
pub fn with_cookies(mut res: HttpResponse, cookies: impl IntoIterator<Item = Cookie<'static>>) -> HttpResponse {
    for c in cookies {
        let _ = res.add_cookie(&c);
    }
    res
}
