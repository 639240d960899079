//! Projects and per-project model prices.

use serde_json::{json, Value};

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{protobuf, request, span};

async fn send(server: &Server, key: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    server.call(method, path, key, Some(body)).await
}

#[tokio::test]
async fn projects_are_created_with_a_first_key_listed_and_soft_deleted() {
    let db = TestDb::migrated().await;
    let admin = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let narrow = db.key(DEFAULT_PROJECT_ID, &["traces:write"]).await;
    let server = Launch::serve(&db).start().await;
    let post = reqwest::Method::POST;

    let (status, created) = send(
        &server,
        &admin,
        post.clone(),
        "/v1/projects",
        json!({"name": "Payments", "slug": "payments"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let first_key = created["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        created["api_key_scopes"],
        json!(["traces:write", "policies:read", "halts:read"])
    );
    // The new project's key works and sees only its own (empty) data.
    assert_eq!(server.list("/v1/policies", &first_key).await.len(), 0);
    assert_eq!(server.get_json("/v1/policies", Some(&first_key)).await.0, 200);

    assert_eq!(
        send(
            &server,
            &admin,
            post.clone(),
            "/v1/projects",
            json!({"name": "Dup", "slug": "payments"})
        )
        .await,
        (409, json!({"detail": "project with slug 'payments' already exists"}))
    );
    assert_eq!(
        send(
            &server,
            &admin,
            post.clone(),
            "/v1/projects",
            json!({"name": "Bad", "slug": "-x"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        send(
            &server,
            &narrow,
            post.clone(),
            "/v1/projects",
            json!({"name": "n", "slug": "nnn"})
        )
        .await
        .0,
        403
    );

    let slugs: Vec<String> = server
        .list("/v1/projects", &admin)
        .await
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slugs, ["default", "payments"]);
    let (status, one) = server.get_json("/v1/projects/payments", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(one["resource_counts"]["api_keys"], 1);
    let (status, renamed) = send(
        &server,
        &admin,
        reqwest::Method::PATCH,
        "/v1/projects/payments",
        json!({"name": "Payments EU"}),
    )
    .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Payments EU")));

    let resp = server
        .request(reqwest::Method::DELETE, "/v1/projects/payments")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        server.get_json("/v1/policies", Some(&first_key)).await.0,
        401,
        "its keys are revoked"
    );
    assert_eq!(server.get_json("/v1/projects/payments", Some(&admin)).await.0, 404);
    let resp = server
        .request(reqwest::Method::DELETE, "/v1/projects/default")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409, "the last project cannot go");
}

#[tokio::test]
async fn price_overrides_change_the_cost_of_new_spans() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let (status, saved) = send(
        &server,
        &key,
        reqwest::Method::POST,
        "/v1/model_prices",
        json!({"model_name": "in-house-llm", "input_cost_per_token": "0.001", "output_cost_per_token": "0.002"}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["override"]["input_cost_per_token"], "0.001");
    assert_eq!(
        send(
            &server,
            &key,
            reqwest::Method::POST,
            "/v1/model_prices",
            json!({"model_name": "m", "input_cost_per_token": "x", "output_cost_per_token": "1"})
        )
        .await,
        (
            400,
            json!({"detail": "input_cost_per_token must be a decimal string (got 'x')"})
        )
    );
    assert_eq!(
        send(
            &server,
            &key,
            reqwest::Method::POST,
            "/v1/model_prices",
            json!({"model_name": "m", "input_cost_per_token": "-1", "output_cost_per_token": "1"})
        )
        .await
        .0,
        400
    );

    let llm = span(1, 1, "llm.call")
        .attr("gen_ai.request.model", "in-house-llm")
        .attr("gen_ai.usage.input_tokens", 10i64)
        .attr("gen_ai.usage.output_tokens", 5i64);
    let (status, _, _) = server
        .post_traces(
            &key,
            protobuf(&request("agent", vec![llm])),
            "application/x-protobuf",
            None,
        )
        .await;
    assert_eq!(status, 200);
    // 10 × 0.001 + 5 × 0.002
    assert_eq!(server.list("/v1/spans", &key).await[0]["cost_usd"], "0.02");
    assert_eq!(
        server.get_json("/v1/model_prices", Some(&key)).await.1["overrides"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let resp = server
        .request(reqwest::Method::DELETE, "/v1/model_prices/in-house-llm")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = server
        .request(reqwest::Method::DELETE, "/v1/model_prices/in-house-llm")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn notification_channels_are_managed_per_project() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let other = db.project("other").await;
    let other_key = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let body = json!({"channel_type": "webhook", "name": "ops", "config": {"url": "https://hooks.example.com/x"}, "events": ["policy_alert", "budget_halt"]});
    let (status, created) = server.post("/v1/notification-channels", &key, body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["events"], json!(["policy_alert", "budget_halt"]));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(server.list("/v1/notification-channels", &key).await.len(), 1);
    assert_eq!(server.list("/v1/notification-channels", &other_key).await.len(), 0);

    let (status, bad) = server
        .post(
            "/v1/notification-channels",
            &key,
            json!({"channel_type": "pager", "name": "x"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = server
        .post(
            "/v1/notification-channels",
            &key,
            json!({"channel_type": "slack", "name": "x", "events": ["nope"]}),
        )
        .await;
    assert_eq!(
        (status, bad["detail"].as_str()),
        (400, Some("invalid events: ['nope']"))
    );

    let path = format!("/v1/notification-channels/{id}");
    let (status, patched) = server
        .call(reqwest::Method::PATCH, &path, &key, Some(json!({"enabled": false})))
        .await;
    assert_eq!((status, patched["enabled"].as_bool()), (200, Some(false)));
    assert_eq!(
        server
            .call(reqwest::Method::PATCH, &path, &key, Some(json!({})))
            .await
            .0,
        400
    );
    assert_eq!(
        server.call(reqwest::Method::DELETE, &path, &other_key, None).await.0,
        404
    );
    assert_eq!(server.call(reqwest::Method::DELETE, &path, &key, None).await.0, 204);
    assert_eq!(server.list("/v1/notification-channels", &key).await.len(), 0);
}
