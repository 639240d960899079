//! The trace and span read API: filters, pagination, trees, detail, and
//! that no read ever crosses a project boundary.

use serde_json::Value;

use crate::harness::{Launch, Server, TestDb, DEFAULT_PROJECT_ID};
use crate::otlp::{self, protobuf, request, span};

const PB: &str = "application/x-protobuf";

async fn send(server: &Server, key: &str, service: &str, spans: Vec<otlp::SpanB>) {
    let (status, _, body) = server
        .post_traces(key, protobuf(&request(service, spans)), PB, None)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn traces_filter_by_agent_and_page_with_a_cursor() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let base = otlp::now_ns();
    for t in 1..=5u8 {
        let agent = if t % 2 == 0 { "even-agent" } else { "odd-agent" };
        send(
            &server,
            &key,
            agent,
            vec![span(t, 1, "root").start(base + u64::from(t) * 1000)],
        )
        .await;
    }
    let evens = server.list("/v1/traces?agent_name=even-agent", &key).await;
    assert_eq!(evens.len(), 2);
    assert!(evens.iter().all(|t| t["agent_name"] == "even-agent"));

    let (_, page1) = server.get_json("/v1/traces?limit=2", Some(&key)).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert_eq!(page1["traces"], page1["data"], "the CLI reads `traces`");
    assert_eq!(
        page1["data"][0]["trace_id"],
        hex::encode(otlp::trace_id(5)),
        "newest first"
    );
    let mut seen: Vec<Value> = page1["data"].as_array().unwrap().clone();
    let mut cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let (status, page) = server
            .get_json(&format!("/v1/traces?limit=2&cursor={cursor}"), Some(&key))
            .await;
        assert_eq!(status, 200);
        seen.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let (status, body) = server.get_json("/v1/traces?cursor=%%%", Some(&key)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.get_json("/v1/traces?limit=0", Some(&key)).await.0, 422);

    let sorted = server.list("/v1/traces?sort=started:asc&limit=5", &key).await;
    assert_eq!(sorted[0]["trace_id"], hex::encode(otlp::trace_id(1)));
}

#[tokio::test]
async fn trees_always_have_one_root() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    let t0 = otlp::now_ns();
    send(
        &server,
        &key,
        "agent",
        vec![
            span(1, 1, "root").start(t0),
            span(1, 2, "child")
                .parent(1)
                .start(t0 + 10)
                .attr("gen_ai.tool.name", "search"),
            span(1, 3, "grandchild").parent(2).start(t0 + 20),
        ],
    )
    .await;
    send(
        &server,
        &key,
        "agent",
        vec![
            span(2, 1, "first-root").start(t0),
            span(2, 2, "second-root").start(t0 + 5),
        ],
    )
    .await;

    let (status, tree) = server
        .get_json(
            &format!("/v1/traces/{}/tree", hex::encode(otlp::trace_id(1))),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tree["span_count"], 3);
    assert_eq!(tree["root"]["name"], "root");
    assert_eq!(tree["root"]["children"][0]["tool_name"], "search");
    assert_eq!(tree["root"]["children"][0]["children"][0]["name"], "grandchild");

    let (_, forest) = server
        .get_json(
            &format!("/v1/traces/{}/tree", hex::encode(otlp::trace_id(2))),
            Some(&key),
        )
        .await;
    assert!(forest["root"].is_object(), "{forest}");
    assert_eq!(forest["root"]["children"].as_array().unwrap().len(), 2);

    let (status, detail) = server
        .get_json(&format!("/v1/traces/{}", hex::encode(otlp::trace_id(1))), Some(&key))
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["spans"].as_array().unwrap().len(), 3);
    assert_eq!(server.get_json("/v1/traces/not-hex/tree", Some(&key)).await.0, 404);
    assert_eq!(
        server
            .get_json(&format!("/v1/traces/{}", hex::encode([9u8; 16])), Some(&key))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn spans_search_by_text_attributes_and_columns() {
    let db = TestDb::migrated().await;
    let key = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    send(
        &server,
        &key,
        "agent",
        vec![
            span(1, 1, "langgraph.tool.send_email")
                .attr("gen_ai.tool.name", "send_email")
                .attr("customer", "acme"),
            span(1, 2, "openai.chat.gpt-4o")
                .attr("gen_ai.request.model", "gpt-4o")
                .attr("customer", "globex"),
            span(1, 3, "langgraph.tool.search")
                .attr("gen_ai.tool.name", "search")
                .attr("customer", "acme"),
        ],
    )
    .await;
    let names = |spans: Vec<Value>| -> Vec<String> {
        let mut n: Vec<String> = spans.iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
        n.sort();
        n
    };
    assert_eq!(
        names(server.list("/v1/spans?tool_name=search", &key).await),
        ["langgraph.tool.search"]
    );
    assert_eq!(
        names(server.list("/v1/spans?request_model=gpt-4o", &key).await),
        ["openai.chat.gpt-4o"]
    );
    assert_eq!(names(server.list("/v1/spans?attr.customer=acme", &key).await).len(), 2);
    assert_eq!(
        names(server.list("/v1/spans?q=send_email", &key).await),
        ["langgraph.tool.send_email"]
    );
    assert_eq!(
        names(server.list("/v1/spans?q=gpt-4o%20OR%20search", &key).await).len(),
        2
    );
    assert_eq!(
        server.get_json("/v1/spans?start_after=yesterday", Some(&key)).await.0,
        400
    );

    let resp = server.get("/v1/spans?limit=1").bearer_auth(&key).send().await.unwrap();
    let link = resp
        .headers()
        .get("link")
        .expect("Link header on a partial page")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with("</v1/spans?limit=1&cursor=") && link.ends_with("rel=\"next\""),
        "{link}"
    );

    let one = &server.list("/v1/spans?tool_name=search", &key).await[0];
    let path = format!(
        "/v1/spans/{}/{}",
        one["trace_id"].as_str().unwrap(),
        one["span_id"].as_str().unwrap()
    );
    let (status, detail) = server.get_json(&path, Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["events"], serde_json::json!([]));
    assert_eq!(detail["tool_name"], "search");
    assert_eq!(server.get_json("/v1/spans/zz/yy", Some(&key)).await.0, 404);
}

#[tokio::test]
async fn no_read_crosses_projects() {
    let db = TestDb::migrated().await;
    let other = db.project("other").await;
    let mine = db.key(DEFAULT_PROJECT_ID, &["*"]).await;
    let theirs = db.key(other, &["*"]).await;
    let server = Launch::serve(&db).start().await;
    // The same trace and span ids in both projects stay two separate rows.
    send(&server, &mine, "mine", vec![span(1, 1, "mine.span")]).await;
    send(&server, &theirs, "theirs", vec![span(1, 1, "theirs.span")]).await;

    for (key, name) in [(&mine, "mine.span"), (&theirs, "theirs.span")] {
        let spans = server.list("/v1/spans", key).await;
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0]["name"], name);
        let traces = server.list("/v1/traces", key).await;
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0]["span_count"], 1);
        let (_, tree) = server
            .get_json(
                &format!("/v1/traces/{}/tree", hex::encode(otlp::trace_id(1))),
                Some(key),
            )
            .await;
        assert_eq!(tree["root"]["name"], name);
    }
    let reader = db.key(other, &["traces:read"]).await;
    let detail = format!(
        "/v1/spans/{}/{}",
        hex::encode(otlp::trace_id(1)),
        hex::encode(otlp::span_id(1))
    );
    assert_eq!(server.get_json(&detail, Some(&reader)).await.1["name"], "theirs.span");
    let ingest_only = db.key(other, &["traces:write"]).await;
    assert_eq!(server.get_json("/v1/spans", Some(&ingest_only)).await.0, 403);
}
