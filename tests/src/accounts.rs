//! Dashboard accounts: registration, sessions scoped to a project by role,
//! lockout, password changes and resets, and offline recovery.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};

const GOOD: &str = "c0rrect-horse!";

async fn session_get(server: &Server, token: &str, path: &str, project: Option<&str>) -> (u16, Value) {
    let mut req = server.get(path).bearer_auth(token);
    if let Some(p) = project {
        req = req.header("X-Project-Id", p);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn anonymous_post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let resp = server
        .request(reqwest::Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_first_user_owns_the_default_project_and_sessions_follow_roles() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db)
        .env("STRATHON_PASSWORD_PEPPER", "pepper")
        .start()
        .await;
    server.wait_ready().await;
    let project = DEFAULT_PROJECT_ID.to_string();

    let (status, owner) = anonymous_post(
        &server,
        "/v1/auth/register",
        json!({"email": "Owner@Example.com", "password": GOOD}),
    )
    .await;
    assert_eq!(status, 201, "{owner}");
    assert_eq!(owner["message"], "first user — auto-assigned as project owner");
    assert_eq!(owner["user"]["email"], "owner@example.com");
    let token = owner["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 86);

    // A session needs a project, and acts there with its role's scopes.
    let (status, body) = session_get(&server, &token, "/v1/policies", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        session_get(&server, &token, "/v1/policies", Some(&project)).await.0,
        200
    );
    let (_, me) = session_get(&server, &token, "/v1/auth/me", None).await;
    assert_eq!(me["projects"][0]["role"], "owner");
    assert_eq!(me["user"]["force_password_change"], false);

    let (status, second) = anonymous_post(
        &server,
        "/v1/auth/register",
        json!({"email": "dev@example.com", "password": GOOD}),
    )
    .await;
    assert_eq!((status, second["message"].as_str()), (201, Some("registered")));
    let dev = second["token"].as_str().unwrap().to_owned();
    assert_eq!(
        session_get(&server, &dev, "/v1/policies", Some(&project)).await,
        (403, json!({"detail": "You are not a member of this project"}))
    );

    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/register",
            json!({"email": "dev@example.com", "password": GOOD})
        )
        .await
        .0,
        409
    );
    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/register",
            json!({"email": "x@example.com", "password": "password1"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        anonymous_post(&server, "/v1/auth/register", json!({"email": "nope", "password": GOOD}))
            .await
            .0,
        400
    );

    let (_, members) = session_get(&server, &token, "/v1/members", Some(&project)).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);
    assert_eq!(members["data"][0]["role"], "owner");

    // The session's audit events name a human actor.
    let resp = server
        .request(reqwest::Method::POST, "/v1/halts")
        .bearer_auth(&token)
        .header("X-Project-Id", &project)
        .json(&json!({"scope": "project", "reason": "by a person"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (_, events) = session_get(
        &server,
        &token,
        "/v1/audit/events?filter=action%20eq%20%22halt.issue%22",
        Some(&project),
    )
    .await;
    assert_eq!(events["data"][0]["actor"]["type"], "human");
    assert_eq!(events["data"][0]["actor"]["id"], owner["user"]["id"]);

    let logout = server
        .request(reqwest::Method::POST, "/v1/auth/logout")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(session_get(&server, &token, "/v1/auth/me", None).await.0, 401);
}

#[tokio::test]
async fn failed_logins_lock_the_account_and_passwords_change_and_reset() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db)
        .env("STRATHON_LOGIN_RATE_LIMIT_ATTEMPTS", "50")
        .start()
        .await;
    register(&server, "a@example.com").await;

    for _ in 0..4 {
        assert_eq!(
            anonymous_post(
                &server,
                "/v1/auth/login",
                json!({"email": "a@example.com", "password": "wrong"})
            )
            .await
            .0,
            401
        );
    }
    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/login",
            json!({"email": "ghost@example.com", "password": "wrong"})
        )
        .await,
        (401, json!({"detail": "Invalid email or password"}))
    );
    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/login",
            json!({"email": "a@example.com", "password": "wrong"})
        )
        .await
        .0,
        401
    );
    let (status, locked) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "a@example.com", "password": GOOD}),
    )
    .await;
    assert_eq!(status, 423, "{locked}");
    assert!(locked["detail"]
        .as_str()
        .unwrap()
        .starts_with("Account temporarily locked. Try again in"));

    // An owner's key resets it: the old password is gone and a change is due.
    let (status, reset) = server
        .post("/v1/auth/admin-reset-password", &key, json!({"email": "a@example.com"}))
        .await;
    assert_eq!(status, 200, "{reset}");
    let temporary = reset["temporary_password"].as_str().unwrap().to_owned();
    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/login",
            json!({"email": "a@example.com", "password": GOOD})
        )
        .await
        .0,
        401
    );
    let (status, login) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "a@example.com", "password": temporary}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["force_password_change"], true);
    let token = login["token"].as_str().unwrap();
    let change = |current: &str, new: &str| {
        server
            .request(reqwest::Method::POST, "/v1/auth/change-password")
            .bearer_auth(token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    assert_eq!(change("nope", "An0ther-one!").await.unwrap().status(), 400);
    assert_eq!(change(&temporary, "An0ther-one!").await.unwrap().status(), 200);
    let (_, me) = session_get(&server, token, "/v1/auth/me", None).await;
    assert_eq!(me["user"]["force_password_change"], false);

    let narrow = db.key(DEFAULT_PROJECT_ID, &["policies:read"]).await;
    assert_eq!(
        server
            .post(
                "/v1/auth/admin-reset-password",
                &narrow,
                json!({"email": "a@example.com"})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .post(
                "/v1/auth/admin-reset-password",
                &key,
                json!({"email": "nobody@example.com"})
            )
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn offline_recovery_resets_a_password_without_a_running_receiver() {
    let db = TestDb::migrated().await;
    {
        let server = Launch::serve(&db)
            .env("STRATHON_PASSWORD_PEPPER", "pepper")
            .start()
            .await;
        register(&server, "owner@example.com").await;
    }
    let (code, stderr) = Launch::serve(&db)
        .command("admin")
        .env("STRATHON_PASSWORD_PEPPER", "pepper")
        .run_to_exit(Duration::from_secs(30));
    assert_eq!(code, 2, "admin needs a task: {stderr:?}");

    let output = std::process::Command::new(crate::harness::binary())
        .args([
            "admin",
            "reset-password",
            "--email",
            "OWNER@example.com",
            "--disable-mfa",
        ])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("STRATHON_PASSWORD_PEPPER", "pepper")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    let temporary = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Temporary password: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(printed.contains("MFA:"), "{printed}");
    assert_eq!(db.scalar_i64("SELECT count(*) FROM sessions").await, 0, "sessions end");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM users WHERE force_password_change")
            .await,
        1
    );

    let server = Launch::serve(&db)
        .env("STRATHON_PASSWORD_PEPPER", "pepper")
        .start()
        .await;
    let (status, login) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "owner@example.com", "password": temporary}),
    )
    .await;
    assert_eq!((status, login["force_password_change"].as_bool()), (200, Some(true)));

    let missing = std::process::Command::new(crate::harness::binary())
        .args(["admin", "reset-password", "--email", "ghost@example.com"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));

    let created = std::process::Command::new(crate::harness::binary())
        .args(["admin", "create-key", "--name", "ops", "--scope", "traces:read"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(created.status.success());
    let raw = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(server.get_json("/v1/traces", Some(&raw)).await.0, 200);
    assert_eq!(server.get_json("/v1/policies", Some(&raw)).await.0, 403);
    let listed = std::process::Command::new(crate::harness::binary())
        .args(["admin", "list-users"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("owner@example.com\tactive\t-\tdefault:owner"));
}

/// One request as a logged-in user acting in the default project.
async fn as_user(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .request(method, path)
        .bearer_auth(token)
        .header("X-Project-Id", DEFAULT_PROJECT_ID.to_string());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// (email, role) of each member in a member list.
fn email_roles(list: &Value) -> Vec<(&str, &str)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect()
}

/// A fresh receiver whose first user (the owner of the default project)
/// is signed in: its database, the receiver, the session token, the user id.
async fn with_owner() -> (TestDb, Server, String, String) {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).start().await;
    server.wait_ready().await;
    let (token, id) = register(&server, "owner@example.com").await;
    (db, server, token, id)
}

async fn register(server: &Server, email: &str) -> (String, String) {
    let (status, body) = anonymous_post(server, "/v1/auth/register", json!({"email": email, "password": GOOD})).await;
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["user"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn members_are_invited_reroled_and_removed_only_below_the_managers_rank() {
    use reqwest::Method;
    let (_db, server, owner, owner_id) = with_owner().await;

    // An email without an account becomes an invitation, honoured at registration.
    let invite = |email: &str, role: &str| json!({"email": email, "role": role});
    let (status, body) = as_user(
        &server,
        &owner,
        Method::POST,
        "/v1/members",
        Some(invite("Ops@Example.com", "admin")),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            201,
            json!({"status": "invited", "email": "ops@example.com", "role": "admin"})
        )
    );
    let (_, pending) = as_user(&server, &owner, Method::GET, "/v1/members/pending", None).await;
    assert_eq!(pending["data"][0]["email"], "ops@example.com");
    let (admin, admin_id) = register(&server, "ops@example.com").await;
    let (_, pending) = as_user(&server, &owner, Method::GET, "/v1/members/pending", None).await;
    assert_eq!(pending["data"], json!([]));

    // Nobody grants their own rank or above, or touches the owner or themselves.
    let (status, _) = as_user(
        &server,
        &admin,
        Method::POST,
        "/v1/members",
        Some(invite("x@example.com", "admin")),
    )
    .await;
    assert_eq!(status, 403);
    for (body, loc) in [
        (invite("x@example.com", "owner"), "role"),
        (
            json!({"email": "x@example.com", "role": "viewer", "admin": true}),
            "admin",
        ),
    ] {
        let (status, detail) = as_user(&server, &owner, Method::POST, "/v1/members", Some(body)).await;
        assert_eq!(
            (status, detail["detail"][0]["loc"][1].as_str()),
            (422, Some(loc)),
            "{detail}"
        );
    }
    let (status, body) = as_user(
        &server,
        &admin,
        Method::PATCH,
        &format!("/v1/members/{owner_id}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Cannot change the role of the project owner"))
    );
    let (status, body) = as_user(
        &server,
        &admin,
        Method::DELETE,
        &format!("/v1/members/{admin_id}"),
        None,
    )
    .await;
    assert_eq!((status, body["detail"].as_str()), (403, Some("Cannot remove yourself")));

    // A registered user is added at once; the admin promotes them one step.
    let (viewer, viewer_id) = register(&server, "dev@example.com").await;
    let (status, body) = as_user(
        &server,
        &admin,
        Method::POST,
        "/v1/members",
        Some(invite("dev@example.com", "viewer")),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (201, Some("added")));
    let (status, _) = as_user(
        &server,
        &admin,
        Method::POST,
        "/v1/members",
        Some(invite("dev@example.com", "viewer")),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = as_user(
        &server,
        &viewer,
        Method::PATCH,
        &format!("/v1/members/{admin_id}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 403, "a viewer has no project_settings:write");
    let (status, _) = as_user(
        &server,
        &admin,
        Method::PATCH,
        &format!("/v1/members/{viewer_id}"),
        Some(json!({"role": "operator"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = as_user(&server, &owner, Method::GET, "/v1/members", None).await;
    let roles = email_roles(&list["data"]);
    assert_eq!(
        roles,
        [
            ("owner@example.com", "owner"),
            ("ops@example.com", "admin"),
            ("dev@example.com", "operator")
        ]
    );

    // A reset hands back a one-time password; removal ends project access.
    let (status, reset) = as_user(
        &server,
        &admin,
        Method::POST,
        &format!("/v1/members/{viewer_id}/reset-password"),
        None,
    )
    .await;
    assert_eq!((status, reset["status"].as_str()), (200, Some("password_reset")));
    let (status, login) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "dev@example.com", "password": reset["temporary_password"]}),
    )
    .await;
    assert_eq!((status, &login["force_password_change"]), (200, &json!(true)));
    let operator = login["token"].as_str().unwrap().to_owned();
    assert_eq!(
        as_user(&server, &operator, Method::GET, "/v1/policies", None).await.0,
        200
    );
    let (status, _) = as_user(
        &server,
        &admin,
        Method::DELETE,
        &format!("/v1/members/{viewer_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        as_user(&server, &operator, Method::GET, "/v1/policies", None).await.0,
        403
    );

    let (_, events) = as_user(
        &server,
        &owner,
        Method::GET,
        "/v1/audit/events?filter=action sw \"member.\"",
        None,
    )
    .await;
    let mut actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        ["member.invite", "member.invite", "member.remove", "member.role_change"]
    );
}

#[tokio::test]
async fn ownership_moves_only_when_an_admin_accepts_the_owners_offer() {
    use reqwest::Method;
    let (_db, server, owner, owner_id) = with_owner().await;
    let invite = |email: &str, role: &str| Some(json!({"email": email, "role": role}));
    as_user(
        &server,
        &owner,
        Method::POST,
        "/v1/members",
        invite("ops@example.com", "admin"),
    )
    .await;
    as_user(
        &server,
        &owner,
        Method::POST,
        "/v1/members",
        invite("dev@example.com", "viewer"),
    )
    .await;
    let (admin, admin_id) = register(&server, "ops@example.com").await;
    let (_, viewer_id) = register(&server, "dev@example.com").await;
    let offer = |to: &str| format!("/v1/members/{to}/transfer-ownership");

    let (status, body) = as_user(&server, &owner, Method::POST, &offer(&viewer_id), None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("Target must be an admin to become owner"))
    );
    let (status, _) = as_user(&server, &admin, Method::POST, &offer(&admin_id), None).await;
    assert_eq!(status, 403, "only the owner offers");
    let (status, body) = as_user(&server, &owner, Method::POST, &offer(&admin_id), None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("transfer_pending")));

    let (_, pending) = as_user(&server, &admin, Method::GET, "/v1/ownership-transfers/pending", None).await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending["data"][0]["email"], "owner@example.com");
    let id = pending["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = as_user(
        &server,
        &owner,
        Method::POST,
        &format!("/v1/ownership-transfers/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(status, 403, "only the recipient accepts");
    let (status, _) = as_user(
        &server,
        &admin,
        Method::POST,
        &format!("/v1/ownership-transfers/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (_, list) = as_user(&server, &admin, Method::GET, "/v1/members", None).await;
    let role_of = |id: &str| {
        list["data"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()["role"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        (role_of(&admin_id), role_of(&owner_id)),
        ("owner".into(), "admin".into())
    );
    let (status, _) = as_user(
        &server,
        &admin,
        Method::POST,
        &format!("/v1/ownership-transfers/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(status, 404, "an offer is used once");

    // The new owner offers it back; the recipient declines and nothing changes.
    let (_, body) = as_user(&server, &admin, Method::POST, &offer(&owner_id), None).await;
    let back = body["transfer_id"].as_str().unwrap().to_owned();
    let (status, _) = as_user(
        &server,
        &owner,
        Method::POST,
        &format!("/v1/ownership-transfers/{back}/reject"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, pending) = as_user(&server, &owner, Method::GET, "/v1/ownership-transfers/pending", None).await;
    assert_eq!(pending["data"], json!([]));
    let (_, me) = session_get(&server, &owner, "/v1/auth/me", None).await;
    assert_eq!(me["projects"][0]["role"], "admin");
}

/// What the user's authenticator app shows `steps` 30-second periods from
/// the test's clock (`base`, Unix seconds).
fn authenticator(secret: &str, base: u64, steps: i64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    totp.generate((base as i64 + steps * 30) as u64).to_string()
}

/// A moment well inside a 30-second step, so the step codes a test derives
/// from it stay within the receiver's ±1 window for the whole test.
async fn mid_step() -> u64 {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let into = now().as_secs() % 30;
    if into >= 24 {
        tokio::time::sleep(Duration::from_secs(31 - into)).await;
    }
    now().as_secs()
}

#[tokio::test]
async fn a_second_factor_guards_login_and_is_sealed_at_rest() {
    use reqwest::Method;
    let db = TestDb::migrated().await;
    // Any valid Fernet key: url-safe base64 of 32 bytes.
    let server = Launch::serve(&db)
        .env(
            "STRATHON_ENCRYPTION_KEY",
            "dGhpcnR5LXR3by1ieXRlLWZlcm5ldC1rZXktZm9yLXQ=",
        )
        .start()
        .await;
    server.wait_ready().await;
    let (token, _) = register(&server, "owner@example.com").await;
    let (status, setup) = as_user(&server, &token, Method::POST, "/v1/auth/mfa/setup", None).await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let base = mid_step().await;
    assert_eq!(
        setup["otpauth_uri"],
        format!("otpauth://totp/Strathon:owner%40example%2Ecom?secret={secret}&issuer=Strathon")
    );
    let stored = db
        .sql()
        .await
        .query_one("SELECT totp_secret FROM users", &[])
        .await
        .unwrap();
    let stored: String = stored.get(0);
    assert!(stored.starts_with("enc:") && !stored.contains(&secret), "{stored}");

    let confirm = |code: String| Some(json!({ "code": code }));
    let (status, _) = as_user(
        &server,
        &token,
        Method::POST,
        "/v1/auth/mfa/verify-setup",
        confirm(authenticator(&secret, base, 20)),
    )
    .await;
    assert_eq!(status, 400, "a code from the wrong time does not enrol");
    let (status, enrolled) = as_user(
        &server,
        &token,
        Method::POST,
        "/v1/auth/mfa/verify-setup",
        confirm(authenticator(&secret, base, -1)),
    )
    .await;
    assert_eq!(status, 200, "{enrolled}");
    let recovery: Vec<String> = enrolled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 8);

    let login = || {
        anonymous_post(
            &server,
            "/v1/auth/login",
            json!({"email": "owner@example.com", "password": GOOD}),
        )
    };
    let verify = |challenge: &str, code: &str| {
        anonymous_post(
            &server,
            "/v1/auth/mfa/verify",
            json!({"mfa_token": challenge, "code": code}),
        )
    };
    let (status, challenge) = login().await;
    assert_eq!(
        (status, challenge["mfa_required"].as_bool()),
        (200, Some(true)),
        "{challenge}"
    );
    assert!(challenge.get("token").is_none());
    let challenge = challenge["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(
        session_get(&server, &challenge, "/v1/auth/me", None).await.0,
        401,
        "a challenge is not a session"
    );
    let (status, done) = verify(&challenge, &authenticator(&secret, base, 0)).await;
    assert_eq!(
        (status, done["message"].as_str()),
        (200, Some("MFA verified, logged in"))
    );
    let session = done["token"].as_str().unwrap().to_owned();
    assert_eq!(session_get(&server, &session, "/v1/auth/me", None).await.0, 200);
    assert_eq!(
        verify(&challenge, &authenticator(&secret, base, 1)).await.0,
        401,
        "a challenge is used once"
    );

    // A recovery code works once; five wrong codes end the challenge.
    let (_, c) = login().await;
    let c = c["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(
        verify(&c, &authenticator(&secret, base, 0)).await,
        (401, json!({"detail": "Invalid MFA code"})),
        "a code works once"
    );
    assert_eq!(verify(&c, &recovery[0]).await.0, 200);
    let (_, c) = login().await;
    let c = c["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(
        verify(&c, &recovery[0]).await,
        (401, json!({"detail": "Invalid MFA code"}))
    );
    for _ in 0..3 {
        assert_eq!(verify(&c, "nope").await.0, 401);
    }
    assert_eq!(
        verify(&c, "nope").await,
        (401, json!({"detail": "Too many incorrect MFA codes. Log in again."}))
    );
    assert_eq!(verify(&c, &authenticator(&secret, base, 1)).await.0, 401);

    // Changing the password and turning MFA off both need the factor.
    let change = json!({"current_password": GOOD, "new_password": "an0ther-horse!"});
    let (status, body) = as_user(
        &server,
        &session,
        Method::POST,
        "/v1/auth/change-password",
        Some(change),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("An MFA code is required to change the password."))
    );
    let off = |pw: &str, code: String| Some(json!({"password": pw, "code": code}));
    let (status, _) = as_user(
        &server,
        &session,
        Method::POST,
        "/v1/auth/mfa/disable",
        off("wrong", authenticator(&secret, base, 1)),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = as_user(
        &server,
        &session,
        Method::POST,
        "/v1/auth/mfa/disable",
        off(GOOD, recovery[1].clone()),
    )
    .await;
    assert_eq!(status, 400, "a recovery code cannot turn MFA off");
    let (status, _) = as_user(
        &server,
        &session,
        Method::POST,
        "/v1/auth/mfa/disable",
        off(GOOD, authenticator(&secret, base, 1)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, plain) = login().await;
    assert_eq!((status, plain["token"].is_string()), (200, true), "{plain}");
}

async fn login(server: &Server, email: &str) -> String {
    let (status, body) = anonymous_post(server, "/v1/auth/login", json!({"email": email, "password": GOOD})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn users_see_and_end_their_own_sessions_and_rename_themselves() {
    use reqwest::Method;
    let (db, server, laptop, _) = with_owner().await;
    let phone = login(&server, "owner@example.com").await;
    let (other, _) = register(&server, "other@example.com").await;

    let (status, listed) = session_get(&server, &laptop, "/v1/auth/sessions", None).await;
    assert_eq!(status, 200, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "only this user's: {sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    let phone_path = format!("/v1/auth/sessions/{}", phone_id.as_str().unwrap());

    // Another user cannot end it; its owner can, from the other device.
    assert_eq!(as_user(&server, &other, Method::DELETE, &phone_path, None).await.0, 404);
    assert_eq!(session_get(&server, &phone, "/v1/auth/me", None).await.0, 200);
    assert_eq!(
        as_user(&server, &laptop, Method::DELETE, &phone_path, None).await.0,
        204
    );
    assert_eq!(session_get(&server, &phone, "/v1/auth/me", None).await.0, 401);
    assert_eq!(
        as_user(&server, &laptop, Method::DELETE, &phone_path, None).await.0,
        404
    );

    // "Sign out everywhere else" keeps the caller's session only.
    let tablet = login(&server, "owner@example.com").await;
    let (status, body) = as_user(&server, &laptop, Method::DELETE, "/v1/auth/sessions", None).await;
    assert_eq!((status, body), (200, json!({"revoked": 1})));
    assert_eq!(session_get(&server, &tablet, "/v1/auth/me", None).await.0, 401);
    assert_eq!(session_get(&server, &laptop, "/v1/auth/me", None).await.0, 200);
    assert_eq!(
        session_get(&server, &other, "/v1/auth/me", None).await.0,
        200,
        "others untouched"
    );
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    assert_eq!(session_get(&server, &key, "/v1/auth/sessions", None).await.0, 400);
    let actions = server.audit_actions(&key, "auth").await;
    assert_eq!(
        actions,
        [
            "auth.session_revoke_others",
            "auth.login",
            "auth.session_revoke",
            "auth.login",
            "auth.login"
        ],
        "the project's audit log shows what its owner's account went through"
    );

    let (status, renamed) = as_user(
        &server,
        &laptop,
        Method::PATCH,
        "/v1/auth/me",
        Some(json!({"display_name": "  Ada L.  "})),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_name"], "Ada L.");
    let (_, me) = session_get(&server, &laptop, "/v1/auth/me", None).await;
    assert_eq!(me["user"]["display_name"], "Ada L.");
    for body in [
        json!({"display_name": ""}),
        json!({"display_name": "x", "email": "a@b.c"}),
        json!({}),
    ] {
        let (status, _) = as_user(&server, &laptop, Method::PATCH, "/v1/auth/me", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
    }
}

#[tokio::test]
async fn minting_keys_and_deleting_projects_make_a_session_prove_itself_again() {
    use reqwest::Method;
    let (db, server, owner, _) = with_owner().await;
    let mint = |headers: &[(&str, String)]| {
        let mut req = server
            .request(Method::POST, "/v1/api_keys")
            .bearer_auth(&owner)
            .header("X-Project-Id", DEFAULT_PROJECT_ID.to_string())
            .json(&json!({"name": "ci"}));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = mint(&[]).await;
    assert_eq!(
        (status, body["detail"].as_str().unwrap_or_default()),
        (
            403,
            "Sensitive operation requires re-authentication. Provide X-Confirm-Password or X-Confirm-MFA header."
        )
    );
    let (status, body) = mint(&[("X-Confirm-Password", "wrong-horse!1".into())]).await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid password for re-authentication"}))
    );
    let (status, body) = mint(&[("X-Confirm-MFA", "123456".into())]).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "MFA not enabled; use X-Confirm-Password instead"})
        )
    );
    let (status, body) = mint(&[("X-Confirm-Password", GOOD.into())]).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["key"].as_str().unwrap_or_default().starts_with("stra_"), "{body}");
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let (status, _) = server.post("/v1/api_keys", &key, json!({"name": "by key"})).await;
    assert_eq!(status, 201, "API keys are not asked to re-authenticate");

    // With a second factor, a fresh code confirms too, and only once.
    let (_, setup) = as_user(&server, &owner, Method::POST, "/v1/auth/mfa/setup", None).await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let base = mid_step().await;
    let (status, _) = as_user(
        &server,
        &owner,
        Method::POST,
        "/v1/auth/mfa/verify-setup",
        Some(json!({"code": authenticator(&secret, base, -1)})),
    )
    .await;
    assert_eq!(status, 200);
    let code = authenticator(&secret, base, 0);
    assert_eq!(mint(&[("X-Confirm-MFA", code.clone())]).await.0, 201);
    let (status, body) = mint(&[("X-Confirm-MFA", code)]).await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid MFA code for re-authentication"}))
    );

    // Deleting a project asks the same.
    let (status, project) = server
        .post("/v1/projects", &key, json!({"name": "Scratch", "slug": "scratch"}))
        .await;
    assert_eq!(status, 201, "{project}");
    let (status, _) = as_user(&server, &owner, Method::DELETE, "/v1/projects/scratch", None).await;
    assert_eq!(status, 403);
    let resp = server
        .request(Method::DELETE, "/v1/projects/scratch")
        .bearer_auth(&owner)
        .header("X-Project-Id", DEFAULT_PROJECT_ID.to_string())
        .header("X-Confirm-Password", GOOD)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let (_, projects) = server.get_json("/v1/projects", Some(&key)).await;
    assert!(!projects.to_string().contains("\"scratch\""), "{projects}");
}

/// The role → scope table of the API contract, checked against what every
/// role's session may actually call.
#[tokio::test]
async fn every_role_reaches_exactly_the_scopes_its_table_grants() {
    use reqwest::Method;
    const OPERATOR: &[&str] = &[
        "traces:read",
        "traces:write",
        "policies:read",
        "policies:write",
        "api_keys:read",
        "halts:read",
        "halts:write",
        "budgets:read",
        "budgets:write",
        "model_prices:read",
        "model_prices:write",
        "webhook_signing_keys:read",
        "webhook_signing_keys:write",
        "webhook_deliveries:read",
        "webhook_deliveries:write",
        "project_settings:read",
        "project_settings:write",
        "audit:read",
        "data:export",
    ];
    const VIEWER: &[&str] = &[
        "traces:read",
        "policies:read",
        "halts:read",
        "budgets:read",
        "model_prices:read",
        "webhook_deliveries:read",
        "webhook_signing_keys:read",
        "project_settings:read",
        "audit:read",
    ];
    let nowhere = uuid::Uuid::new_v4();
    // One endpoint per scope; a body that is invalid past the scope check
    // keeps the calls free of side effects.
    let probes: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("traces:read", Method::GET, "/v1/traces".into(), None),
        (
            "traces:write",
            Method::POST,
            "/v1/traces".into(),
            Some(json!({"resourceSpans": []})),
        ),
        ("policies:read", Method::GET, "/v1/policies".into(), None),
        ("policies:write", Method::POST, "/v1/policies".into(), Some(json!({}))),
        ("api_keys:read", Method::GET, "/v1/api_keys".into(), None),
        (
            "api_keys:write",
            Method::DELETE,
            format!("/v1/api_keys/{nowhere}"),
            None,
        ),
        ("halts:read", Method::GET, "/v1/halts".into(), None),
        ("halts:write", Method::POST, "/v1/halts".into(), Some(json!({}))),
        ("budgets:read", Method::GET, "/v1/budgets".into(), None),
        ("budgets:write", Method::POST, "/v1/budgets".into(), Some(json!({}))),
        ("model_prices:read", Method::GET, "/v1/model_prices".into(), None),
        (
            "model_prices:write",
            Method::POST,
            "/v1/model_prices".into(),
            Some(json!({})),
        ),
        (
            "webhook_signing_keys:read",
            Method::GET,
            "/v1/webhook_signing_keys".into(),
            None,
        ),
        (
            "webhook_signing_keys:write",
            Method::DELETE,
            format!("/v1/webhook_signing_keys/{nowhere}"),
            None,
        ),
        (
            "webhook_deliveries:read",
            Method::GET,
            "/v1/webhook_deliveries".into(),
            None,
        ),
        (
            "webhook_deliveries:write",
            Method::POST,
            format!("/v1/webhook_deliveries/{nowhere}/replay"),
            None,
        ),
        (
            "project_settings:read",
            Method::GET,
            "/v1/project/settings".into(),
            None,
        ),
        (
            "project_settings:write",
            Method::PATCH,
            "/v1/project/settings".into(),
            Some(json!({"bogus": 1})),
        ),
        ("audit:read", Method::GET, "/v1/audit/verify".into(), None),
        (
            "data:export",
            Method::POST,
            "/v1/compliance/export".into(),
            Some(json!({"format": "bogus"})),
        ),
        ("projects:manage", Method::GET, "/v1/projects".into(), None),
    ];
    let (_db, server, owner, _) = with_owner().await;
    let mut sessions = vec![("owner", owner.clone())];
    for role in ["admin", "operator", "viewer"] {
        let email = format!("{role}@example.com");
        let (status, body) = as_user(
            &server,
            &owner,
            Method::POST,
            "/v1/members",
            Some(json!({"email": email, "role": role})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        sessions.push((role, register(&server, &email).await.0));
    }
    let mut wrong = Vec::new();
    for (role, token) in &sessions {
        for (scope, method, path, body) in &probes {
            let granted = match *role {
                "owner" => true,
                "admin" => *scope != "projects:manage",
                "operator" => OPERATOR.contains(scope),
                _ => VIEWER.contains(scope),
            };
            let (status, reply) = as_user(&server, token, method.clone(), path, body.clone()).await;
            let refused = status == 403 && reply["detail"] == format!("missing required scope: {scope}");
            if granted == refused || (granted && status == 403) {
                wrong.push(format!("{role} {method} {path} ({scope}): {status} {reply}"));
            }
        }
    }
    assert!(wrong.is_empty(), "role table violated:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_a_token_sent_by_email() {
    let db = TestDb::migrated().await;
    let plain = Launch::serve(&db).start().await;
    let (_, caps) = plain.get_json("/v1/auth/capabilities", None).await;
    assert_eq!(caps["smtp_enabled"], false);
    let (status, body) = anonymous_post(&plain, "/v1/auth/reset-password/request", json!({"email": "a@b.co"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("admin-reset-password"),
        "{body}"
    );
    drop(plain);

    let mailbox = crate::mailbox::Mailbox::start();
    let server = Launch::serve(&db)
        .env("STRATHON_SMTP_HOST", "127.0.0.1")
        .env("STRATHON_SMTP_PORT", mailbox.port.to_string())
        .env("STRATHON_SMTP_STARTTLS", "false")
        .env("STRATHON_SMTP_FROM", "Strathon <noreply@strathon.test>")
        .start()
        .await;
    let (_, caps) = server.get_json("/v1/auth/capabilities", None).await;
    assert_eq!(caps["smtp_enabled"], true);
    let (session, _) = register(&server, "ada@example.com").await;

    let sent = json!({"message": "If an account with that email exists, a reset link has been sent."});
    let (status, body) = anonymous_post(
        &server,
        "/v1/auth/reset-password/request",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, sent.clone()),
        "unknown emails get the same answer"
    );
    let (status, body) = anonymous_post(
        &server,
        "/v1/auth/reset-password/request",
        json!({"email": "Ada@Example.com"}),
    )
    .await;
    assert_eq!((status, body), (200, sent));
    let mail = mailbox.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("From: Strathon <noreply@strathon.test>"), "{mail}");
    let token = mail
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 43 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or_else(|| panic!("no token in {mail}"))
        .to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mailbox.messages().len(), 1, "nothing was sent for the unknown address");

    let confirm = |token: &str, password: &str| json!({"token": token, "new_password": password});
    let (status, _) = anonymous_post(&server, "/v1/auth/reset-password/confirm", confirm(&token, "short")).await;
    assert_eq!(status, 400, "the password rules apply");
    let (status, body) = anonymous_post(
        &server,
        "/v1/auth/reset-password/confirm",
        confirm("forged", "N3w-passw0rd!"),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Invalid or expired reset token"}))
    );
    let (status, body) = anonymous_post(
        &server,
        "/v1/auth/reset-password/confirm",
        confirm(&token, "N3w-passw0rd!"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"message": "Password reset successfully. All sessions invalidated."})
        )
    );
    assert_eq!(
        session_get(&server, &session, "/v1/auth/me", None).await.0,
        401,
        "old sessions end"
    );
    let (status, _) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "ada@example.com", "password": GOOD}),
    )
    .await;
    assert_eq!(status, 401, "the old password is gone");
    let (status, _) = anonymous_post(
        &server,
        "/v1/auth/login",
        json!({"email": "ada@example.com", "password": "N3w-passw0rd!"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = anonymous_post(&server, "/v1/auth/password-reset", confirm(&token, "An0ther-pass!")).await;
    assert_eq!(status, 400, "a token works once");
}

#[tokio::test]
async fn members_are_also_managed_through_the_projects_slug() {
    use reqwest::Method;
    let (db, server, owner, _) = with_owner().await;
    let (_, viewer_id) = register(&server, "viewer@example.com").await;
    let (_, me) = session_get(&server, &owner, "/v1/auth/me", None).await;
    let slug = me["projects"][0]["slug"].as_str().unwrap().to_owned();
    let members = format!("/v1/projects/{slug}/members");
    // The URL gives the session its project: no X-Project-Id needed.
    let slug_call = |method: Method, path: String, body: Option<Value>| {
        let mut req = server.request(method, &path).bearer_auth(&owner);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (status, added) = slug_call(
        Method::POST,
        members.clone(),
        Some(json!({"email": "Viewer@Example.com", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["user_id"], viewer_id);
    assert_eq!(added["project_slug"], slug);
    let (status, body) = slug_call(
        Method::POST,
        members.clone(),
        Some(json!({"email": "viewer@example.com", "role": "viewer"})),
    )
    .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (
            409,
            json!("User viewer@example.com is already a member of this project")
        )
    );
    for (body, status) in [
        (json!({"email": "ghost@example.com", "role": "viewer"}), 404),
        (json!({"email": "viewer@example.com", "role": "owner"}), 403),
        (json!({"email": "viewer@example.com", "role": "king"}), 400),
    ] {
        assert_eq!(
            slug_call(Method::POST, members.clone(), Some(body.clone())).await.0,
            status,
            "{body}"
        );
    }

    let (status, listed) = slug_call(Method::GET, members.clone(), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["count"], 2);
    let roles = email_roles(&listed["members"]);
    assert_eq!(
        roles,
        [("owner@example.com", "owner"), ("viewer@example.com", "viewer")]
    );

    let one = format!("{members}/{viewer_id}");
    let (status, body) = slug_call(Method::PATCH, one.clone(), Some(json!({"role": "operator"}))).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"user_id": viewer_id, "role": "operator", "project_slug": slug})
        )
    );
    assert_eq!(slug_call(Method::DELETE, one.clone(), None).await.0, 204);
    assert_eq!(slug_call(Method::DELETE, one, None).await.0, 404);
    assert_eq!(
        slug_call(Method::GET, "/v1/projects/elsewhere/members".into(), None).await,
        (404, json!({"detail": "Project not found: elsewhere"}))
    );
    let key = db.key(DEFAULT_PROJECT_ID, &["project_settings:read"]).await;
    assert_eq!(
        server.get_json(&members, Some(&key)).await.0,
        200,
        "a key of the project may read it"
    );
    assert_eq!(
        server
            .post(&members, &key, json!({"email": "x@example.com", "role": "viewer"}))
            .await
            .0,
        403
    );
}
