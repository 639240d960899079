//! Process lifecycles: `serve`, `migrate` and `dev`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpServer};
use anyhow::{bail, Context as _};
use strathon_actors::audit::{AnchorSealer, AuditPartitionMaintainer};
use strathon_actors::budget_monitor::BudgetMonitor;
use strathon_actors::cleanup::RetentionCleanup;
use strathon_actors::drift::{self, DriftDetector};
use strathon_actors::heartbeats::{HeartbeatWatch, Heartbeats};
use strathon_actors::incidents::{IncidentDetector, Thresholds};
use strathon_actors::ingest_writer::{self, WriterConfig};
use strathon_actors::partitions::SpansPartitionMaintainer;
use strathon_actors::reapers::{ApprovalReaper, KeyReaper};
use strathon_actors::retention::RetentionSweeper;
use strathon_actors::webhooks::ssrf::Guard;
use strathon_actors::webhooks::{Delivering, WebhookSender};
use strathon_actors::{Registry, Supervision};
use strathon_schema::{api_keys, migrate, partitions, pool, projects};

use crate::app;
use crate::config::{Config, DashboardSettings, Mode};
use crate::ingest::context::ContextCache;
use crate::logging::redact_url;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::state::{AppState, Draining};
use crate::{api, banner};

/// How long startup waits for Postgres to accept connections (compose may
/// start the receiver before the database is up).
const DB_WAIT: Duration = Duration::from_secs(60);

pub async fn migrate_only(url: &str) -> anyhow::Result<()> {
    wait_for_database(url).await?;
    apply_migrations(url).await
}

pub async fn dev(mut config: Config, dashboard: DashboardSettings) -> anyhow::Result<()> {
    create_database_if_missing(&config.database.url).await?;
    config.seed_dev_key = true;
    run(config, Some(dashboard)).await
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    run(config, None).await
}

/// The receiver, and in `strathon dev` the dashboard beside it in the same
/// process, talking to this receiver whatever STRATHON_DASHBOARD_API_URL says.
async fn run(config: Config, dashboard: Option<DashboardSettings>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), mode = ?config.mode, database = %redact_url(&config.database.url), "Strathon receiver starting");
    warn_about_keys(&config);

    wait_for_database(&config.database.url).await?;
    if config.auto_migrate {
        apply_migrations(&config.database.url).await?;
    } else {
        tracing::info!("auto-migrate disabled (STRATHON_AUTO_MIGRATE=false); assuming the schema is current");
    }

    let pool = pool::build(&config.database.url, config.db_pool_size, Duration::from_secs(5));
    bootstrap(&config, &pool).await?;

    crate::audit::install_key(config.effective_audit_key());
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    metrics.sampling_rate.set(config.sampling_rate);
    let registry = Registry::default();
    let heartbeats = Arc::new(Heartbeats::default());
    start_actors(&config, &pool, &metrics, &registry, &heartbeats);

    let limiter = config.rate_limit_enabled.then(|| {
        tracing::info!(
            rps = config.rate_limit_requests_per_second,
            burst = config.rate_limit_burst,
            "rate limiter enabled"
        );
        Arc::new(RateLimiter::new(
            config.rate_limit_burst,
            config.rate_limit_requests_per_second,
        ))
    });
    let writers = ingest_writer::start(
        WriterConfig {
            database_url: config.database.url.clone(),
            writers: config.ingest_writers.into(),
            breakers: config.breakers.settings(),
            max_queue_spans: config.ingest_queue_spans,
            max_group_spans: config.ingest_group_spans,
        },
        &registry,
        metrics.writer.clone(),
    );
    let draining = Draining::default();
    let state = web::Data::new(AppState {
        config: config.clone(),
        pool,
        actors: registry.clone(),
        metrics,
        limiter,
        writers,
        contexts: ContextCache::new(config.credential_scan_enabled),
        heartbeats: heartbeats.clone(),
        mailer: crate::mail::Mailer::from_config(&config)
            .context("configuring SMTP")?
            .map(Arc::new),
        login_limiter: RateLimiter::new(
            config.login_rate_limit_attempts,
            f64::from(config.login_rate_limit_attempts) / config.login_rate_limit_window_seconds as f64,
        ),
        // Four misses are forgiven; the fifth ends the five-minute challenge.
        mfa_limiter: RateLimiter::new(4, 4.0 / 300.0),
        draining: draining.clone(),
    });

    // Signals are ours (see `shutdown`): actix would stop accepting at once.
    let server = HttpServer::new(move || app::build(state.clone(), api::routes))
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout_seconds)
        .bind(config.bind)
        .with_context(|| format!("binding {}", config.bind))?;
    let bound = server.addrs().first().copied().context("no listening address")?;
    tracing::info!(addr = %bound, "listening");
    let receiver = server.run();
    let dashboard = match dashboard {
        Some(settings) => {
            let api = format!("http://{}", banner::reachable(bound));
            let (server, at) = crate::dashboard::bind(&settings, api.clone())?;
            tracing::info!(addr = %at, api = %api, "Strathon dashboard listening");
            Some((server, at))
        }
        None => None,
    };
    if config.seed_dev_key {
        let dashboard_url = dashboard.as_ref().map(|(_, at)| banner::endpoint(*at));
        eprint!("{}", banner::render(&banner::endpoint(bound), dashboard_url.as_deref()));
    }
    let mut handles = vec![receiver.handle()];
    handles.extend(dashboard.as_ref().map(|(d, _)| d.handle()));
    actix_rt::spawn(crate::shutdown::on_signal(
        handles,
        draining,
        Duration::from_secs(config.shutdown_drain_seconds),
    ));
    match dashboard {
        Some((dash, _)) => {
            futures::future::try_join(receiver, dash).await?;
        }
        None => receiver.await?,
    }
    let stuck = registry
        .stop_all(Duration::from_secs(config.shutdown_timeout_seconds))
        .await;
    if stuck > 0 {
        tracing::warn!(
            jobs = stuck,
            "background jobs still busy at shutdown; their locks go with their connections"
        );
    }
    tracing::info!("Strathon receiver stopped");
    Ok(())
}

fn warn_about_keys(config: &Config) {
    if config.audit_key().is_none() {
        tracing::warn!("STRATHON_AUDIT_HMAC_KEY is not set: the audit chain is signed with a public development key. Generate the security keys with: strathon keys generate");
    }
    if config.encryption_key().is_none() {
        tracing::warn!("STRATHON_ENCRYPTION_KEY is not set: TOTP and webhook signing secrets are stored unencrypted. Generate the security keys with: strathon keys generate");
    }
    if config.pepper().is_none() {
        tracing::warn!("STRATHON_PASSWORD_PEPPER is not set: passwords are hashed without a pepper. Generate the security keys with: strathon keys generate");
    }
}

async fn wait_for_database(url: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DB_WAIT;
    loop {
        match pool::dedicated(url).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                bail!(
                    "database {} unreachable after {}s: {e}",
                    redact_url(url),
                    DB_WAIT.as_secs()
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Applies pending migrations, then makes sure span partitions exist for the
/// months around now, so a freshly migrated database accepts spans at once.
async fn apply_migrations(url: &str) -> anyhow::Result<()> {
    tracing::info!("running database migrations");
    let applied = migrate::run_pending(url).await?;
    let mut conn = pool::dedicated(url).await?;
    let now = chrono::Utc::now();
    let mut created = partitions::ensure(&mut conn, &partitions::wanted_months(now)).await?;
    created.extend(partitions::ensure_audit(&mut conn, &partitions::audit_months(now)).await?);
    tracing::info!(applied = ?applied, partitions_created = ?created, head = ?migrate::head_version(), "database migrations complete");
    Ok(())
}

async fn bootstrap(config: &Config, pool: &strathon_schema::DbPool) -> anyhow::Result<()> {
    let mut conn = pool
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("database unavailable: {e}"))?;
    migrate::current_version(&mut conn)
        .await
        .context("the database is not migrated; run `strathon migrate` or set STRATHON_AUTO_MIGRATE=true")?;
    if config.mode == Mode::SelfHosted {
        projects::ensure_default(&mut conn)
            .await
            .context("creating the default project")?;
        tracing::info!(project_id = %projects::DEFAULT_PROJECT_ID, "default project ready");
    }
    if config.seed_dev_key {
        api_keys::seed_dev_key(&mut conn, projects::DEFAULT_PROJECT_ID)
            .await
            .context("seeding the dev key")?;
        tracing::warn!("the well-known development API key is active; never use it in production");
    } else if api_keys::remove_dev_key(&mut conn).await? > 0 {
        tracing::warn!("removed the well-known development API key (STRATHON_SEED_DEV_KEY is off)");
    }
    Ok(())
}

fn start_actors(
    config: &Config,
    pool: &strathon_schema::DbPool,
    metrics: &Metrics,
    registry: &Registry,
    heartbeats: &Arc<Heartbeats>,
) {
    let sup = Supervision {
        registry: registry.clone(),
        metrics: metrics.actors.clone(),
        database_url: config.database.url.clone(),
        panic_once: config.panic_drill(),
    };
    strathon_actors::spawn(
        SpansPartitionMaintainer {
            pool: pool.clone(),
            interval: Duration::from_secs(config.span_partition_interval_seconds),
            retention_months: config.span_partition_retention_months,
        },
        &sup,
    );
    if config.retention_enabled {
        strathon_actors::spawn(
            RetentionSweeper {
                pool: pool.clone(),
                interval: Duration::from_secs(config.retention_interval_seconds),
                batch_size: config.retention_batch_size,
                metrics: metrics.retention.clone(),
            },
            &sup,
        );
    } else {
        registry.register_disabled("retention_task");
    }
    strathon_actors::spawn(
        BudgetMonitor {
            pool: pool.clone(),
            interval: Duration::from_secs_f64(config.budget_eval_interval_seconds),
            metrics: metrics.budgets.clone(),
        },
        &sup,
    );
    strathon_actors::spawn(
        AuditPartitionMaintainer {
            pool: pool.clone(),
            interval: Duration::from_secs(86_400),
        },
        &sup,
    );
    strathon_actors::spawn(
        AnchorSealer {
            pool: pool.clone(),
            interval: Duration::from_secs(config.audit_anchor_interval_seconds),
            merkle_root: crate::audit::chain::merkle_root,
        },
        &sup,
    );
    strathon_actors::spawn(
        ApprovalReaper {
            pool: pool.clone(),
            interval: Duration::from_secs(30),
        },
        &sup,
    );
    strathon_actors::spawn(
        KeyReaper {
            pool: pool.clone(),
            interval: Duration::from_secs(300),
        },
        &sup,
    );
    strathon_actors::spawn(
        HeartbeatWatch {
            pool: pool.clone(),
            heartbeats: heartbeats.clone(),
            timeout: Duration::from_secs(config.heartbeat_timeout_seconds),
        },
        &sup,
    );
    if config.webhook_sweeper_enabled {
        let sender = strathon_actors::spawn(
            WebhookSender {
                pool: pool.clone(),
                interval: Duration::from_secs(config.webhook_sweeper_interval_sec),
                delivering: Delivering {
                    batch: config.webhook_sweeper_batch,
                    max_attempts: config.webhook_max_attempts,
                    min_backoff: Duration::from_millis(config.webhook_min_backoff_ms),
                    max_backoff: Duration::from_millis(config.webhook_max_backoff_ms),
                    timeout: Duration::from_secs(config.webhook_request_timeout_sec),
                    guard: Guard {
                        enabled: config.webhook_ssrf_guard,
                        allow_loopback: config.webhook_allow_loopback,
                    },
                    encryption_key: config.encryption_key().map(str::to_owned),
                    slack_buttons: config.integrations.slack_secret().is_some(),
                },
                metrics: metrics.webhooks.clone(),
            },
            &sup,
        );
        strathon_actors::webhooks::listen::spawn(config.database.url.clone(), sender.recipient());
    } else {
        registry.register_disabled(strathon_actors::webhooks::NAME);
    }
    let detectors = &config.detectors;
    if detectors.drift_enabled {
        strathon_actors::spawn(
            DriftDetector {
                pool: pool.clone(),
                interval: Duration::from_secs(detectors.drift_interval_seconds),
                lag: Duration::from_secs(detectors.drift_lag_seconds),
                params: drift::Params {
                    min_observations: i32::try_from(detectors.drift_min_observations).unwrap_or(i32::MAX),
                    alpha: detectors.drift_ewma_alpha,
                    threshold: detectors.drift_cusum_threshold,
                    slack: detectors.drift_cusum_slack,
                },
            },
            &sup,
        );
    } else {
        registry.register_disabled(drift::NAME);
    }
    if detectors.incident_detection_enabled {
        strathon_actors::spawn(
            IncidentDetector {
                pool: pool.clone(),
                interval: Duration::from_secs(detectors.incident_interval_seconds),
                thresholds: Thresholds {
                    window: Duration::from_secs(detectors.incident_window_seconds),
                    blocks: detectors.incident_block_threshold,
                    errors: detectors.incident_error_threshold,
                },
            },
            &sup,
        );
    } else {
        registry.register_disabled(strathon_actors::incidents::NAME);
    }
    strathon_actors::spawn(
        RetentionCleanup {
            pool: pool.clone(),
            interval: Duration::from_secs(config.retention_cleanup_interval_seconds),
        },
        &sup,
    );
}

/// `strathon dev` convenience: creates the database DATABASE_URL names.
pub(crate) async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let target: tokio_postgres::Config = url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = target
        .get_dbname()
        .context("DATABASE_URL names no database")?
        .to_owned();
    let mut admin = target.clone();
    admin.dbname("postgres");
    let (client, connection) = admin
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to the postgres database")?;
    actix_rt::spawn(async move {
        let _ = connection.await;
    });
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        client.batch_execute(&format!("CREATE DATABASE {quoted}")).await?;
        tracing::info!(database = %name, "created database");
    }
    Ok(())
}
