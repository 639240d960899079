use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Config, DashboardSettings, Database, LogSettings, Pepper, SealingKeys};

/// Strathon: the self-hosted firewall for AI agents.
///
/// Agents instrumented with the Strathon SDK send their traces here, fetch the
/// CEL policies the SDK enforces before a tool runs, and obey halts, budgets
/// and human approvals. Every setting can be given as a flag or through the
/// environment variable shown in brackets; see docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "strathon", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the receiver: OTLP/HTTP trace ingest and the REST API on
    /// STRATHON_BIND (default 0.0.0.0:4318), with /health, /ready and /metrics.
    /// Applies pending migrations first unless STRATHON_AUTO_MIGRATE=false.
    Serve(Config),
    /// Apply pending database migrations to DATABASE_URL and exit (use this as a
    /// separate deploy step when running with STRATHON_AUTO_MIGRATE=false), or
    /// show their status and history, or revert some.
    Migrate(MigrateCommand),
    /// Security keys: `strathon keys generate` prints a new audit HMAC key,
    /// Fernet encryption key and password pepper, ready for `.env`.
    Keys(KeysCommand),
    /// Serve the operator dashboard on STRATHON_DASHBOARD_BIND (default
    /// 0.0.0.0:3000). It signs users in through the receiver at
    /// STRATHON_DASHBOARD_API_URL and keeps no state of its own.
    Dashboard(DashboardCommand),
    /// Local development: create the database named in DATABASE_URL if it does
    /// not exist, seed the well-known dev API key, and serve the receiver and
    /// the dashboard together. Never use in production.
    Dev(DevCommand),
    /// Offline operator tasks that work straight on the database (DATABASE_URL
    /// and STRATHON_PASSWORD_PEPPER only; no receiver needs to be running).
    Admin(Admin),
    /// Move an installation of the Python original (schema revision 032) into
    /// the database DATABASE_URL names: a new, empty database, created if
    /// missing. The original's database is only read. Resumable and safe to
    /// run again; `strathon adopt verify` checks the result.
    Adopt(Adopt),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Adopt {
    #[command(subcommand)]
    pub step: Option<AdoptStep>,
    #[command(flatten)]
    pub source: AdoptSource,
    /// Report what would be carried, table by table, and what would not (with
    /// the reason); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub settings: AdoptSettings,
}

#[derive(Debug, clap::Args)]
pub struct AdoptSource {
    /// The original's database, e.g. postgres://strathon:…@old-host:5432/strathon.
    #[arg(long = "from", value_name = "POSTGRES_URL", required = true)]
    pub from: Option<String>,
}

/// What `adopt` reads: the target database, logging, and the keys that
/// check what it carried (the audit chain, sealed TOTP secrets). Nothing else
/// of the receiver's configuration applies to it.
#[derive(Debug, clap::Args)]
pub struct AdoptSettings {
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub log: LogSettings,
    #[command(flatten)]
    pub keys: SealingKeys,
}

#[derive(Debug, Subcommand)]
pub enum AdoptStep {
    /// Compare the original and this database table by table (row counts and
    /// checksums), verify every project's audit chain and anchors under
    /// STRATHON_AUDIT_HMAC_KEY, and check that sealed TOTP secrets open with
    /// STRATHON_ENCRYPTION_KEY. Exits 1 when anything differs.
    Verify {
        #[command(flatten)]
        source: AdoptSource,
        #[command(flatten)]
        settings: AdoptSettings,
    },
}

impl Adopt {
    pub fn settings(&self) -> &AdoptSettings {
        match &self.step {
            Some(AdoptStep::Verify { settings, .. }) => settings,
            None => &self.settings,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct MigrateCommand {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub log: LogSettings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Show the applied version, the newest this binary carries, and what is pending.
    Status,
    /// List every migration with when it was applied.
    History,
    /// Revert, newest first, every migration newer than --to. Drops what they
    /// added, data included: back up first and stop every receiver.
    Revert {
        /// The version (or migration name) to go back to; it stays applied.
        #[arg(long)]
        to: String,
        /// Confirm that the reverted migrations' data may be dropped.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct KeysCommand {
    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysAction {
    /// Print a new STRATHON_AUDIT_HMAC_KEY (64 hex), STRATHON_ENCRYPTION_KEY
    /// (Fernet) and STRATHON_PASSWORD_PEPPER (64 hex) as .env lines.
    Generate,
}

#[derive(Debug, clap::Args)]
pub struct DashboardCommand {
    #[command(flatten)]
    pub log: LogSettings,
    #[command(flatten)]
    pub dashboard: DashboardSettings,
}

#[derive(Debug, clap::Args)]
pub struct DevCommand {
    #[command(flatten)]
    pub config: Config,
    #[command(flatten)]
    pub dashboard: DashboardSettings,
}

#[derive(Debug, clap::Args)]
pub struct Admin {
    #[command(subcommand)]
    pub task: AdminTask,
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub log: LogSettings,
    #[command(flatten)]
    pub pepper: Pepper,
}

#[derive(Debug, Subcommand)]
pub enum AdminTask {
    /// Give a locked-out user a one-time password (printed once); all their
    /// sessions end and they must choose a new password at next login.
    ResetPassword {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// Also turn off their second factor (lost authenticator and codes).
        #[arg(long)]
        disable_mfa: bool,
    },
    /// List every user with their projects and roles.
    ListUsers,
    /// Create an API key for a project (the key is printed once).
    CreateKey {
        /// The project's slug.
        #[arg(long, default_value = "default")]
        project: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// A scope the key holds; repeat for several (default: `*`).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

impl Command {
    pub fn log(&self) -> Option<&LogSettings> {
        Some(match self {
            Command::Keys(_) => return None,
            Command::Serve(c) => &c.log,
            Command::Migrate(m) => &m.log,
            Command::Dev(d) => &d.config.log,
            Command::Dashboard(d) => &d.log,
            Command::Admin(a) => &a.log,
            Command::Adopt(a) => &a.settings().log,
        })
    }

    /// Checks the settings this command reads beyond what their types check.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        match self {
            Command::Serve(c) => c.validate(),
            Command::Migrate(_) => Ok(()),
            Command::Keys(_) => Ok(()),
            Command::Dev(d) => d.config.validate().and_then(|()| d.dashboard.validate()),
            Command::Dashboard(d) => d.dashboard.validate(),
            Command::Admin(_) => Ok(()),
            Command::Adopt(a) => a.settings().keys.validate(None),
        }
    }
}

/// Turns a clap parse failure into the one-line message operators see for
/// every bad setting, naming the environment variable rather than the flag.
pub fn one_line_error(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    let mut message = first.to_owned();
    for sub in Cli::command().get_subcommands() {
        for arg in sub.get_arguments() {
            if let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) {
                let flag = format!("'--{long} <");
                if let Some(start) = message.find(&flag) {
                    if let Some(len) = message[start + 1..].find('\'') {
                        message.replace_range(start..start + len + 2, &env.to_string_lossy());
                        return message;
                    }
                }
            }
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_complete() {
        Cli::command().debug_assert();
    }

    /// The settings a subcommand's `--help` lists, by environment variable.
    fn settings_of(path: &[&str]) -> Vec<String> {
        let mut cmd = Cli::command();
        for name in path {
            cmd = cmd.find_subcommand(name).expect("subcommand exists").clone();
        }
        cmd.get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn each_subcommand_lists_only_the_settings_it_reads() {
        const LOG: [&str; 2] = ["STRATHON_LOG_LEVEL", "STRATHON_LOG_FORMAT"];
        let adopt = [
            "DATABASE_URL",
            LOG[0],
            LOG[1],
            "STRATHON_AUDIT_HMAC_KEY",
            "STRATHON_ENCRYPTION_KEY",
        ];
        assert_eq!(settings_of(&["adopt"]), adopt);
        assert_eq!(settings_of(&["adopt", "verify"]), adopt);
        assert_eq!(settings_of(&["migrate"]), ["DATABASE_URL", LOG[0], LOG[1]]);
        assert_eq!(
            settings_of(&["admin"]),
            ["DATABASE_URL", LOG[0], LOG[1], "STRATHON_PASSWORD_PEPPER"]
        );
        assert!(settings_of(&["keys", "generate"]).is_empty());
        let dashboard = settings_of(&["dashboard"]);
        assert!(dashboard.iter().any(|e| e == "STRATHON_DASHBOARD_API_URL"));
        assert!(dashboard.iter().all(|e| e.starts_with("STRATHON_DASHBOARD_")
            || e == "STRATHON_COOKIE_SECURE"
            || LOG.contains(&e.as_str())));
        let serve = settings_of(&["serve"]);
        assert!(serve.iter().any(|e| e == "STRATHON_SAMPLING_RATE"));
        assert!(!serve.iter().any(|e| e.starts_with("STRATHON_DASHBOARD_")));
        // `dev` runs both, so it reads both.
        let dev = settings_of(&["dev"]);
        assert!(serve.iter().chain(&dashboard).all(|e| dev.contains(e)));
    }

    #[test]
    fn adopt_parses_its_steps() {
        let run = Cli::try_parse_from(["strathon", "adopt", "--from", "postgres://old/db", "--dry-run"]).unwrap();
        let Command::Adopt(a) = run.command else { panic!() };
        assert!(a.dry_run && a.step.is_none() && a.source.from.as_deref() == Some("postgres://old/db"));
        let verify = Cli::try_parse_from(["strathon", "adopt", "verify", "--from", "postgres://old/db"]).unwrap();
        let Command::Adopt(a) = verify.command else { panic!() };
        assert!(matches!(a.step, Some(AdoptStep::Verify { ref source, .. }) if source.from.is_some()));
        assert!(
            Cli::try_parse_from(["strathon", "adopt"]).is_err(),
            "--from is required"
        );
        assert!(
            Cli::try_parse_from(["strathon", "adopt", "verify"]).is_err(),
            "verify needs --from too"
        );
    }

    #[test]
    fn type_errors_name_the_variable() {
        let e = Cli::try_parse_from(["strathon", "serve", "--log-format", "xml"]).unwrap_err();
        let line = one_line_error(&e);
        assert!(line.contains("STRATHON_LOG_FORMAT"), "{line}");
        assert!(!line.contains('\n'));
    }
}
