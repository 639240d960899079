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
    assert_eq!(
        anonymous_post(
            &server,
            "/v1/auth/register",
            json!({"email": "a@example.com", "password": GOOD})
        )
        .await
        .0,
        201
    );

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
        assert_eq!(
            anonymous_post(
                &server,
                "/v1/auth/register",
                json!({"email": "owner@example.com", "password": GOOD})
            )
            .await
            .0,
            201
        );
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
