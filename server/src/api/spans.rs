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

#[utoipa::path(tag = "Spans", responses((status = 200, description = "OK")))]
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

#[utoipa::path(tag = "Spans", responses((status = 200, description = "OK")))]
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

/// `GET /v1/spans/aggregate`: span counts, cost and tokens grouped by one
/// column, optionally per time bucket.
#[utoipa::path(tag = "Spans", responses((status = 200, description = "OK")))]
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
