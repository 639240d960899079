//! One module per dashboard page; the route table below maps URLs to them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template as _;
use serde_json::json;

use super::frame::{self, Frame, MessagePage};
use super::{assets, DashState};

mod agents;
mod auth;
mod overview;
mod spans;
mod traces;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/assets/{file}", web::get().to(assets::get))
        .route("/favicon.ico", web::get().to(assets::favicon))
        .route("/", web::get().to(overview::page))
        .route("/login", web::get().to(auth::login_page))
        .route("/login", web::post().to(auth::login))
        .route("/login/mfa", web::get().to(auth::mfa_page))
        .route("/login/mfa", web::post().to(auth::mfa))
        .route("/register", web::get().to(auth::register_page))
        .route("/register", web::post().to(auth::register))
        .route("/forgot-password", web::get().to(auth::forgot_page))
        .route("/forgot-password", web::post().to(auth::forgot))
        .route("/reset-password", web::get().to(auth::reset_page))
        .route("/reset-password", web::post().to(auth::reset))
        .route("/account/password", web::get().to(auth::password_page))
        .route("/account/password", web::post().to(auth::change_password))
        .route("/logout", web::post().to(auth::logout))
        .route("/project", web::post().to(auth::switch_project))
        .route("/agents", web::get().to(agents::page))
        .route("/traces", web::get().to(traces::list))
        .route("/traces/{trace_id}", web::get().to(traces::detail))
        .route("/spans", web::get().to(spans::page));
}

/// Liveness for the container: the dashboard itself, not the receiver.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok", "service": "strathon-dashboard", "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub async fn not_found(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let (csrf, _) = super::session::csrf_for_page(&req, &st);
    let page = MessagePage {
        frame: Frame::public("Not found", csrf, frame::here(&req)),
        heading: "Page not found".into(),
        message: "There is no page at this address.".into(),
    };
    frame::html(StatusCode::NOT_FOUND, page.render())
}

/// Time windows the filters offer, as `(value, label, hours)`.
pub const WINDOWS: [(&str, &str, i64); 5] = [
    ("1h", "Last hour", 1),
    ("24h", "Last 24 hours", 24),
    ("7d", "Last 7 days", 24 * 7),
    ("30d", "Last 30 days", 24 * 30),
    ("all", "All time", 0),
];

/// The start (ns) of a named window ending now; None for all time.
pub fn window_start(name: &str) -> Option<i64> {
    let hours = WINDOWS.iter().find(|w| w.0 == name).map(|w| w.2).unwrap_or(24);
    (hours > 0).then(|| {
        (chrono::Utc::now() - chrono::Duration::hours(hours))
            .timestamp_nanos_opt()
            .unwrap_or(0)
    })
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn choices<'a>(options: impl IntoIterator<Item = (&'a str, &'a str)>, current: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            selected: value == current,
        })
        .collect()
}

/// The query string of a URL built from non-empty pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// The CSS class and words for a span's intervention state.
pub fn state_badge(state: Option<&str>) -> Option<(&'static str, String)> {
    let s = state.filter(|s| !s.is_empty() && *s != "running")?;
    let class = match s {
        "blocked" | "approval_denied" => "st-blocked",
        "steered" | "steer_attempted" => "st-steered",
        "throttled" => "st-throttled",
        "approval_requested" | "approval_granted" => "st-approval",
        "halted" => "st-halted",
        _ => "st-other",
    };
    Some((class, s.replace('_', " ")))
}

/// What went wrong with a submitted form: a summary at the top, and
/// messages beside the fields the API named.
#[derive(Default)]
pub struct Errors {
    pub general: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl Errors {
    pub fn from_failure(f: &super::client::Failure) -> Errors {
        let fields = f.field_errors();
        Errors {
            general: fields.is_empty().then(|| f.message()),
            fields,
        }
    }

    /// The message for one field, if the API named it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, m)| m.as_str())
    }

    pub fn any(&self) -> bool {
        self.general.is_some() || !self.fields.is_empty()
    }

    /// Every message, for the summary at the top of the form.
    pub fn all(&self) -> Vec<&str> {
        self.general
            .iter()
            .map(String::as_str)
            .chain(self.fields.iter().map(|(_, m)| m.as_str()))
            .collect()
    }
}
