//! `/v1/traces`: OTLP/HTTP ingest (POST) and the trace read API (GET).

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use strathon_actors::ingest_writer::{WriteError, WriteSpans};
use strathon_schema::partitions;
use tokio::sync::oneshot;

use crate::app::AppState;
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::ingest::convert::{self, Context};
use crate::ingest::otlp::{self, DecodeError, Format, MAX_WIRE_BYTES};

fn header<'a>(req: &'a HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn too_large(size: Option<usize>) -> ApiError {
    match size {
        Some(n) => ApiError::PayloadTooLarge(format!("Payload too large: {n} bytes (max {MAX_WIRE_BYTES})")),
        None => ApiError::PayloadTooLarge(format!("Payload too large: more than {MAX_WIRE_BYTES} bytes")),
    }
}

/// Reads the body only after authentication succeeded (the `Auth` extractor
/// runs first), never buffering more than the wire limit.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let declared = header(req, CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_WIRE_BYTES) {
        return Err(too_large(declared));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8192).min(MAX_WIRE_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_WIRE_BYTES {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge => ApiError::PayloadTooLarge(e.to_string()),
            DecodeError::UnsupportedEncoding(_) => ApiError::UnsupportedMediaType(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

pub async fn ingest(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_WRITE)?;
    let format = Format::from_content_type(header(&req, CONTENT_TYPE));
    let body = read_body(&req, payload).await?;
    let decoded = otlp::decompress(&body, header(&req, CONTENT_ENCODING))?;
    let request = otlp::decode(&decoded, format)?;
    drop(decoded);

    let project = state.contexts.get(&state.pool, auth.project_id).await?;
    let now = chrono::Utc::now();
    let months = partitions::wanted_months(now);
    let ctx = Context {
        project_id: auth.project_id,
        sampling_rate: state.config.sampling_rate,
        accept_from: months.first().map(|m| m.start_ns()).unwrap_or(i64::MIN),
        accept_until: months.last().map(|m| m.end_ns()).unwrap_or(i64::MAX),
        prices: &project.prices,
        redaction: &project.redaction,
    };
    let converted = convert::convert(request, &ctx);

    let m = &state.metrics.ingest;
    m.received.inc_by(converted.received as u64);
    m.rejected.inc_by(converted.rejected_count() as u64);
    m.dropped.inc_by(converted.sampled_out as u64);
    m.force_kept.inc_by(converted.force_kept as u64);
    m.kept.inc_by(converted.rows.len() as u64);
    m.heartbeats.inc_by(converted.heartbeats.len() as u64);
    m.unknown_model.inc_by(converted.unknown_model as u64);
    for beat in &converted.heartbeats {
        state.heartbeats.record(auth.project_id, beat, now);
    }

    let rejected = converted.rejected_count();
    let message = if rejected > 0 {
        converted.rejection_message()
    } else {
        String::new()
    };
    if !converted.rows.is_empty() {
        let (reply, committed) = oneshot::channel();
        let accepted = state
            .writer
            .send(WriteSpans {
                rows: converted.rows,
                reply,
            })
            .await
            .map_err(|_| WriteError::Database("writer unavailable".into()));
        let outcome = match accepted.and_then(|queued| queued) {
            Ok(()) => committed
                .await
                .unwrap_or_else(|_| Err(WriteError::Database("writer restarted".into()))),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {}
            Err(WriteError::Busy) => {
                m.refused_busy.inc();
                return Err(ApiError::Unavailable {
                    detail: "ingest queue is full".into(),
                    retry_after_secs: 1,
                });
            }
            Err(WriteError::Database(e)) => {
                return Err(ApiError::Unavailable {
                    detail: format!("spans not committed: {e}"),
                    retry_after_secs: 1,
                });
            }
        }
        for (model, usd) in &converted.costs {
            m.cost_usd.with_label_values(&[model]).inc_by(*usd);
        }
    }
    if rejected > 0 {
        tracing::info!(project_id = %auth.project_id, rejected, reason = %message, "rejected spans");
    }
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(otlp::response(rejected as i64, message, format)))
}
