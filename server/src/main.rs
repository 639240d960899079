//! The `strathon` binary.

use clap::Parser as _;
use strathon_server::cli::{self, Cli, Command};
use strathon_server::{logging, serve};

/// Exit status for configuration problems (bad flag or environment value).
const EXIT_CONFIG: i32 = 2;

#[allow(clippy::print_stdout)]
fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("strathon: invalid configuration: {}", cli::one_line_error(&e));
            std::process::exit(EXIT_CONFIG);
        }
    };
    if let Err(e) = cli.command.validate() {
        eprintln!("strathon: invalid configuration: {e}");
        std::process::exit(EXIT_CONFIG);
    }
    if let Some(log) = cli.command.log() {
        logging::init(log);
    }

    let result = actix_rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve(config) => serve::serve(config).await,
            Command::Migrate(m) => strathon_server::migrations::run(&m.database.url, m.action).await,
            Command::Keys(_) => {
                print!("{}", strathon_server::keys::generate());
                Ok(())
            }
            Command::Dev(dev) => serve::dev(dev.config, dev.dashboard).await,
            Command::Dashboard(d) => strathon_server::dashboard::serve(d.dashboard).await,
            Command::Admin(admin) => strathon_server::admin::run(admin).await,
            Command::Adopt(adopt) => strathon_server::adopt::run(adopt).await,
        }
    });
    if let Err(e) = result {
        tracing::error!(error = %format!("{e:#}"), "fatal");
        eprintln!("strathon: {e:#}");
        std::process::exit(1);
    }
}
