//! API key management and human approvals, as the CLI and dashboard use them.

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};

async fn send(server: &Server, key: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    server.call(method, path, key, Some(body)).await
}

#[tokio::test]
async fn keys_are_created_once_rotated_with_grace_and_revoked() {
    let db = TestDb::migrated().await;
    let admin = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let post = reqwest::Method::POST;

    let (status, created) = send(&server, &admin, post.clone(), "/v1/api_keys", json!({"name": "sdk"})).await;
    assert_eq!(status, 201, "{created}");
    let raw = created["key"].as_str().unwrap().to_owned();
    assert!(raw.starts_with("stra_") && raw.len() == 48);
    assert_eq!(created["key_prefix"], &raw[..12]);
    assert_eq!(
        created["scopes"],
        json!(["traces:write", "policies:read", "halts:read"]),
        "halts reach SDKs out of the box"
    );
    // The new key works at once, and its secret is never listed again.
    assert_eq!(
        send(&server, &raw, post.clone(), "/v1/intervention/sync", json!({}))
            .await
            .0,
        200
    );
    let (_, listed) = server.get_json("/v1/api_keys", Some(&admin)).await;
    assert_eq!(listed["api_keys"], listed["data"]);
    assert!(!listed.to_string().contains(&raw));

    let bad = |body: Value| send(&server, &admin, post.clone(), "/v1/api_keys", body);
    assert_eq!(
        bad(json!({"name": "x", "scopes": []})).await,
        (400, json!({"detail": "scopes must be a non-empty list"}))
    );
    let (status, body) = bad(json!({"name": "x", "scopes": ["traces:fly"]})).await;
    assert_eq!(status, 400);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("unknown scope(s): ['traces:fly']"));
    assert_eq!(bad(json!({"name": "x", "color": "red"})).await.0, 422);

    let id = created["id"].as_str().unwrap();
    let (status, rotated) = send(
        &server,
        &admin,
        post.clone(),
        &format!("/v1/api_keys/{id}/rotate"),
        json!({"grace_period_hours": 1}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(rotated["rotated_from_id"], id);
    assert_eq!(rotated["name"], "sdk (rotated)");
    let new_raw = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(
        server.get_json("/v1/policies", Some(&raw)).await.0,
        200,
        "the old key works during the grace period"
    );
    assert_eq!(server.get_json("/v1/policies", Some(&new_raw)).await.0, 200);
    assert_eq!(
        send(
            &server,
            &admin,
            post.clone(),
            &format!("/v1/api_keys/{id}/rotate"),
            json!({})
        )
        .await
        .0,
        404
    );

    let (status, renamed) = send(
        &server,
        &admin,
        reqwest::Method::PATCH,
        &format!("/v1/api_keys/{id}"),
        json!({"name": "old sdk"}),
    )
    .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("old sdk")));
    let revoke = server
        .request(reqwest::Method::DELETE, &format!("/v1/api_keys/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(server.get_json("/v1/policies", Some(&raw)).await.0, 401);
    let again = server
        .request(reqwest::Method::DELETE, &format!("/v1/api_keys/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn one_project_cannot_touch_another_projects_keys() {
    let db = TestDb::migrated().await;
    let other = db.project("other").await;
    let mine = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let theirs = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let (_, listed) = server.get_json("/v1/api_keys", Some(&theirs)).await;
    let their_id = listed["api_keys"][0]["id"].as_str().unwrap().to_owned();
    let (_, my_list) = server.get_json("/v1/api_keys", Some(&mine)).await;
    assert!(!my_list.to_string().contains(&their_id));
    for (method, path) in [
        (reqwest::Method::POST, format!("/v1/api_keys/{their_id}/rotate")),
        (reqwest::Method::PATCH, format!("/v1/api_keys/{their_id}")),
        (reqwest::Method::DELETE, format!("/v1/api_keys/{their_id}")),
    ] {
        let resp = server
            .request(method, &path)
            .bearer_auth(&mine)
            .json(&json!({"name": "pwned"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    assert_eq!(
        server.get_json("/v1/policies", Some(&theirs)).await.0,
        200,
        "their key still works"
    );
}

#[tokio::test]
async fn approvals_count_votes_and_a_deny_vetoes() {
    let db = TestDb::migrated().await;
    let sdk = db.key(DEFAULT_PROJECT_ID, &["traces:write", "policies:read"]).await;
    let alice = db.key(DEFAULT_PROJECT_ID, &["policies:write", "policies:read"]).await;
    let bob = db.key(DEFAULT_PROJECT_ID, &["policies:write"]).await;
    let server = Launch::serve(&db).start().await;
    let post = reqwest::Method::POST;
    let request = json!({"policy_id": "00000000-0000-0000-0000-0000000000ff", "policy_name": "refunds", "tool_name": "refund",
                         "tool_args": "{\"amount\": 5}", "timeout_seconds": 60, "approvers_required": 2});
    let (status, created) = send(&server, &sdk, post.clone(), "/v1/approvals", request.clone()).await;
    assert_eq!(status, 201);
    assert_eq!(created["approval"]["status"], "pending");
    let id = created["id"].as_str().unwrap().to_owned();

    let (_, first) = send(
        &server,
        &alice,
        post.clone(),
        &format!("/v1/approvals/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(
        (first["status"].as_str(), first["current_approvals"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(
        send(
            &server,
            &alice,
            post.clone(),
            &format!("/v1/approvals/{id}/approve"),
            json!({})
        )
        .await
        .0,
        404,
        "no double vote"
    );
    let (_, second) = send(
        &server,
        &bob,
        post.clone(),
        &format!("/v1/approvals/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(second["approval"]["status"], "approved");
    assert_eq!(
        server.get_json(&format!("/v1/approvals/{id}"), Some(&sdk)).await.1["status"],
        "approved"
    );

    let (_, vetoed) = send(&server, &sdk, post.clone(), "/v1/approvals", request).await;
    let vid = vetoed["id"].as_str().unwrap();
    let (_, denied) = send(
        &server,
        &bob,
        post.clone(),
        &format!("/v1/approvals/{vid}/deny"),
        json!({}),
    )
    .await;
    assert_eq!(denied["status"], "denied");
    let (_, pending) = server.get_json("/v1/approvals?status=pending", Some(&alice)).await;
    assert_eq!(
        pending["approvals"].as_array().unwrap().len(),
        0,
        "the CLI's `status` filter is honoured"
    );
    let (_, all) = server.get_json("/v1/approvals", Some(&alice)).await;
    assert_eq!(all["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(server.get_json("/v1/approvals?status=maybe", Some(&alice)).await.0, 400);
    assert_eq!(
        send(&server, &sdk, post, "/v1/approvals", json!({"policy_id": "nope"}))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn the_reaper_expires_unanswered_approvals() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let (_, created) = send(
        &server,
        &key,
        reqwest::Method::POST,
        "/v1/approvals",
        json!({"policy_id": "00000000-0000-0000-0000-0000000000ff", "timeout_seconds": 1}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // The reaper ticks every 30 s; its first tick ran at startup, so restart
    // it to tick again after the deadline.
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let server = Launch::serve(&db).start().await;
    server
        .wait_for("expiry", std::time::Duration::from_secs(15), async || {
            server.get_json(&format!("/v1/approvals/{id}"), Some(&key)).await.1["status"] == "expired"
        })
        .await;
    assert_eq!(
        server.get_json(&format!("/v1/approvals/{id}"), Some(&key)).await.1["resolved_by"],
        "timeout"
    );
}
