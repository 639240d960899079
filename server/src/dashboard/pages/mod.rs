//! One module per dashboard page; the route table below maps URLs to them.

/// The signed-in context for a handler, or the answer that replaces the
/// page (to sign-in, or the receiver-unavailable page).
macro_rules! signed_in {
    ($req:expr, $st:expr) => {
        match crate::dashboard::frame::Ctx::load(&$req, &$st).await {
            Ok(ctx) => ctx,
            Err(answer) => return answer,
        }
    };
}

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template as _;
use serde_json::json;

use super::client::Failure;
use super::frame::{self, Frame, MessagePage, Notice};
use super::{assets, DashState};

mod account;
mod agents;
mod approvals;
mod audit;
mod auth;
mod budgets;
mod compliance;
mod halts;
mod keys;
mod members;
mod overview;
mod policies;
mod settings;
mod spans;
mod traces;
mod webhooks;

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
        .route("/spans", web::get().to(spans::page))
        .route("/policies", web::get().to(policies::list))
        .route("/policies/new", web::get().to(policies::new_page))
        .route("/policies/new", web::post().to(policies::create))
        .route("/policies/templates", web::get().to(policies::templates))
        .route(
            "/policies/templates/{id}/apply",
            web::post().to(policies::apply_template),
        )
        .route("/policies/simulate", web::get().to(policies::simulate_page))
        .route("/policies/simulate", web::post().to(policies::simulate))
        .route("/policies/export", web::get().to(policies::export))
        .route("/policies/import", web::post().to(policies::import))
        .route("/policies/check", web::post().to(policies::check))
        .route("/policies/{id}", web::get().to(policies::edit_page))
        .route("/policies/{id}", web::post().to(policies::save))
        .route("/policies/{id}/rollback", web::post().to(policies::rollback))
        .route("/policies/{id}/{action}", web::post().to(policies::act))
        .route("/approvals", web::get().to(approvals::list))
        .route("/approvals/{id}/{decision}", web::post().to(approvals::decide))
        .route("/halts", web::get().to(halts::list))
        .route("/halts", web::post().to(halts::create))
        .route("/halts/{id}/clear", web::post().to(halts::clear))
        .route("/budgets", web::get().to(budgets::list))
        .route("/budgets", web::post().to(budgets::create))
        .route("/budgets/{id}", web::get().to(budgets::detail))
        .route("/budgets/{id}", web::post().to(budgets::save))
        .route("/budgets/{id}/delete", web::post().to(budgets::delete))
        .route("/keys", web::get().to(keys::list))
        .route("/keys", web::post().to(keys::create))
        .route("/keys/{id}/rotate", web::post().to(keys::rotate))
        .route("/keys/{id}/revoke", web::post().to(keys::revoke))
        .route("/webhooks", web::get().to(webhooks::show))
        .route("/webhooks/channels", web::post().to(webhooks::create_channel))
        .route(
            "/webhooks/channels/{id}/{action}",
            web::post().to(webhooks::channel_action),
        )
        .route("/webhooks/keys", web::post().to(webhooks::create_key))
        .route("/webhooks/keys/{id}/revoke", web::post().to(webhooks::revoke_key))
        .route("/webhooks/deliveries/{id}/replay", web::post().to(webhooks::replay))
        .route("/audit", web::get().to(audit::show))
        .route("/audit/verify", web::get().to(audit::verify_chain))
        .route("/members", web::get().to(members::show))
        .route("/members", web::post().to(members::invite))
        .route(
            "/members/invitations/revoke",
            web::post().to(members::revoke_invitation),
        )
        .route("/members/offers/{id}/{answer}", web::post().to(members::offer))
        .route("/members/{id}/{action}", web::post().to(members::act))
        .route("/account", web::get().to(account::show))
        .route("/account/profile", web::post().to(account::profile))
        .route("/account/mfa/setup", web::post().to(account::mfa_setup))
        .route("/account/mfa/confirm", web::post().to(account::mfa_confirm))
        .route("/account/mfa/disable", web::post().to(account::mfa_disable))
        .route("/account/sessions", web::post().to(account::end_session))
        .route("/account/export", web::get().to(account::export))
        .route("/settings", web::get().to(settings::show))
        .route("/settings", web::post().to(settings::save))
        .route("/compliance", web::get().to(compliance::show))
        .route("/compliance/report", web::post().to(compliance::report))
        .route("/compliance/export", web::post().to(compliance::data));
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
    pub fn from_failure(f: &Failure) -> Errors {
        let fields = f.field_errors();
        Errors {
            general: fields.is_empty().then(|| f.message()),
            fields,
        }
    }

    /// Like `from_failure`, but a rejection's single message goes beside the
    /// field `pick` names (a 401 too: on the MFA step it means a wrong code).
    /// Refusals (403) and outages stay in the summary: they are not the
    /// field's fault, and the form may not even be shown.
    pub fn beside(f: &Failure, pick: impl FnOnce(&str) -> &'static str) -> Errors {
        let mut errors = Errors::from_failure(f);
        if matches!(f, Failure::Rejected { .. } | Failure::SignedOut(_)) {
            if let Some(message) = errors.general.take() {
                errors.fields.push((pick(&message).into(), message));
            }
        }
        errors
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

/// The HTTP status a page answers with when the API refused its form.
pub fn status_of(f: &Failure) -> StatusCode {
    f.status()
}

/// Messages a redirect after a form may ask for by key: no free text ever
/// travels in a URL.
pub fn done_notice(key: Option<&str>) -> Option<Notice> {
    let text = match key? {
        "signed-out" => "You are signed out.",
        "password-reset" => "Your password was changed. Sign in with the new one.",
        "reset-sent" => "If that address has an account, a reset token is on its way. It is valid for one hour.",
        "mfa-expired" => "The sign-in step expired. Sign in again.",
        "policy-created" => "Policy created.",
        "policy-saved" => "Policy saved.",
        "policy-deleted" => "Policy deleted.",
        "policy-enabled" => "Policy enabled.",
        "policy-disabled" => "Policy disabled.",
        "policy-rolled-back" => "Policy rolled back; the rollback is a new version.",
        "template-applied" => "Policy created from the template.",
        "approved" => "Approval recorded.",
        "denied" => "Denial recorded.",
        "halt-created" => "Halt issued. Agents stop at their next sync (within a second or two).",
        "halt-cleared" => "Halt cleared.",
        "budget-saved" => "Budget saved.",
        "budget-deleted" => "Budget deleted.",
        "key-revoked" => "Key revoked.",
        "key-renamed" => "Key saved.",
        "channel-saved" => "Channel saved.",
        "channel-deleted" => "Channel deleted.",
        "signing-key-revoked" => "Signing key revoked.",
        "delivery-replayed" => "Delivery queued again.",
        "member-invited" => "Invitation sent.",
        "member-updated" => "Role changed.",
        "member-removed" => "Member removed.",
        "invitation-revoked" => "Invitation revoked.",
        "transfer-offered" => "Ownership offered. It moves when they accept.",
        "transfer-accepted" => "You are now the owner of this project.",
        "transfer-rejected" => "Ownership offer declined.",
        "profile-saved" => "Profile saved.",
        "password-changed" => "Your password was changed. Your other sessions were signed out.",
        "mfa-disabled" => "Two-step sign-in is off.",
        "session-revoked" => "Session ended.",
        "sessions-revoked" => "Every other session ended.",
        "settings-saved" => "Settings saved.",
        _ => return None,
    };
    Some(Notice {
        kind: "success",
        text: text.into(),
    })
}

/// A download: the API's JSON (or bytes) as an attachment.
pub fn download(filename: &str, content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, content_type.to_owned()))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// A secret to show once, right after it was made (API keys, signing keys,
/// recovery codes).
pub struct Secret {
    pub heading: String,
    pub value: String,
    pub note: String,
}
