//! `/v1/audit`: the tamper-evident log. Events are listed with a SCIM-style
//! filter and cursor, verified one by one, and the whole chain can be
//! walked to find the first broken link. Reading the log is itself audited.

use actix_web::get;
use actix_web::http::header::LINK;
use actix_web::{web, HttpResponse};
use chrono::DateTime;
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Text};
use diesel::BoolExpressionMethods;
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::audit::{self as rows, Filter};
use uuid::Uuid;

use super::params::{self, Params};
use crate::audit::filter::{self, Expr, Literal, Op};
use crate::audit::{self, chain};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

use super::views::AuditEventView;

/// Turns a parsed filter into SQL over the allow-listed columns; values are
/// always bound, never spliced.
fn to_sql(e: &Expr) -> Filter {
    match e {
        Expr::And(a, b) => Box::new(BoolExpressionMethods::and(to_sql(a), to_sql(b))),
        Expr::Or(a, b) => Box::new(BoolExpressionMethods::or(to_sql(a), to_sql(b))),
        Expr::Not(a) => Box::new(diesel::dsl::not(to_sql(a))),
        Expr::Compare { attr, op, value } => {
            let column = filter::ATTRIBUTES
                .iter()
                .find(|(a, _)| a == attr)
                .map(|(_, c)| *c)
                .unwrap_or("NULL");
            let text = match value {
                Literal::Text(s) | Literal::Number(s) => s.clone(),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => {
                    let test = if *op == Op::Ne { "IS NOT NULL" } else { "IS NULL" };
                    return Box::new(sql::<Bool>(&format!("({column} {test})")));
                }
            };
            let timed = matches!(attr.as_str(), "occurred_at" | "ingested_at");
            let (prefix, suffix) = match op {
                Op::Eq => (" = ", ""),
                Op::Ne => (" <> ", ""),
                Op::Gt => (" > ", ""),
                Op::Lt => (" < ", ""),
                Op::Ge => (" >= ", ""),
                Op::Le => (" <= ", ""),
                Op::Co => (" LIKE '%' || ", " || '%'"),
                Op::Sw => (" LIKE ", " || '%'"),
                Op::Ew => (" LIKE '%' || ", ""),
            };
            let (cast_open, cast_close) = if timed && !matches!(op, Op::Co | Op::Sw | Op::Ew) {
                ("CAST(", " AS timestamptz)")
            } else {
                ("", "")
            };
            let lhs = if timed && matches!(op, Op::Co | Op::Sw | Op::Ew) {
                format!("{column}::text")
            } else {
                column.to_owned()
            };
            Box::new(
                sql::<Bool>(&format!("({lhs}{prefix}{cast_open}"))
                    .bind::<Text, _>(text)
                    .sql(&format!("{cast_close}{suffix})")),
            )
        }
    }
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the page is built as JSON
pub struct AuditEventPage {
    /// Newest first.
    data: Vec<AuditEventView>,
    /// The same as `data` (the CLI reads it here).
    events: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Whether one event's hash is what its content and predecessor make it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct AuditEventVerdict {
    valid: bool,
    event_id: Uuid,
    sequence_no: i64,
    hmac_key_id: Option<i16>,
    /// `row_hash_mismatch`; null when valid.
    error: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct ChainBreak {
    event_id: Uuid,
    sequence_no: i64,
    problem: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct BadAnchor {
    anchor_at: String,
    last_sequence: i64,
}

/// The whole chain checked.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct ChainVerdict {
    valid: bool,
    events_checked: i64,
    /// The first event whose link or hash is wrong.
    first_broken: Option<ChainBreak>,
    anchors_checked: i64,
    /// The first anchor whose Merkle root does not hold.
    first_bad_anchor: Option<BadAnchor>,
}

/// A sealed Merkle root over a run of audit events.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: anchors are built as JSON
pub struct AuditAnchor {
    anchor_at: String,
    last_sequence: i64,
    /// Hex.
    last_row_hash: String,
    /// Hex.
    merkle_root: String,
    event_count: i32,
    /// Always null: anchors are not signed.
    signature: Option<String>,
    /// Always null.
    signing_key_id: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuditAnchorList {
    data: Vec<AuditAnchor>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AnchorStatus {
    /// Whether any anchor was sealed.
    anchored: bool,
    /// When the newest was.
    latest_at: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    occurred_at: String,
    id: Uuid,
}

/// List audit events
///
/// Newest first, optionally filtered, a page at a time (the next page's
/// URL is also in the `Link` header). Reading the log is itself audited.
#[utoipa::path(
    tag = "Audit",
    operation_id = "list_audit_events",
    security(("bearer" = ["audit:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 50)."),
        ("filter" = Option<String>, Query, description = "A SCIM-style filter (RFC 7644 subset): `attr op value` with `eq`, `ne`, `co`, `sw`, `ew`, `gt`, `lt`, `ge`, `le`, joined by `and`, `or`, `not (…)` and parentheses; e.g. `action eq \"policy.create\" and occurred_at gt \"2026-01-01T00:00:00Z\"`. Attributes: `occurred_at`, `ingested_at`, `project_id`, `cascade_root_id`, `request_id`, `actor_type`, `actor_id`, `actor_display`, `action`, `action_category`, `outcome`, `reason`, `resource_type`, `resource_id`, `resource_parent`, `api_key_id`, `auth_method`."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of events.", body = AuditEventPage,
            headers(("Link" = String, description = "`<…?cursor=…>; rel=\"next\"` when there is a next page."))),
        (status = 400, description = "The filter does not parse, or the cursor is invalid."),
    ),
)]
#[get("/v1/audit/events")]
pub async fn list(auth: Auth, state: web::Data<AppState>, query: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let limit = params::limit(&query, 50, 1000)?;
    let raw_filter = query
        .get("filter")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    let parsed = match &raw_filter {
        Some(f) => Some(filter::parse(f).map_err(|e| ApiError::BadRequest(format!("invalid filter: {e}")))?),
        None => None,
    };
    let after = match params::decode_cursor::<Cursor>(&query)? {
        Some(c) => Some((
            DateTime::parse_from_rfc3339(&c.occurred_at)
                .map_err(|e| ApiError::BadRequest(format!("invalid cursor: {e}")))?
                .to_utc(),
            c.id,
        )),
        None => None,
    };
    let mut conn = state.pool.get().await?;
    let (found, next) = conn
        .transaction(async |conn| {
            let mut found = rows::list(conn, auth.project_id, parsed.as_ref().map(to_sql), after, limit + 1).await?;
            let next = (found.len() as i64 > limit).then(|| {
                found.truncate(limit as usize);
                let last = found.last().expect("a full page has a last row");
                params::encode_cursor(&Cursor {
                    occurred_at: last.occurred_at.to_rfc3339(),
                    id: last.id,
                })
            });
            let read = json!({"filter": raw_filter, "limit": limit, "returned": found.len()});
            audit::append(
                conn,
                &auth,
                "audit.read",
                "audit_events",
                "list".into(),
                None,
                Some(read),
            )
            .await?;
            Ok::<_, ApiError>((found, next))
        })
        .await?;
    let data: Vec<Value> = found.iter().map(super::views::audit_event).collect();
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = &next {
        response.insert_header((LINK, format!("</v1/audit/events?cursor={cursor}>; rel=\"next\"")));
    }
    Ok(response.json(json!({ "data": data, "events": data, "next_cursor": next })))
}

/// Read an audit event
///
/// Reading it is itself audited.
#[utoipa::path(
    tag = "Audit",
    operation_id = "get_audit_event",
    security(("bearer" = ["audit:read"])),
    params(("event_id" = Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The event.", body = AuditEventView)),
)]
#[get("/v1/audit/events/{event_id}")]
pub async fn get(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let id = super::params::path_uuid_422(&path, "event_id")?;
    let mut conn = state.pool.get().await?;
    let event = conn
        .transaction(async |conn| {
            let e = rows::find(conn, auth.project_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("audit event {id} not found")))?;
            audit::append(conn, &auth, "audit.read", "audit_event", id.to_string(), None, None).await?;
            Ok::<_, ApiError>(e)
        })
        .await?;
    Ok(HttpResponse::Ok().json(super::views::audit_event(&event)))
}

/// Verify an audit event
///
/// Recomputes the event's HMAC from its content and its predecessor's
/// hash. An unknown event, or another project's, is a 404 like every
/// other route's (the original answered 200 with `event_not_found`, which
/// no published client reads).
#[utoipa::path(
    tag = "Audit",
    operation_id = "verify_audit_event",
    security(("bearer" = ["audit:read"])),
    params(("event_id" = Uuid, Path, description = "The event's id.")),
    responses(
        (status = 200, description = "The verdict.", body = AuditEventVerdict),
        (status = 422, description = "`event_id` is not a UUID."),
    ),
)]
#[get("/v1/audit/events/{event_id}/verify")]
pub async fn verify_one(
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let id = super::params::path_uuid_422(&path, "event_id")?;
    let mut conn = state.pool.get().await?;
    let e = rows::find(&mut conn, auth.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("audit event {id} not found")))?;
    let valid = chain::verify(audit::key(), &audit::payload(&e), &e.prev_hash, &e.row_hash);
    Ok(HttpResponse::Ok().json(json!({
        "valid": valid, "event_id": e.id, "sequence_no": e.sequence_no, "hmac_key_id": e.hmac_key_id,
        "error": (!valid).then_some("row_hash_mismatch"),
    })))
}

/// Verify the audit chain
///
/// Walks the project's whole chain: every event's hash recomputed, every
/// `prev_hash` equal to its predecessor's `row_hash`, and every anchor's
/// Merkle root recomputed from the events it covers.
#[utoipa::path(
    tag = "Audit",
    operation_id = "verify_audit_chain",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The verdict.", body = ChainVerdict)),
)]
#[get("/v1/audit/verify")]
pub async fn verify_chain(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let mut conn = state.pool.get().await?;
    let events = rows::chain(&mut conn, auth.project_id).await?;
    let broken = audit::first_break(audit::key(), &events)
        .map(|b| json!({"event_id": b.event_id, "sequence_no": b.sequence_no, "problem": b.problem}));
    let sealed = rows::anchors_since(&mut conn, None, 1000).await?;
    let mut bad_anchor = None;
    for a in &sealed {
        let leaves: Vec<Vec<u8>> = rows::hashes_between(&mut conn, a.first_sequence, a.last_sequence)
            .await?
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        if !audit::anchor_holds(a, &leaves) {
            bad_anchor =
                Some(json!({"anchor_at": super::params::utc_z(&a.anchor_at), "last_sequence": a.last_sequence}));
            break;
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "valid": broken.is_none() && bad_anchor.is_none(),
        "events_checked": events.len(),
        "first_broken": broken,
        "anchors_checked": sealed.len(),
        "first_bad_anchor": bad_anchor,
    })))
}

/// List audit anchors
///
/// The sealed Merkle roots over runs of audit events, newest first.
#[utoipa::path(
    tag = "Audit",
    operation_id = "list_audit_anchors",
    security(("bearer" = ["audit:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
        ("since" = Option<String>, Query, description = "Only anchors sealed at or after this: nanoseconds since the epoch, or an ISO 8601 timestamp."),
    ),
    responses(
        (status = 200, description = "The anchors.", body = AuditAnchorList),
        (status = 400, description = "`since` is neither nanoseconds nor ISO 8601."),
    ),
)]
#[get("/v1/audit/anchors")]
pub async fn anchors(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let limit = params::limit(&query, 100, 1000)?;
    let since = params::time_ns(&query, "since")?.map(DateTime::from_timestamp_nanos);
    let mut conn = state.pool.get().await?;
    let found = rows::anchors_since(&mut conn, since, limit).await?;
    let data: Vec<Value> = found
        .iter()
        .map(|a| json!({"anchor_at": super::params::utc_z(&a.anchor_at), "last_sequence": a.last_sequence, "last_row_hash": hex::encode(&a.last_row_hash),
                        "merkle_root": hex::encode(&a.merkle_root), "event_count": a.event_count, "signature": null, "signing_key_id": null}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// Audit anchoring status
///
/// Whether any anchor was sealed, and when the newest was.
#[utoipa::path(
    tag = "Audit",
    operation_id = "get_audit_anchor_status",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The status.", body = AnchorStatus)),
)]
#[get("/v1/audit/anchors/status")]
pub async fn anchor_status(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let mut conn = state.pool.get().await?;
    let last = rows::last_anchor(&mut conn).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "anchored": last.is_some(), "latest_at": last.map(|a| super::params::utc_z(&a.anchor_at)) })))
}
