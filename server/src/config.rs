//! Every setting the receiver reads, declared once: a clap field whose
//! environment variable, default and help text are the single source for the
//! CLI, the process and `docs/configuration.md` (a test keeps the doc in step).

use std::net::SocketAddr;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One organization, a default project, optional dev key.
    SelfHosted,
    /// Multi-tenant: security keys required, no default project, no dev key.
    Cloud,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LogLevel {
    #[value(alias = "trace")]
    Trace,
    #[value(alias = "debug")]
    Debug,
    #[value(alias = "info")]
    Info,
    #[value(alias = "warning", alias = "WARN", alias = "warn")]
    Warning,
    #[value(alias = "error")]
    Error,
    #[value(alias = "critical")]
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log settings, read by every command.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log verbosity: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    #[arg(
        long,
        env = "STRATHON_LOG_LEVEL",
        value_enum,
        ignore_case = true,
        default_value = "INFO"
    )]
    pub log_level: LogLevel,

    /// Log format: text, or json (one record per line).
    #[arg(long, env = "STRATHON_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// The dashboard's settings (`strathon dashboard`, and `strathon dev`).
/// The dashboard keeps no state: it needs only the receiver's address.
#[derive(Debug, Clone, Args)]
pub struct DashboardSettings {
    /// Address the dashboard listens on.
    #[arg(long, env = "STRATHON_DASHBOARD_BIND", default_value = "0.0.0.0:3000")]
    pub dashboard_bind: SocketAddr,

    /// The receiver's REST API as the dashboard reaches it (`strathon dev` uses its own receiver).
    #[arg(long, env = "STRATHON_DASHBOARD_API_URL", default_value = "http://127.0.0.1:4318")]
    pub dashboard_api_url: String,

    /// Mark the dashboard's cookies Secure; set it when users reach the dashboard over HTTPS.
    #[arg(long, env = "STRATHON_COOKIE_SECURE", default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub cookie_secure: bool,

    /// Comma-separated addresses or CIDR blocks of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For the dashboard believes.
    #[arg(long, env = "STRATHON_DASHBOARD_TRUSTED_PROXIES", default_value = "")]
    pub dashboard_trusted_proxies: String,
}

impl DashboardSettings {
    /// The trusted proxy networks; `validate` has checked that they parse.
    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.dashboard_trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter_map(parse_net)
            .collect()
    }

    /// The API base URL without a trailing slash.
    pub fn api_base(&self) -> String {
        self.dashboard_api_url.trim().trim_end_matches('/').to_owned()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.api_base();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(&url).is_err() {
            return err(
                "STRATHON_DASHBOARD_API_URL",
                format!("must be an http:// or https:// URL, got {url:?}"),
            );
        }
        if let Some(bad) = self
            .dashboard_trusted_proxies
            .split(',')
            .map(str::trim)
            .find(|p| !p.is_empty() && parse_net(p).is_none())
        {
            return err(
                "STRATHON_DASHBOARD_TRUSTED_PROXIES",
                format!("{bad:?} is not an IP address or CIDR block"),
            );
        }
        Ok(())
    }
}

/// An address (as a one-host network) or a CIDR block.
fn parse_net(raw: &str) -> Option<ipnet::IpNet> {
    raw.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Circuit breakers, fed by every stored span (state shared by all replicas).
#[derive(Debug, Clone, Args)]
pub struct BreakerSettings {
    /// Failures (error spans or interventions) inside the window that open an agent's or tool's circuit breaker.
    #[arg(long, env = "STRATHON_CB_ERROR_THRESHOLD", default_value = "10")]
    pub cb_error_threshold: u32,

    /// The circuit breakers' failure window, in seconds.
    #[arg(long, env = "STRATHON_CB_WINDOW_SECONDS", default_value = "300")]
    pub cb_window_seconds: u32,

    /// Seconds an open circuit breaker waits before it is half-open.
    #[arg(long, env = "STRATHON_CB_COOLDOWN_SECONDS", default_value = "60")]
    pub cb_cooldown_seconds: u32,

    /// Successes that close a half-open circuit breaker.
    #[arg(long, env = "STRATHON_CB_HALF_OPEN_MAX", default_value = "3")]
    pub cb_half_open_max: u32,
}

impl BreakerSettings {
    pub fn settings(&self) -> strathon_schema::breakers::Settings {
        strathon_schema::breakers::Settings {
            threshold: self.cb_error_threshold as usize,
            window: chrono::Duration::seconds(i64::from(self.cb_window_seconds)),
            cooldown: chrono::Duration::seconds(i64::from(self.cb_cooldown_seconds)),
            half_open_max: i32::try_from(self.cb_half_open_max).unwrap_or(i32::MAX),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (var, value) in [
            ("STRATHON_CB_ERROR_THRESHOLD", self.cb_error_threshold),
            ("STRATHON_CB_WINDOW_SECONDS", self.cb_window_seconds),
            ("STRATHON_CB_COOLDOWN_SECONDS", self.cb_cooldown_seconds),
            ("STRATHON_CB_HALF_OPEN_MAX", self.cb_half_open_max),
        ] {
            if value == 0 {
                return err(var, "must be at least 1");
            }
        }
        Ok(())
    }
}

/// The behavioural-drift and incident detectors (leader-only background jobs).
#[derive(Debug, Clone, Args)]
pub struct DetectorSettings {
    /// Run the behavioural-drift detector (CUSUM over each agent's tool mix and cost).
    #[arg(long, env = "STRATHON_DRIFT_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub drift_enabled: bool,

    /// Seconds per drift observation: each tick observes the spans that started in one such window.
    #[arg(long, env = "STRATHON_DRIFT_INTERVAL_SECONDS", default_value = "60")]
    pub drift_interval_seconds: u64,

    /// Seconds a window stays open for late spans before the drift detector observes it.
    #[arg(long, env = "STRATHON_DRIFT_LAG_SECONDS", default_value = "30")]
    pub drift_lag_seconds: u64,

    /// Observations of an agent that form its baseline before drift can be reported.
    #[arg(long, env = "STRATHON_DRIFT_MIN_OBSERVATIONS", default_value = "30")]
    pub drift_min_observations: u32,

    /// Weight of each new observation in an agent's baseline (exponentially weighted, 0-1).
    #[arg(long, env = "STRATHON_DRIFT_EWMA_ALPHA", default_value = "0.3")]
    pub drift_ewma_alpha: f64,

    /// CUSUM decision threshold, in standard deviations.
    #[arg(long, env = "STRATHON_DRIFT_CUSUM_THRESHOLD", default_value = "5.0")]
    pub drift_cusum_threshold: f64,

    /// CUSUM slack per observation, in standard deviations (shifts smaller than this are ignored).
    #[arg(long, env = "STRATHON_DRIFT_CUSUM_SLACK", default_value = "0.5")]
    pub drift_cusum_slack: f64,

    /// Run the incident detector (bursts of blocked calls or errors).
    #[arg(long, env = "STRATHON_INCIDENT_DETECTION_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub incident_detection_enabled: bool,

    /// Seconds between incident checks.
    #[arg(long, env = "STRATHON_INCIDENT_INTERVAL_SECONDS", default_value = "60")]
    pub incident_interval_seconds: u64,

    /// The incident detector's sliding window, in seconds.
    #[arg(long, env = "STRATHON_INCIDENT_WINDOW_SECONDS", default_value = "300")]
    pub incident_window_seconds: u64,

    /// Blocked calls in a project within the window that make an incident.
    #[arg(long, env = "STRATHON_INCIDENT_BLOCK_THRESHOLD", default_value = "50")]
    pub incident_block_threshold: i64,

    /// Error spans of one agent within the window that make an incident.
    #[arg(long, env = "STRATHON_INCIDENT_ERROR_THRESHOLD", default_value = "100")]
    pub incident_error_threshold: i64,
}

impl DetectorSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.drift_interval_seconds == 0 {
            return err("STRATHON_DRIFT_INTERVAL_SECONDS", "must be at least 1");
        }
        if self.drift_min_observations < 2 {
            return err("STRATHON_DRIFT_MIN_OBSERVATIONS", "must be at least 2");
        }
        if !(self.drift_ewma_alpha > 0.0 && self.drift_ewma_alpha <= 1.0) {
            return err("STRATHON_DRIFT_EWMA_ALPHA", "must be above 0 and at most 1");
        }
        if !(self.drift_cusum_threshold > 0.0 && self.drift_cusum_threshold.is_finite()) {
            return err("STRATHON_DRIFT_CUSUM_THRESHOLD", "must be a positive number");
        }
        if !(self.drift_cusum_slack >= 0.0 && self.drift_cusum_slack.is_finite()) {
            return err("STRATHON_DRIFT_CUSUM_SLACK", "must be zero or a positive number");
        }
        if self.incident_interval_seconds == 0 || self.incident_window_seconds == 0 {
            let var = if self.incident_interval_seconds == 0 {
                "STRATHON_INCIDENT_INTERVAL_SECONDS"
            } else {
                "STRATHON_INCIDENT_WINDOW_SECONDS"
            };
            return err(var, "must be at least 1");
        }
        if self.incident_block_threshold < 1 || self.incident_error_threshold < 1 {
            let var = if self.incident_block_threshold < 1 {
                "STRATHON_INCIDENT_BLOCK_THRESHOLD"
            } else {
                "STRATHON_INCIDENT_ERROR_THRESHOLD"
            };
            return err(var, "must be at least 1");
        }
        Ok(())
    }
}

/// Slack, GitHub and the MCP gateway.
#[derive(Debug, Clone, Args)]
pub struct IntegrationSettings {
    /// Signing secret of the Slack app whose Approve and Deny buttons post to /v1/integrations/slack/actions (unset: that endpoint answers 400).
    #[arg(long, env = "STRATHON_SLACK_SIGNING_SECRET", hide_env_values = true)]
    pub slack_signing_secret: Option<String>,

    /// Seconds the MCP gateway waits for an upstream MCP server.
    #[arg(long, env = "STRATHON_MCP_UPSTREAM_TIMEOUT_SECONDS", default_value = "30")]
    pub mcp_upstream_timeout_seconds: u64,
}

impl IntegrationSettings {
    pub fn slack_secret(&self) -> Option<&str> {
        set(&self.slack_signing_secret)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=300).contains(&self.mcp_upstream_timeout_seconds) {
            return err("STRATHON_MCP_UPSTREAM_TIMEOUT_SECONDS", "must be between 1 and 300");
        }
        Ok(())
    }
}

/// The database a command works on. A group of its own so that commands
/// reading only a few settings (`adopt`) flatten just the groups they need.
#[derive(Debug, Clone, Args)]
pub struct Database {
    /// PostgreSQL connection URL.
    #[arg(
        id = "database_url",
        long = "database-url",
        value_name = "DATABASE_URL",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/strathon",
        hide_env_values = true
    )]
    pub url: String,
}

/// The keys that seal data at rest: what a row written under them needs to
/// be checked (the audit chain) or opened (TOTP and webhook secrets).
#[derive(Debug, Clone, Args)]
pub struct SealingKeys {
    /// Key for the audit log's HMAC chain (at least 32 bytes).
    #[arg(long, env = "STRATHON_AUDIT_HMAC_KEY", hide_env_values = true)]
    pub audit_hmac_key: Option<String>,

    /// Fernet key that encrypts TOTP and webhook signing secrets at rest.
    #[arg(long, env = "STRATHON_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
}

/// The password pepper: what hashing and checking a password needs besides
/// the password (`admin reset-password` reads it too).
#[derive(Debug, Clone, Args)]
pub struct Pepper {
    /// Secret mixed into password hashing (Argon2id secret input).
    #[arg(long, env = "STRATHON_PASSWORD_PEPPER", hide_env_values = true)]
    pub password_pepper: Option<String>,
}

impl Pepper {
    pub fn get(&self) -> Option<&str> {
        set(&self.password_pepper)
    }

    /// The pepper as bytes (empty when unset).
    pub fn bytes(&self) -> &[u8] {
        self.get().map(str::as_bytes).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub database: Database,

    /// Address the receiver listens on (OTLP/HTTP and the REST API).
    #[arg(long, env = "STRATHON_BIND", default_value = "0.0.0.0:4318")]
    pub bind: SocketAddr,

    /// Deployment mode: self-hosted or cloud.
    #[arg(long, env = "STRATHON_MODE", value_enum, default_value = "self-hosted")]
    pub mode: Mode,

    #[command(flatten)]
    pub log: LogSettings,

    /// Apply pending database migrations at startup.
    #[arg(long, env = "STRATHON_AUTO_MIGRATE", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub auto_migrate: bool,

    /// Fraction of ordinary traces kept, 0.0-1.0 (errors, interventions and policy matches are always kept).
    #[arg(long, env = "STRATHON_SAMPLING_RATE", default_value = "1.0")]
    pub sampling_rate: f64,

    /// Delete traces older than each project's retention.
    #[arg(long, env = "STRATHON_RETENTION_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub retention_enabled: bool,

    /// Seconds between retention sweeps.
    #[arg(long, env = "STRATHON_RETENTION_INTERVAL_SECONDS", default_value = "3600")]
    pub retention_interval_seconds: u64,

    /// Maximum traces deleted per project per sweep.
    #[arg(long, env = "STRATHON_RETENTION_BATCH_SIZE", default_value = "5000")]
    pub retention_batch_size: i64,

    /// Seconds between removals of expired sessions and API keys.
    #[arg(long, env = "STRATHON_RETENTION_CLEANUP_INTERVAL_SECONDS", default_value = "3600")]
    pub retention_cleanup_interval_seconds: u64,

    /// Span partitions older than this many months are dropped.
    #[arg(long, env = "STRATHON_SPAN_PARTITION_RETENTION_MONTHS", default_value = "12")]
    pub span_partition_retention_months: u32,

    /// Seconds between span partition maintenance runs.
    #[arg(long, env = "STRATHON_SPAN_PARTITION_INTERVAL_SECONDS", default_value = "21600")]
    pub span_partition_interval_seconds: u64,

    /// Scan stored attributes for credentials (API keys, tokens, connection strings) and redact them.
    #[arg(long, env = "STRATHON_CREDENTIAL_SCAN_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub credential_scan_enabled: bool,

    /// Most spans waiting for the database writer; beyond it OTLP requests get 503 with Retry-After.
    #[arg(long, env = "STRATHON_INGEST_QUEUE_SPANS", default_value = "50000")]
    pub ingest_queue_spans: usize,

    /// Most spans written in one group commit.
    #[arg(long, env = "STRATHON_INGEST_GROUP_SPANS", default_value = "5000")]
    pub ingest_group_spans: usize,

    /// Parallel ingest writers (1-8), each with its own database connection; traces are split among them by id.
    #[arg(long, env = "STRATHON_INGEST_WRITERS", default_value = "2", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub ingest_writers: u8,

    /// Seconds between budget evaluations (the monitor halts agents over budget).
    #[arg(long, env = "STRATHON_BUDGET_EVAL_INTERVAL_SECONDS", default_value = "5")]
    pub budget_eval_interval_seconds: f64,

    /// Seconds between Merkle anchors sealing new audit events.
    #[arg(long, env = "STRATHON_AUDIT_ANCHOR_INTERVAL_SECONDS", default_value = "60")]
    pub audit_anchor_interval_seconds: u64,

    /// Per-identifier in-memory rate limiting.
    #[arg(long, env = "STRATHON_RATE_LIMIT_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub rate_limit_enabled: bool,

    /// Sustained requests per second per identifier (token refill rate).
    #[arg(long, env = "STRATHON_RATE_LIMIT_REQUESTS_PER_SECOND", default_value = "100")]
    pub rate_limit_requests_per_second: f64,

    /// Token-bucket capacity: the largest momentary burst.
    #[arg(long, env = "STRATHON_RATE_LIMIT_BURST", default_value = "200")]
    pub rate_limit_burst: u32,

    /// Identify unauthenticated callers by the leftmost X-Forwarded-For entry when present.
    #[arg(long, env = "STRATHON_RATE_LIMIT_TRUST_FORWARDED_FOR", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub rate_limit_trust_forwarded_for: bool,

    /// Seed the well-known development API key (never in cloud mode).
    #[arg(long, env = "STRATHON_SEED_DEV_KEY", default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub seed_dev_key: bool,

    #[command(flatten)]
    pub keys: SealingKeys,

    #[command(flatten)]
    pub pepper: Pepper,

    /// Refuse to start without all three security keys, even when self-hosted.
    #[arg(long, env = "STRATHON_REQUIRE_SECURITY_KEYS", default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub require_security_keys: bool,

    /// Maximum pooled database connections.
    #[arg(long, env = "STRATHON_DB_POOL_SIZE", default_value = "10")]
    pub db_pool_size: u32,

    /// Key for the AI provider behind `POST /v1/policies/generate` (English to CEL).
    #[arg(long, env = "STRATHON_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,

    /// Allow self-registration (the first user always may: they become the owner).
    #[arg(long, env = "STRATHON_REGISTRATION_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub registration_enabled: bool,

    /// Hours a dashboard session lasts (1-720).
    #[arg(long, env = "STRATHON_SESSION_TTL_HOURS", default_value = "24")]
    pub session_ttl_hours: i64,

    /// Most live sessions per user; the oldest go first.
    #[arg(long, env = "STRATHON_MAX_SESSIONS", default_value = "10")]
    pub max_sessions: i64,

    /// Consecutive failed logins that lock an account.
    #[arg(long, env = "STRATHON_LOCKOUT_ATTEMPTS", default_value = "5")]
    pub lockout_attempts: i32,

    /// Minutes a locked account stays locked.
    #[arg(long, env = "STRATHON_LOCKOUT_MINUTES", default_value = "15")]
    pub lockout_minutes: i64,

    /// Login, registration and reset attempts per client IP per window.
    #[arg(long, env = "STRATHON_LOGIN_RATE_LIMIT_ATTEMPTS", default_value = "5")]
    pub login_rate_limit_attempts: u32,

    /// The window, in seconds, of STRATHON_LOGIN_RATE_LIMIT_ATTEMPTS.
    #[arg(long, env = "STRATHON_LOGIN_RATE_LIMIT_WINDOW_SECONDS", default_value = "60")]
    pub login_rate_limit_window_seconds: u64,

    /// Bearer token required to scrape /metrics (unset: open).
    #[arg(long, env = "STRATHON_METRICS_AUTH_TOKEN", hide_env_values = true)]
    pub metrics_auth_token: Option<String>,

    /// Seconds without a heartbeat before an agent is reported as `heartbeat_missed`.
    #[arg(long, env = "STRATHON_HEARTBEAT_TIMEOUT_SECONDS", default_value = "120")]
    pub heartbeat_timeout_seconds: u64,

    /// SMTP server for password-reset emails; unset, the reset endpoints answer 400.
    #[arg(long, env = "STRATHON_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (587 is the STARTTLS submission port).
    #[arg(long, env = "STRATHON_SMTP_PORT", default_value = "587")]
    pub smtp_port: u16,

    /// SMTP login user; unset, no login is attempted.
    #[arg(long, env = "STRATHON_SMTP_USER")]
    pub smtp_user: Option<String>,

    /// SMTP login password.
    #[arg(long, env = "STRATHON_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Sender address of password-reset emails.
    #[arg(
        long,
        env = "STRATHON_SMTP_FROM",
        default_value = "Strathon <noreply@getstrathon.com>"
    )]
    pub smtp_from: String,

    /// Require STARTTLS; turn off only for a relay on the same host or a trusted network.
    #[arg(long, env = "STRATHON_SMTP_STARTTLS", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub smtp_starttls: bool,

    /// Run the webhook sender (`webhook_sweeper_task`); when off, queued deliveries wait.
    #[arg(long, env = "STRATHON_WEBHOOK_SWEEPER_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub webhook_sweeper_enabled: bool,

    /// Seconds between sweeps for webhook retries that have come due.
    #[arg(long, env = "STRATHON_WEBHOOK_SWEEPER_INTERVAL_SEC", default_value = "5")]
    pub webhook_sweeper_interval_sec: u64,

    /// Most webhook deliveries claimed at once.
    #[arg(long, env = "STRATHON_WEBHOOK_SWEEPER_BATCH", default_value = "100")]
    pub webhook_sweeper_batch: i32,

    /// Attempts before a failing webhook delivery is dead-lettered.
    #[arg(long, env = "STRATHON_WEBHOOK_MAX_ATTEMPTS", default_value = "8")]
    pub webhook_max_attempts: i32,

    /// Wait before the first webhook retry, in milliseconds (doubles per attempt).
    #[arg(long, env = "STRATHON_WEBHOOK_MIN_BACKOFF_MS", default_value = "1000")]
    pub webhook_min_backoff_ms: u64,

    /// Longest wait between webhook retries, in milliseconds.
    #[arg(long, env = "STRATHON_WEBHOOK_MAX_BACKOFF_MS", default_value = "21600000")]
    pub webhook_max_backoff_ms: u64,

    /// Seconds one webhook request may take.
    #[arg(long, env = "STRATHON_WEBHOOK_REQUEST_TIMEOUT_SEC", default_value = "10")]
    pub webhook_request_timeout_sec: u64,

    /// Refuse webhook targets on private, loopback, link-local and metadata addresses, and plain http.
    #[arg(long, env = "STRATHON_WEBHOOK_SSRF_GUARD", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub webhook_ssrf_guard: bool,

    /// Let webhooks reach loopback addresses (over http too), for tests and local relays.
    #[arg(long, env = "STRATHON_WEBHOOK_ALLOW_LOOPBACK", default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub webhook_allow_loopback: bool,

    /// Seconds the receiver keeps serving after SIGTERM or SIGINT while `/ready` answers 503, so load balancers and Kubernetes endpoints stop sending it new requests first (0: close at once).
    #[arg(long, env = "STRATHON_SHUTDOWN_DRAIN_SECONDS", default_value = "10")]
    pub shutdown_drain_seconds: u64,

    /// Seconds requests in flight (span batches included) get to finish once the listener has closed.
    #[arg(long, env = "STRATHON_SHUTDOWN_TIMEOUT_SECONDS", default_value = "30")]
    pub shutdown_timeout_seconds: u64,

    /// Fault drill: `actor-panic:<task>` makes that background task panic once, to rehearse supervision and alerting.
    #[arg(long, env = "STRATHON_FAULT_INJECT")]
    pub fault_inject: Option<String>,

    #[command(flatten)]
    pub breakers: BreakerSettings,

    #[command(flatten)]
    pub detectors: DetectorSettings,

    #[command(flatten)]
    pub integrations: IntegrationSettings,
}

/// The development audit key used when none is configured in self-hosted
/// mode. It is public, so rows signed with it prove nothing to an outsider.
pub const DEV_AUDIT_HMAC_KEY: &str = "strathon_dev_audit_key_DO_NOT_USE_IN_PRODUCTION_xx";

/// A setting that cannot be used, named by its environment variable.
#[derive(Debug, PartialEq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}

fn err(var: &'static str, problem: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        var,
        problem: problem.into(),
    })
}

/// Empty variables (`KEY=` in an .env file) mean "not set".
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl SealingKeys {
    pub fn audit_key(&self) -> Option<&str> {
        set(&self.audit_hmac_key)
    }

    pub fn encryption_key(&self) -> Option<&str> {
        set(&self.encryption_key)
    }

    /// The audit HMAC key in force: the configured one, or the public dev
    /// key (self-hosted only; `Config::validate` refuses a missing key otherwise).
    pub fn effective_audit_key(&self) -> &str {
        self.audit_key().unwrap_or(DEV_AUDIT_HMAC_KEY)
    }

    /// Checks the keys that are set; `required` (the reason) makes a missing one an error too.
    pub fn validate(&self, required: Option<&str>) -> Result<(), ConfigError> {
        match self.audit_key() {
            Some(k) if k.len() < 32 => {
                return err(
                    "STRATHON_AUDIT_HMAC_KEY",
                    format!("must be at least 32 bytes, got {}", k.len()),
                );
            }
            None if required.is_some() => return err("STRATHON_AUDIT_HMAC_KEY", required.unwrap_or_default()),
            _ => {}
        }
        match self.encryption_key() {
            Some(k) if fernet::Fernet::new(k).is_none() => {
                return err(
                    "STRATHON_ENCRYPTION_KEY",
                    "is not a valid Fernet key (url-safe base64 of 32 bytes; generate one with Fernet.generate_key())",
                );
            }
            None if required.is_some() => return err("STRATHON_ENCRYPTION_KEY", required.unwrap_or_default()),
            _ => {}
        }
        Ok(())
    }
}

impl Config {
    pub fn audit_key(&self) -> Option<&str> {
        self.keys.audit_key()
    }

    pub fn encryption_key(&self) -> Option<&str> {
        self.keys.encryption_key()
    }

    pub fn pepper(&self) -> Option<&str> {
        self.pepper.get()
    }

    pub fn smtp_host(&self) -> Option<&str> {
        set(&self.smtp_host)
    }

    pub fn smtp_user(&self) -> Option<&str> {
        set(&self.smtp_user)
    }

    pub fn smtp_password(&self) -> Option<&str> {
        set(&self.smtp_password)
    }

    pub fn pepper_bytes(&self) -> &[u8] {
        self.pepper.bytes()
    }

    pub fn ai_key(&self) -> Option<&str> {
        set(&self.ai_api_key)
    }

    pub fn effective_audit_key(&self) -> &str {
        self.keys.effective_audit_key()
    }

    pub fn metrics_token(&self) -> Option<&str> {
        set(&self.metrics_auth_token)
    }

    /// The SSRF guard every outbound call goes through (webhooks, audit
    /// streams, the MCP gateway's upstreams).
    pub fn ssrf_guard(&self) -> strathon_actors::webhooks::ssrf::Guard {
        strathon_actors::webhooks::ssrf::Guard {
            enabled: self.webhook_ssrf_guard,
            allow_loopback: self.webhook_allow_loopback,
        }
    }

    /// The task name `STRATHON_FAULT_INJECT=actor-panic:<task>` names.
    pub fn panic_drill(&self) -> Option<String> {
        set(&self.fault_inject)
            .and_then(|v| v.strip_prefix("actor-panic:"))
            .map(str::to_owned)
    }

    fn keys_required(&self) -> bool {
        self.mode == Mode::Cloud || self.require_security_keys
    }

    /// Checks what types alone cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.sampling_rate) || self.sampling_rate.is_nan() {
            return err(
                "STRATHON_SAMPLING_RATE",
                format!("must be between 0.0 and 1.0, got {}", self.sampling_rate),
            );
        }
        if self.retention_interval_seconds == 0 {
            return err("STRATHON_RETENTION_INTERVAL_SECONDS", "must be at least 1");
        }
        if self.retention_batch_size < 1 {
            return err(
                "STRATHON_RETENTION_BATCH_SIZE",
                format!("must be at least 1, got {}", self.retention_batch_size),
            );
        }
        if self.retention_cleanup_interval_seconds == 0 {
            return err("STRATHON_RETENTION_CLEANUP_INTERVAL_SECONDS", "must be at least 1");
        }
        if self.span_partition_retention_months == 0 {
            return err("STRATHON_SPAN_PARTITION_RETENTION_MONTHS", "must be at least 1");
        }
        if self.span_partition_interval_seconds == 0 {
            return err("STRATHON_SPAN_PARTITION_INTERVAL_SECONDS", "must be at least 1");
        }
        if !(self.rate_limit_requests_per_second > 0.0 && self.rate_limit_requests_per_second.is_finite()) {
            return err("STRATHON_RATE_LIMIT_REQUESTS_PER_SECOND", "must be a positive number");
        }
        if self.rate_limit_burst == 0 {
            return err("STRATHON_RATE_LIMIT_BURST", "must be at least 1");
        }
        if self.ingest_queue_spans == 0 {
            return err("STRATHON_INGEST_QUEUE_SPANS", "must be at least 1");
        }
        if self.ingest_group_spans == 0 {
            return err("STRATHON_INGEST_GROUP_SPANS", "must be at least 1");
        }
        if !(self.budget_eval_interval_seconds > 0.0 && self.budget_eval_interval_seconds.is_finite()) {
            return err(
                "STRATHON_BUDGET_EVAL_INTERVAL_SECONDS",
                "must be a positive number of seconds",
            );
        }
        if self.smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return err(
                "STRATHON_SMTP_FROM",
                "is not an email address (e.g. Strathon <noreply@example.com>)",
            );
        }
        if self.heartbeat_timeout_seconds == 0 {
            return err("STRATHON_HEARTBEAT_TIMEOUT_SECONDS", "must be at least 1");
        }
        if self.webhook_sweeper_interval_sec == 0 {
            return err("STRATHON_WEBHOOK_SWEEPER_INTERVAL_SEC", "must be at least 1");
        }
        if !(1..=1000).contains(&self.webhook_sweeper_batch) {
            return err("STRATHON_WEBHOOK_SWEEPER_BATCH", "must be between 1 and 1000");
        }
        if !(1..=100).contains(&self.webhook_max_attempts) {
            return err("STRATHON_WEBHOOK_MAX_ATTEMPTS", "must be between 1 and 100");
        }
        if self.webhook_min_backoff_ms == 0 {
            return err("STRATHON_WEBHOOK_MIN_BACKOFF_MS", "must be at least 1");
        }
        if self.webhook_max_backoff_ms < self.webhook_min_backoff_ms {
            return err(
                "STRATHON_WEBHOOK_MAX_BACKOFF_MS",
                "must be at least STRATHON_WEBHOOK_MIN_BACKOFF_MS",
            );
        }
        if !(1..=300).contains(&self.webhook_request_timeout_sec) {
            return err("STRATHON_WEBHOOK_REQUEST_TIMEOUT_SEC", "must be between 1 and 300");
        }
        if !(10..=3600).contains(&self.audit_anchor_interval_seconds) {
            return err("STRATHON_AUDIT_ANCHOR_INTERVAL_SECONDS", "must be between 10 and 3600");
        }
        if !(1..=720).contains(&self.session_ttl_hours) {
            return err("STRATHON_SESSION_TTL_HOURS", "must be between 1 and 720");
        }
        if self.max_sessions < 1 || self.lockout_attempts < 1 || self.lockout_minutes < 1 {
            let var = if self.max_sessions < 1 {
                "STRATHON_MAX_SESSIONS"
            } else if self.lockout_attempts < 1 {
                "STRATHON_LOCKOUT_ATTEMPTS"
            } else {
                "STRATHON_LOCKOUT_MINUTES"
            };
            return err(var, "must be at least 1");
        }
        if self.login_rate_limit_attempts == 0 || self.login_rate_limit_window_seconds < 10 {
            let var = if self.login_rate_limit_attempts == 0 {
                "STRATHON_LOGIN_RATE_LIMIT_ATTEMPTS"
            } else {
                "STRATHON_LOGIN_RATE_LIMIT_WINDOW_SECONDS"
            };
            return err(var, "is too small (attempts at least 1, window at least 10 seconds)");
        }
        if self.shutdown_drain_seconds > 600 {
            return err("STRATHON_SHUTDOWN_DRAIN_SECONDS", "must be at most 600");
        }
        if !(1..=600).contains(&self.shutdown_timeout_seconds) {
            return err("STRATHON_SHUTDOWN_TIMEOUT_SECONDS", "must be between 1 and 600");
        }
        if self.db_pool_size == 0 {
            return err("STRATHON_DB_POOL_SIZE", "must be at least 1");
        }
        self.breakers.validate()?;
        self.detectors.validate()?;
        self.integrations.validate()?;
        if let Some(fault) = set(&self.fault_inject) {
            if self.panic_drill().is_none() {
                return err(
                    "STRATHON_FAULT_INJECT",
                    format!("unknown fault '{fault}'; expected actor-panic:<task>"),
                );
            }
        }
        let required = self.keys_required().then(|| self.required_reason());
        self.keys.validate(required.as_deref())?;
        if self.pepper().is_none() && self.keys_required() {
            return err("STRATHON_PASSWORD_PEPPER", self.required_reason());
        }
        if self.seed_dev_key && self.mode == Mode::Cloud {
            return err(
                "STRATHON_SEED_DEV_KEY",
                "the public development key is never seeded in cloud mode",
            );
        }
        Ok(())
    }

    fn required_reason(&self) -> String {
        if self.mode == Mode::Cloud {
            "must be set in cloud mode".into()
        } else {
            "must be set because STRATHON_REQUIRE_SECURITY_KEYS=true".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        let mut argv = vec!["strathon"];
        argv.extend_from_slice(args);
        Probe::try_parse_from(argv).expect("parses").config
    }

    #[test]
    fn defaults_are_valid() {
        let c = parse(&[]);
        assert_eq!(c.bind.port(), 4318);
        assert_eq!(c.retention_batch_size, 5000);
        assert!(c.auto_migrate && c.retention_enabled && c.rate_limit_enabled && !c.seed_dev_key);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&[&str], &str); 6] = [
            (&["--sampling-rate", "1.5"], "STRATHON_SAMPLING_RATE"),
            (&["--audit-hmac-key", "short"], "STRATHON_AUDIT_HMAC_KEY"),
            (&["--encryption-key", "not-a-fernet-key"], "STRATHON_ENCRYPTION_KEY"),
            (&["--mode", "cloud"], "STRATHON_AUDIT_HMAC_KEY"),
            (&["--retention-batch-size", "0"], "STRATHON_RETENTION_BATCH_SIZE"),
            (&["--fault-inject", "explode"], "STRATHON_FAULT_INJECT"),
        ];
        for (args, var) in cases {
            assert_eq!(parse(args).validate().unwrap_err().var, var, "{args:?}");
        }
    }

    #[test]
    fn cloud_mode_needs_all_keys_and_no_dev_key() {
        let key = "0123456789abcdef0123456789abcdef";
        let fernet = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
        let full = [
            "--mode",
            "cloud",
            "--audit-hmac-key",
            key,
            "--encryption-key",
            fernet,
            "--password-pepper",
            "p",
        ];
        assert_eq!(parse(&full).validate(), Ok(()));
        let mut with_dev = full.to_vec();
        with_dev.extend(["--seed-dev-key", "true"]);
        assert_eq!(parse(&with_dev).validate().unwrap_err().var, "STRATHON_SEED_DEV_KEY");
        assert_eq!(
            parse(&full[..6]).validate().unwrap_err().var,
            "STRATHON_PASSWORD_PEPPER"
        );
    }

    #[test]
    fn empty_keys_count_as_unset() {
        let c = parse(&["--audit-hmac-key", ""]);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.audit_key(), None);
    }
}

#[cfg(test)]
mod doc_tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use crate::cli::Cli;

    /// `(variable, default)` for every setting a subcommand reads.
    fn from_code(sub: &str) -> BTreeMap<String, String> {
        let cli = Cli::command();
        let command = cli.find_subcommand(sub).expect("subcommand exists");
        command
            .get_arguments()
            .filter_map(|arg| {
                let env = arg.get_env()?.to_string_lossy().into_owned();
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned());
                Some((env, default.unwrap_or_else(|| "(unset)".into())))
            })
            .collect()
    }

    /// `(variable, default)` rows of one section's table in the doc.
    fn from_doc(section: &str) -> BTreeMap<String, String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md"))
            .expect("doc exists");
        let section = doc
            .split(&format!("## {section}"))
            .nth(1)
            .expect("section exists")
            .split("\n## ")
            .next()
            .unwrap_or("");
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].trim_matches('`').to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn configuration_doc_matches_the_code() {
        assert_eq!(from_doc("Receiver settings"), from_code("serve"));
        let mut dashboard = from_code("dashboard");
        dashboard.retain(|k, _| !k.starts_with("STRATHON_LOG_"));
        assert_eq!(from_doc("Dashboard settings"), dashboard);
    }
}
