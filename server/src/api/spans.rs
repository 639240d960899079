//! `GET /v1/spans` (search), `GET /v1/spans/aggregate` (rollups) and
//! `GET /v1/spans/{trace_id}/{span_id}`.

use actix_web::get;
use actix_web::http::header::LINK;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strathon_schema::analytics;
use strathon_schema::spans::{self, SpanQuery, SpanSort, EQUALITY_FILTERS};

use super::params::{self, Params};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

use super::views::SpanView;

/// A page of spans.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the page is built as JSON
pub struct SpanPage {
    data: Vec<SpanView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A span with its events and links (always empty: they are not stored).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SpanDetail {
    #[schema(inline)]
    #[serde(flatten)]
    span: SpanView,
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    links: Vec<Value>,
}

/// Spans, cost and tokens of one group (and time bucket).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the rows are built as JSON
pub struct SpanGroup {
    /// The group's value of the `group_by` column (null for spans without one).
    dimension: Option<String>,
    /// The bucket's start in nanoseconds since the epoch; null without `time_bucket`.
    bucket: Option<i64>,
    span_count: i64,
    /// Decimal string, USD.
    total_cost_usd: String,
    total_input_tokens: i64,
    total_output_tokens: i64,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct SpanAggregate {
    data: Vec<SpanGroup>,
    group_by: String,
    /// The bucket used; null for none.
    time_bucket: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    t: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    tr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    sp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    o: Option<i64>,
}

fn sort_field(name: &str) -> Option<SpanSort> {
    Some(match name {
        "started" => SpanSort::Started,
        "duration" => SpanSort::Duration,
        "name" => SpanSort::Name,
        "operation" => SpanSort::Operation,
        "status" => SpanSort::Status,
        _ => return None,
    })
}

/// Search spans
///
/// Newest first by default, a page at a time (the next page's URL, with
/// the same filters, is also in the `Link` header). Besides the parameters
/// below, any number of `attr.<key>=<value>` parameters keep only spans
/// whose attribute `<key>` is the string `<value>`.
#[utoipa::path(
    tag = "Spans",
    operation_id = "search_spans",
    security(("bearer" = ["traces:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 50)."),
        ("sort" = Option<String>, Query, description = "`field:direction`, field one of `started`, `duration`, `name`, `operation`, `status`, direction `asc` or `desc` (default); unknown fields mean newest first."),
        ("start_after" = Option<String>, Query, description = "Only spans that started after this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("start_before" = Option<String>, Query, description = "Only spans that started before this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("q" = Option<String>, Query, description = "Full text (web search syntax) over name, agent, tool, operation and model."),
        ("agent_name" = Option<String>, Query, description = "Exact match."),
        ("agent_id" = Option<String>, Query, description = "Exact match."),
        ("tool_name" = Option<String>, Query, description = "Exact match."),
        ("operation_name" = Option<String>, Query, description = "Exact match."),
        ("request_model" = Option<String>, Query, description = "Exact match."),
        ("response_model" = Option<String>, Query, description = "Exact match."),
        ("kind" = Option<String>, Query, description = "Exact match (e.g. `CLIENT`)."),
        ("status_code" = Option<String>, Query, description = "Exact match (`OK`, `ERROR`, `UNSET`)."),
        ("intervention_state" = Option<String>, Query, description = "Exact match (e.g. `blocked`)."),
        ("workflow_name" = Option<String>, Query, description = "Exact match."),
        ("conversation_id" = Option<String>, Query, description = "Exact match."),
        ("provider_name" = Option<String>, Query, description = "Exact match."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (with the same `sort`)."),
    ),
    responses(
        (status = 200, description = "A page of spans.", body = SpanPage,
            headers(("Link" = String, description = "`</v1/spans?…>; rel=\"next\"` when there is a next page."))),
        (status = 400, description = "A time bound that is neither nanoseconds nor ISO 8601, or a cursor that is invalid or does not match the order."),
    ),
)]
#[get("/v1/spans")]
pub async fn search(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let p = query.into_inner();
    let limit = params::limit(&p, 50, 1000)?;
    let cursor: Option<Cursor> = params::decode_cursor(&p)?;
    let sort = params::sort(&p, sort_field);
    let mut q = SpanQuery {
        start_after: params::time_ns(&p, "start_after")?,
        start_before: params::time_ns(&p, "start_before")?,
        equals: EQUALITY_FILTERS
            .iter()
            .filter_map(|c| p.get(*c).map(|v| (c.to_string(), v.clone())))
            .collect(),
        attributes: p
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("attr.").map(|key| (key.to_owned(), v.clone())))
            .collect(),
        text: p.get("q").map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
        sort,
        limit: limit + 1,
        ..Default::default()
    };
    if let Some(c) = cursor {
        match (sort, c) {
            (Some(_), Cursor { o: Some(offset), .. }) => q.offset = offset.max(0),
            (
                None,
                Cursor {
                    t: Some(t),
                    tr: Some(tr),
                    sp: Some(sp),
                    ..
                },
            ) => {
                let bad = || ApiError::BadRequest("invalid cursor: malformed position".into());
                q.after = Some((
                    t,
                    hex::decode(tr).map_err(|_| bad())?,
                    hex::decode(sp).map_err(|_| bad())?,
                ));
            }
            _ => {
                return Err(ApiError::BadRequest(
                    "invalid cursor: it does not match the requested order".into(),
                ))
            }
        }
    }
    let mut conn = state.pool.get().await?;
    let mut found = spans::search(&mut conn, auth.project_id, &q).await?;
    let next = (found.len() as i64 > limit).then(|| {
        found.truncate(limit as usize);
        let last = found.last();
        params::encode_cursor(&match sort {
            Some(_) => Cursor {
                t: None,
                tr: None,
                sp: None,
                o: Some(q.offset + limit),
            },
            None => Cursor {
                t: last.map(|s| s.start_time_unix_nano),
                tr: last.map(|s| hex::encode(&s.trace_id)),
                sp: last.map(|s| hex::encode(&s.span_id)),
                o: None,
            },
        })
    });
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = &next {
        // The next page keeps the caller's filters and order.
        let mut kept: Vec<(&str, &str)> = p
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        kept.sort();
        kept.push(("cursor", cursor.as_str()));
        let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
        response.insert_header((LINK, format!("</v1/spans?{query}>; rel=\"next\"")));
    }
    Ok(response.json(json!({ "data": found.iter().map(super::views::span).collect::<Vec<_>>(), "next_cursor": next })))
}

/// Read a span
#[utoipa::path(
    tag = "Spans",
    operation_id = "get_span",
    security(("bearer" = ["traces:read"])),
    params(
        ("trace_id" = String, Path, description = "32 hex characters; anything else is not found."),
        ("span_id" = String, Path, description = "16 hex characters; anything else is not found."),
    ),
    responses((status = 200, description = "The span.", body = SpanDetail)),
)]
#[get("/v1/spans/{trace_id}/{span_id}")]
pub async fn get(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let (trace, span) = path.into_inner();
    let not_found = || ApiError::NotFound(format!("span {trace}/{span} not found"));
    let (Some(trace_id), Some(span_id)) = (params::hex_id(&trace, 16), params::hex_id(&span, 8)) else {
        return Err(not_found());
    };
    let mut conn = state.pool.get().await?;
    let found = spans::find(&mut conn, auth.project_id, &trace_id, &span_id)
        .await?
        .ok_or_else(not_found)?;
    let mut body = super::views::span(&found);
    body["events"] = json!([]);
    body["links"] = json!([]);
    Ok(HttpResponse::Ok().json(body))
}

/// Time buckets `/v1/spans/aggregate` offers; other values mean none.
fn bucket_width(name: &str) -> Option<i64> {
    const HOUR: i64 = 3_600_000_000_000;
    Some(match name {
        "1h" => HOUR,
        "6h" => 6 * HOUR,
        "1d" => 24 * HOUR,
        "7d" => 7 * 24 * HOUR,
        "30d" => 30 * 24 * HOUR,
        _ => return None,
    })
}

/// Aggregate spans
///
/// Span counts, cost and tokens grouped by one column, optionally per
/// time bucket; the biggest groups first (newest bucket first).
#[utoipa::path(
    tag = "Spans",
    operation_id = "aggregate_spans",
    security(("bearer" = ["traces:read"])),
    params(
        ("group_by" = Option<String>, Query, description = "`request_model` (default), `agent_name`, `tool_name`, `operation_name`, `provider_name`, `kind`, `status_code` or `intervention_state`."),
        ("time_bucket" = Option<String>, Query, description = "`1h`, `6h`, `1d`, `7d` or `30d`; other values mean none."),
        ("start_after" = Option<String>, Query, description = "Only spans that started after this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("start_before" = Option<String>, Query, description = "Only spans that started before this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many rows (default 100)."),
    ),
    responses(
        (status = 200, description = "The groups.", body = SpanAggregate),
        (status = 400, description = "An unknown `group_by`, or a time bound that is neither nanoseconds nor ISO 8601."),
    ),
)]
#[get("/v1/spans/aggregate")]
pub async fn aggregate(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let p = query.into_inner();
    let group_by = p.get("group_by").map(String::as_str).unwrap_or("request_model");
    if !analytics::GROUP_COLUMNS.contains(&group_by) {
        return Err(ApiError::BadRequest(format!(
            "group_by must be one of {:?}",
            analytics::GROUP_COLUMNS
        )));
    }
    let bucket_name = p.get("time_bucket").filter(|b| bucket_width(b).is_some());
    let window = analytics::Window {
        after: params::time_ns(&p, "start_after")?,
        before: params::time_ns(&p, "start_before")?,
    };
    let limit = params::limit(&p, 100, 1000)?;
    let mut conn = state.pool.get().await?;
    let rows = analytics::aggregate(
        &mut conn,
        auth.project_id,
        group_by,
        bucket_name.and_then(|b| bucket_width(b)),
        window,
        limit,
    )
    .await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "dimension": r.dimension, "bucket": r.bucket, "span_count": r.span_count,
                "total_cost_usd": params::decimal(&r.total_cost_usd),
                "total_input_tokens": r.total_input_tokens, "total_output_tokens": r.total_output_tokens,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "group_by": group_by, "time_bucket": bucket_name })))
}
