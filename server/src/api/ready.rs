//! `GET /ready`: readiness. Checks the database, the schema version, the
//! current spans partition and every background actor, each within 500 ms;
//! any failure answers 503 with the same shape and a short `reason`.

use actix_web::get;
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use strathon_schema::{migrate, partitions};

use crate::state::AppState;

const BOUND: Duration = Duration::from_millis(500);

/// One check of `GET /ready`. Besides `status`, each carries what it
/// measured: `latency_ms` (db), `current`/`head` (migrations),
/// `current_partition` (partitions), `disabled`/`leader`/`restarts`/
/// `last_error` (background actors).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the checks are built as JSON
pub struct ReadyCheck {
    /// `ok` or `failed`.
    status: String,
    /// Why it failed.
    reason: Option<String>,
    latency_ms: Option<f64>,
    /// The database's newest applied migration.
    current: Option<String>,
    /// The newest migration this build carries.
    head: Option<String>,
    current_partition: Option<String>,
    disabled: Option<bool>,
    leader: Option<bool>,
    restarts: Option<i64>,
    last_error: Option<String>,
}

/// Whether this replica can serve, check by check.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the report is built as JSON
pub struct ReadyReport {
    /// `ready` or `not_ready`.
    status: String,
    /// By name: `db`, `migrations`, `partitions`, each background actor,
    /// and `shutting_down` while the replica drains.
    checks: std::collections::BTreeMap<String, ReadyCheck>,
}

/// Readiness
///
/// Checks the database, the schema version, the current month's spans
/// partition and every background actor, each within 500 ms. Needs no
/// credential.
#[utoipa::path(
    tag = "Operations",
    operation_id = "get_ready",
    security(()),
    responses(
        (status = 200, description = "Every check passed.", body = ReadyReport),
        (status = 503, description = "A check failed (or the replica is draining); the same report, with each failure's `reason`.", body = ReadyReport),
    ),
)]
#[get("/ready")]
pub async fn get(state: web::Data<AppState>) -> HttpResponse {
    let (db_checks, actor_checks) = futures::join!(database_checks(&state), actor_checks(&state));
    let mut checks = Map::new();
    if state.draining.is_on() {
        checks.insert(
            "shutting_down".into(),
            failed("shutting down: draining before the listener closes"),
        );
    }
    checks.extend(db_checks);
    checks.extend(actor_checks);
    let ready = checks.values().all(|c| c["status"] == "ok");
    let body = json!({ "status": if ready { "ready" } else { "not_ready" }, "checks": checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

fn failed(reason: impl Into<String>) -> Value {
    json!({ "status": "failed", "reason": reason.into() })
}

/// `db`, `migrations` and `partitions` share one connection; when it cannot
/// be had, all three report the database as unreachable.
async fn database_checks(state: &AppState) -> Vec<(String, Value)> {
    let started = Instant::now();
    let conn = match tokio::time::timeout(BOUND, state.pool.get()).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "readiness: no database connection");
            None
        }
        Err(_) => None,
    };
    let Some(mut conn) = conn else {
        let reason = if started.elapsed() >= BOUND {
            "db check exceeded 500ms timeout"
        } else {
            "database unreachable"
        };
        return ["db", "migrations", "partitions"]
            .map(|k| (k.to_owned(), failed(reason)))
            .to_vec();
    };

    use diesel_async::RunQueryDsl as _;
    let db = match tokio::time::timeout(BOUND, diesel::sql_query("SELECT 1").execute(&mut conn)).await {
        Ok(Ok(_)) => {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            json!({ "status": "ok", "latency_ms": (ms * 100.0).round() / 100.0 })
        }
        Ok(Err(_)) => failed("database unreachable"),
        Err(_) => failed("db check exceeded 500ms timeout"),
    };

    let head = migrate::head_version();
    let migrations = match tokio::time::timeout(BOUND, migrate::current_version(&mut conn)).await {
        Ok(Ok(current)) => {
            let behind = current.is_none() || current < head;
            let mut v = json!({ "status": if behind { "failed" } else { "ok" }, "current": current, "head": head });
            if behind {
                v["reason"] = json!(if current.is_none() {
                    "database not migrated"
                } else {
                    "schema behind code"
                });
            }
            v
        }
        Ok(Err(_)) => failed("database not migrated"),
        Err(_) => failed("migrations check exceeded 500ms timeout"),
    };

    let wanted = partitions::Month::of(chrono::Utc::now()).span_partition();
    let partitions = match tokio::time::timeout(BOUND, partitions::list(&mut conn)).await {
        Ok(Ok(names)) if names.contains(&wanted) => {
            json!({ "status": "ok", "current_partition": wanted })
        }
        Ok(Ok(_)) => failed(format!(
            "no spans partition for current month ({})",
            wanted.trim_start_matches("spans_")
        )),
        Ok(Err(_)) => failed("partition metadata unreadable"),
        Err(_) => failed("partitions check exceeded 500ms timeout"),
    };

    vec![
        ("db".into(), db),
        ("migrations".into(), migrations),
        ("partitions".into(), partitions),
    ]
}

async fn actor_checks(state: &AppState) -> Vec<(String, Value)> {
    let names = state.actors.names();
    let checks = futures::future::join_all(names.iter().map(|name| state.actors.check(name, BOUND))).await;
    names
        .into_iter()
        .zip(checks)
        .map(|(name, check)| {
            (
                name.to_owned(),
                serde_json::to_value(check).unwrap_or_else(|e| failed(e.to_string())),
            )
        })
        .collect()
}
