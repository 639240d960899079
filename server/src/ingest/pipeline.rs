//! One OTLP request through ingest: conversion (policies, redaction, cost,
//! sampling) and the durable write through the ingest writer, answered once
//! committed. `POST /v1/traces` and the MCP gateway's own spans both go
//! through here, so a gateway decision is stored exactly like an SDK span.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use strathon_actors::ingest_writer::WriteError;
use strathon_schema::ingest::Batch;
use strathon_schema::partitions;
use uuid::Uuid;

use super::convert::{self, Context};
use crate::error::ApiError;
use crate::state::AppState;

/// What became of a request's spans.
pub struct Stored {
    pub rejected: usize,
    /// Why spans were rejected (empty when none were).
    pub message: String,
}

pub async fn store(state: &AppState, project_id: Uuid, request: ExportTraceServiceRequest) -> Result<Stored, ApiError> {
    let project = state.contexts.get(&state.pool, project_id).await?;
    let now = chrono::Utc::now();
    let months = partitions::wanted_months(now);
    let (accept_from, accept_until) = (
        months.first().map(|m| m.start_ns()).unwrap_or(i64::MIN),
        months.last().map(|m| m.end_ns()).unwrap_or(i64::MAX),
    );
    let sampling_rate = state.config.sampling_rate;
    // Conversion (redaction, policies, cost) is the CPU-heavy part of a
    // request: on the blocking pool it cannot hold up the workers that
    // answer the SDK's policy and sync polls.
    let converted = actix_web::web::block(move || {
        let ctx = Context {
            project_id,
            sampling_rate,
            accept_from,
            accept_until,
            prices: &project.prices,
            redaction: &project.redaction,
            policies: &project.policies,
            now,
        };
        convert::convert(request, &ctx)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("span conversion did not finish: {e}")))?;

    let m = &state.metrics.ingest;
    m.received.inc_by(converted.received as u64);
    m.rejected.inc_by(converted.rejected_count() as u64);
    m.dropped.inc_by(converted.sampled_out as u64);
    m.force_kept.inc_by(converted.force_kept as u64);
    m.kept.inc_by(converted.rows.len() as u64);
    m.heartbeats.inc_by(converted.heartbeats.len() as u64);
    m.unknown_model.inc_by(converted.unknown_model as u64);
    for beat in &converted.heartbeats {
        state.heartbeats.record(project_id, beat, now);
    }

    let mut match_counts: BTreeMap<String, u64> = BTreeMap::new();
    for matched in &converted.matches {
        *match_counts.entry(matched.action.clone()).or_default() += 1;
    }
    let rejected = converted.rejected_count();
    let message = if rejected > 0 {
        converted.rejection_message()
    } else {
        String::new()
    };
    if !converted.rows.is_empty() {
        let outcome = state
            .writers
            .write(Batch {
                spans: converted.rows,
                matches: converted.matches,
                approvals: converted.approvals,
            })
            .await;
        match outcome {
            Ok(()) => {}
            Err(WriteError::Busy) => {
                m.refused_busy.inc();
                return Err(ApiError::Unavailable {
                    detail: "ingest queue is full".into(),
                    retry_after_secs: 1,
                });
            }
            Err(WriteError::Invalid(e)) => {
                return Err(ApiError::BadRequest(format!("spans could not be stored: {e}")));
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
        for (action, n) in &match_counts {
            m.policy_matches.with_label_values(&[action]).inc_by(*n);
        }
    }
    if rejected > 0 {
        tracing::info!(%project_id, rejected, reason = %message, "rejected spans");
    }
    Ok(Stored { rejected, message })
}
