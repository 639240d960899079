//! The dashboard over plain HTTP: sign-in and its cookie, the headers every
//! page carries, refused cross-site and token-less forms, a receiver that is
//! down, and logs without secrets. The browser suite (tests/browser) drives
//! the same binary through Chromium for what needs a real browser.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::harness::{free_port, Launch, Server, TestDb};

const PASSWORD: &str = "Correct-horse-42";

/// A browser stand-in: keeps cookies by hand so tests can read their flags.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The `Set-Cookie` for `name`, parsed.
    fn cookie(&self, name: &str) -> Option<cookie::Cookie<'static>> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| cookie::Cookie::parse(v.to_str().ok()?.to_owned()).ok())
            .find(|c| c.name() == name)
    }

    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        self.body[at..at + 32].to_owned()
    }
}

impl Visitor {
    fn new(dashboard: &Server) -> Visitor {
        Visitor {
            http: reqwest::Client::builder().redirect(Policy::none()).build().unwrap(),
            base: dashboard.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let resp = req
            .header("cookie", jar.join("; "))
            .send()
            .await
            .expect("dashboard answers");
        let page = Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: String::new(),
        };
        for c in page
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| cookie::Cookie::parse(v.to_str().ok()?.to_owned()).ok())
        {
            if c.value().is_empty() {
                self.cookies.remove(c.name());
            } else {
                self.cookies.insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        Page {
            body: resp.text().await.unwrap_or_default(),
            ..page
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Registers through the forms (the first user owns the default project).
    async fn register(&mut self, email: &str) -> Page {
        let form = self.get("/register").await;
        let csrf = form.csrf();
        self.post(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            &[],
        )
        .await
    }
}

async fn stack(db: &TestDb) -> (Server, Server) {
    let receiver = Launch::serve(db).start().await;
    let dashboard = Launch::dashboard(&receiver.base).start().await;
    (receiver, dashboard)
}

#[tokio::test]
async fn signing_in_sets_a_protected_cookie_and_pages_carry_strict_headers() {
    let db = TestDb::migrated().await;
    let (receiver, dashboard) = stack(&db).await;
    let mut v = Visitor::new(&dashboard);

    let landing = v.get("/").await;
    assert_eq!((landing.status, landing.location()), (303, "/login?next=%2F"));
    let registered = v.register("owner@example.com").await;
    assert_eq!(
        (registered.status, registered.location()),
        (303, "/"),
        "{}",
        registered.body
    );
    let session = registered.cookie("strathon_session").expect("a session cookie");
    assert!(session.value().len() > 40);
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert_ne!(session.secure(), Some(true), "plain http: not Secure");
    assert_eq!(session.path(), Some("/"));

    let overview = v.get("/").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("<h1>Overview</h1>"), "{}", overview.body);
    assert!(overview.body.contains("owner@example.com"));
    let header = |name: &str| {
        overview
            .headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = header("content-security-policy");
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(rule), "{rule} missing from {csp}");
    }
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "same-origin");
    assert_eq!(header("cache-control"), "no-store");
    // The page needs nothing the policy forbids: no inline script or style.
    assert!(!overview.body.contains("<script>") && !overview.body.contains(" style="));
    assert!(
        !overview.body.contains(session.value()),
        "the token never reaches the page"
    );

    // Assets have content-hashed names and may be cached for a year.
    let css_at = overview.body.find("/assets/dashboard.").unwrap();
    let css = &overview.body[css_at..css_at + overview.body[css_at..].find('"').unwrap()];
    let asset = v.get(css).await;
    assert_eq!(asset.status, 200);
    assert!(asset.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(asset.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(v.get("/assets/dashboard.0000000000.css").await.status, 404);

    // The receiver saw a session for this user, from the browser's side.
    let sessions = receiver
        .get("/v1/auth/sessions")
        .bearer_auth(session.value())
        .send()
        .await
        .unwrap();
    assert_eq!(sessions.status(), 200);
}

#[tokio::test]
async fn forms_without_the_token_or_from_another_site_are_refused() {
    let db = TestDb::migrated().await;
    let (_receiver, dashboard) = stack(&db).await;
    let mut v = Visitor::new(&dashboard);
    v.register("owner@example.com").await;
    let csrf = v.get("/").await.csrf();

    let missing = v.post("/logout", &[], &[]).await;
    assert_eq!(missing.status, 403);
    assert!(
        missing.body.contains("did not come from this dashboard"),
        "{}",
        missing.body
    );
    let wrong = v
        .post("/logout", &[("csrf", "0123456789abcdef0123456789abcdef")], &[])
        .await;
    assert_eq!(wrong.status, 403);
    let cross = v
        .post("/logout", &[("csrf", &csrf)], &[("origin", "http://evil.example")])
        .await;
    assert_eq!(cross.status, 403);
    assert!(cross.body.contains("came from another site"), "{}", cross.body);
    let fetch_meta = v
        .post("/logout", &[("csrf", &csrf)], &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(fetch_meta.status, 403);
    // Still signed in after every refused attempt.
    assert_eq!(v.get("/").await.status, 200);

    let origin = dashboard.base.clone();
    let out = v.post("/logout", &[("csrf", &csrf)], &[("origin", &origin)]).await;
    assert_eq!((out.status, out.location()), (303, "/login?done=signed-out"));
    assert_eq!(out.cookie("strathon_session").unwrap().value(), "");
    assert_eq!(v.get("/").await.status, 303);
}

#[tokio::test]
async fn cookies_are_secure_behind_https_by_setting_or_a_trusted_proxy() {
    let db = TestDb::migrated().await;
    let receiver = Launch::serve(&db).start().await;
    let secure = Launch::dashboard(&receiver.base)
        .env("STRATHON_COOKIE_SECURE", "true")
        .start()
        .await;
    let page = Visitor::new(&secure).register("a@example.com").await;
    assert_eq!(page.cookie("strathon_session").unwrap().secure(), Some(true));
    assert!(page.headers.contains_key("strict-transport-security"));

    let proxied = Launch::dashboard(&receiver.base)
        .env("STRATHON_DASHBOARD_TRUSTED_PROXIES", "127.0.0.1, ::1")
        .start()
        .await;
    let login = |secure_header: bool| {
        let http = reqwest::Client::new();
        let mut req = http.get(proxied.url("/login"));
        if secure_header {
            req = req.header("x-forwarded-proto", "https");
        }
        req
    };
    let via_proxy = login(true).send().await.unwrap();
    let seed = cookie::Cookie::parse(via_proxy.headers()[SET_COOKIE].to_str().unwrap().to_owned()).unwrap();
    assert_eq!(seed.secure(), Some(true), "a trusted proxy says https");
    let direct = login(false).send().await.unwrap();
    let seed = cookie::Cookie::parse(direct.headers()[SET_COOKIE].to_str().unwrap().to_owned()).unwrap();
    assert_ne!(seed.secure(), Some(true));

    // An untrusted peer cannot claim https (nor a client address).
    let untrusted = Launch::dashboard(&receiver.base).start().await;
    let resp = reqwest::Client::new()
        .get(untrusted.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn signed_out_visitors_sign_in_and_land_where_they_were_going() {
    let db = TestDb::migrated().await;
    let (_receiver, dashboard) = stack(&db).await;
    let mut v = Visitor::new(&dashboard);
    v.register("owner@example.com").await;
    let csrf = v.get("/").await.csrf();
    v.post("/logout", &[("csrf", &csrf)], &[]).await;

    let bounced = v.get("/traces?window=30d").await;
    assert_eq!(
        (bounced.status, bounced.location()),
        (303, "/login?next=%2Ftraces%3Fwindow%3D30d")
    );
    let form = v.get(bounced.location()).await;
    assert!(form.body.contains("value=\"/traces?window=30d\""), "{}", form.body);
    let csrf = form.csrf();
    let wrong = v
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "owner@example.com"),
                ("password", "not-it-at-all"),
                ("next", "/traces?window=30d"),
            ],
            &[],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Invalid email or password"), "{}", wrong.body);
    let ok = v
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "owner@example.com"),
                ("password", PASSWORD),
                ("next", "/traces?window=30d"),
            ],
            &[],
        )
        .await;
    assert_eq!((ok.status, ok.location()), (303, "/traces?window=30d"));
    // Only local paths are followed after sign-in.
    let csrf = v.get("/traces").await.csrf();
    let offsite = v
        .post(
            "/project",
            &[
                ("csrf", &csrf),
                ("project_id", "00000000-0000-0000-0000-000000000001"),
                ("back", "//evil.example/"),
            ],
            &[],
        )
        .await;
    assert_eq!(offsite.location(), "/");
}

#[tokio::test]
async fn an_unreachable_receiver_shows_a_banner_naming_its_address() {
    let db = TestDb::migrated().await;
    let (receiver, dashboard) = stack(&db).await;
    let mut v = Visitor::new(&dashboard);
    v.register("owner@example.com").await;
    let token = v.cookies["strathon_session"].clone();

    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let orphan = Launch::dashboard(&nowhere).start().await;
    let mut w = Visitor::new(&orphan);
    w.cookies.insert("strathon_session".into(), token.clone());
    let page = w.get("/traces").await;
    assert_eq!(page.status, 503);
    assert!(
        page.body
            .contains(&format!("Cannot reach the Strathon receiver at {nowhere}.")),
        "{}",
        page.body
    );
    assert!(page.body.contains("role=\"alert\""), "the banner is announced");
    let login = w.get("/login").await;
    assert_eq!(login.status, 200, "the sign-in form still renders");
    assert!(login.body.contains(&nowhere));

    // Nothing secret in either process's log.
    for logs in [dashboard.logs(), orphan.logs(), receiver.logs()] {
        for line in logs {
            assert!(!line.contains(&token), "session token logged: {line}");
            assert!(!line.contains(PASSWORD), "password logged: {line}");
        }
    }
    assert!(
        dashboard
            .records()
            .iter()
            .any(|r| r["route"] == "/register" && r["status"] == 303),
        "requests are logged by route"
    );
}
