//! `strathon-big-trace`: stores one agent run of `--spans` spans (a root,
//! steps under it, tool and model calls under each step; the same shape
//! `strathon-dashboard-bench` uses) through `POST /v1/traces` and prints its
//! trace id (hex) on stdout.

use std::io::Write as _;

use anyhow::{bail, Context as _};
use clap::Parser;
use prost::Message as _;
use strathon_bench::{big_trace, hex_id};

#[derive(Parser)]
#[command(
    name = "strathon-big-trace",
    about = "Stores one large agent run and prints its trace id"
)]
struct Args {
    /// Receiver base URL.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// A key with traces:write.
    #[arg(long, env = "STRATHON_API_KEY", default_value = strathon_bench::DEV_KEY, hide_env_values = true)]
    key: String,
    /// Spans in the trace.
    #[arg(long, default_value_t = 500)]
    spans: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.spans == 0 {
        bail!("--spans must be at least 1");
    }
    let (trace_id, request) = big_trace(args.spans);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", args.endpoint.trim_end_matches('/')))
        .bearer_auth(&args.key)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .with_context(|| format!("the receiver at {} is not reachable", args.endpoint))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("storing the {}-span trace answered {status}: {body}", args.spans);
    }
    writeln!(std::io::stdout().lock(), "{}", hex_id(&trace_id))?;
    Ok(())
}
