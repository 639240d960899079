//! Log setup: `tracing` to stderr, text or one JSON object per line.
//!
//! What is logged is chosen so secrets never appear: request lines carry the
//! route template (not the path or query), and no header is ever logged.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogLevel, LogSettings};

pub fn init(config: &LogSettings) {
    let level = match config.log_level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error | LogLevel::Critical => "error",
    };
    // Dependencies are noisy below warn and may echo connection strings.
    let filter = EnvFilter::new(format!(
        "warn,strathon={level},strathon_server={level},strathon_actors={level},strathon_schema={level}"
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

/// A database URL safe to print: the password is replaced.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
