//! The browser side of a sign-in: cookies, the CSRF token every form
//! carries, and who the browser is (address, agent) when a trusted proxy
//! stands in front.
//!
//! The session cookie holds the receiver's session token. It is `HttpOnly`
//! (no script can read it), `SameSite=Lax` (other sites' forms do not carry
//! it) and `Secure` when the dashboard is served over HTTPS. The CSRF token
//! is derived from the session token (or, before sign-in, from a random
//! seed cookie), so any replica can check it without shared state.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::client::Caller;
use super::DashState;

pub const SESSION: &str = "strathon_session";
pub const PROJECT: &str = "strathon_project";
pub const MFA: &str = "strathon_mfa";
pub const SEED: &str = "strathon_csrf";

/// Whether the socket peer is one of the operator's trusted proxies.
fn via_trusted_proxy(req: &HttpRequest, st: &DashState) -> bool {
    req.peer_addr()
        .is_some_and(|peer| st.trusted_proxies.iter().any(|net| net.contains(&peer.ip())))
}

/// Whether the browser reached us over HTTPS (directly by setting, or as a
/// trusted proxy says).
pub fn is_https(req: &HttpRequest, st: &DashState) -> bool {
    st.cookie_secure
        || (via_trusted_proxy(req, st)
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
}

/// The browser's address: the leftmost `X-Forwarded-For` entry from a
/// trusted proxy, else the socket peer.
pub fn client_ip(req: &HttpRequest, st: &DashState) -> Option<String> {
    let forwarded = via_trusted_proxy(req, st)
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
}

pub fn token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn project(req: &HttpRequest) -> Option<Uuid> {
    req.cookie(PROJECT).and_then(|c| Uuid::parse_str(c.value()).ok())
}

/// Who the API is called for on behalf of this request.
pub fn caller(req: &HttpRequest, st: &DashState) -> Caller {
    Caller {
        token: token(req),
        project: project(req),
        client_ip: client_ip(req, st),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// A cookie with our flags; `max_age` None means "remove it".
pub fn cookie(
    req: &HttpRequest,
    st: &DashState,
    name: &'static str,
    value: &str,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name, value.to_owned())
        .path("/")
        .http_only(true)
        .secure(is_https(req, st))
        .same_site(if name == SEED { SameSite::Strict } else { SameSite::Lax })
        .finish();
    match max_age {
        Some(secs) => c.set_max_age(CookieAge::seconds(secs)),
        None => c.make_removal(),
    }
    c
}

/// The CSRF token for a secret (session token or seed).
fn derive(secret: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("strathon-dashboard-csrf\0{secret}").as_bytes(),
    );
    hex::encode(&digest.as_ref()[..16])
}

/// The secret forms on this request are bound to.
fn secret(req: &HttpRequest) -> Option<String> {
    token(req).or_else(|| req.cookie(SEED).map(|c| c.value().to_owned()))
}

/// The token to embed in forms; when the browser has neither a session nor
/// a seed yet, a new seed cookie to set with the page.
pub fn csrf_for_page(req: &HttpRequest, st: &DashState) -> (String, Option<Cookie<'static>>) {
    match secret(req) {
        Some(s) => (derive(&s), None),
        None => {
            let seed = hex::encode(crate::accounts::password::random::<16>());
            let c = cookie(req, st, SEED, &seed, Some(60 * 60 * 24));
            (derive(&seed), Some(c))
        }
    }
}

pub fn csrf_ok(req: &HttpRequest, presented: &str) -> bool {
    let Some(secret) = secret(req) else {
        return false;
    };
    // Compare digests, so the time taken says nothing about the token.
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    digest(&derive(&secret)).as_ref() == digest(presented).as_ref()
}

/// A submitted form whose CSRF token checked out. Handlers that change
/// anything take this, so no state-changing route can forget the check.
pub struct Posted {
    pairs: Vec<(String, String)>,
}

impl Posted {
    /// The field's first value, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The field's value exactly as typed (passwords keep their spaces).
    pub fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of a repeated field (checkbox groups).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A path to return to after the action: only local paths, so a form
    /// cannot be used to send the user elsewhere.
    pub fn back(&self, default: &str) -> String {
        local_path(self.get("back")).unwrap_or_else(|| default.to_owned())
    }
}

/// `raw` if it is a path on this site (`/x`, not `//host` or `/\host`).
pub fn local_path(raw: Option<&str>) -> Option<String> {
    raw.filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && !p.contains(['\r', '\n']))
        .map(str::to_owned)
}

impl FromRequest for Posted {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let pairs = form.await.map(web::Form::into_inner).unwrap_or_default();
            let presented = pairs
                .iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if !csrf_ok(&req, presented) {
                tracing::warn!(path = %req.match_pattern().unwrap_or_default(), "dashboard form refused: CSRF token missing or wrong");
                return Err(actix_web::error::InternalError::from_response(
                    "csrf",
                    super::frame::refusal(
                        &req,
                        "This form has expired or did not come from this dashboard. Go back, reload the page and try again.",
                    ),
                )
                .into());
            }
            Ok(Posted { pairs })
        })
    }
}

/// A 303 to `to`, the answer to a successful form post.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to.to_owned()))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_their_secret() {
        assert_eq!(derive("a"), derive("a"));
        assert_ne!(derive("a"), derive("b"));
        assert_eq!(derive("a").len(), 32);
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/traces?x=1")), Some("/traces?x=1".into()));
        assert_eq!(local_path(Some("//evil.example")), None);
        assert_eq!(local_path(Some("/\\evil.example")), None);
        assert_eq!(local_path(Some("https://evil.example")), None);
        assert_eq!(local_path(Some("/a\r\nSet-Cookie: x")), None);
        assert_eq!(local_path(None), None);
    }
}
